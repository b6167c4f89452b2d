"""The time zone evtop shows times in (``--tz``): local time, UTC, or an ``Area/City`` zone.

People read clocks in their own zone, so the TUI shows local time unless told otherwise,
and names the zone on screen so a time is never ambiguous. Zones come from the system's
tz database (:mod:`zoneinfo`); a name it does not know is refused up front, with the
reason, instead of silently showing UTC.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Where a system keeps the name of its zone: a link into the tz database.
LOCALTIME = "/etc/localtime"


@dataclass(frozen=True)
class Zone:
    """A time zone and the name shown for it."""

    #: ``UTC``, ``Europe/Paris``; for local time the system's zone name when it can be
    #: found, else its abbreviation (``CET``).
    name: str
    #: ``None``: the system's local time, as the C library applies it (``TZ`` included).
    tzinfo: tzinfo | None

    def at(self, seconds: float) -> datetime:
        """The aware date and time of a Unix timestamp in this zone."""
        if self.tzinfo is None:
            return datetime.fromtimestamp(seconds, timezone.utc).astimezone()
        return datetime.fromtimestamp(seconds, self.tzinfo)


UTC = Zone("UTC", timezone.utc)


def local_zone(environ: Mapping[str, str] = os.environ, localtime: str = LOCALTIME) -> Zone:
    """The system's local time, named as precisely as the system says."""
    return Zone(_local_name(environ, localtime), None)


def _local_name(environ: Mapping[str, str], localtime: str) -> str:
    setting = environ.get("TZ", "").removeprefix(":").removeprefix("/usr/share/zoneinfo/")
    if setting:  # a zone name the C library reads like zoneinfo does; else (a POSIX rule
        # such as CET-1CEST, or a name it does not know) its abbreviation says what applies
        return setting if _zone_info(setting) is not None else _abbreviation()
    try:
        target = os.path.realpath(localtime)
    except OSError:
        target = ""
    _, found, name = target.partition("/zoneinfo/")
    if found and name:
        return name.removeprefix("posix/").removeprefix("right/")
    return _abbreviation()


def _zone_info(name: str) -> ZoneInfo | None:
    """The tz database's zone of that name, or None (unknown, malformed, a directory)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _abbreviation() -> str:
    return time.tzname[time.localtime().tm_isdst > 0] or "local"


def parse_zone(text: str, environ: Mapping[str, str] = os.environ) -> Zone:
    """``local``, ``UTC`` or a tz database name; ValueError with a one-line reason."""
    name = text.strip()
    if name.lower() == "local":
        return local_zone(environ)
    if name.upper() in ("UTC", "Z"):
        return UTC
    info = _zone_info(name)
    if info is None:
        missing = _zone_info("Etc/UTC") is None  # a slim container image: no zone at all
        raise ValueError(
            f"{text!r} is not a time zone here: give local, UTC or an Area/City name"
            " of the tz database, e.g. Europe/Paris"
            + ("; this system has none: install tzdata (apt or pip)" if missing else "")
        )
    return Zone(name, info)
