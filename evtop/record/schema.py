"""The one versioned JSON-lines schema of ``--dump --json``, ``--record`` and ``--replay``.

Every line is one JSON object with ``"v": 1`` and a ``"kind"``:

``event``
    ``{"v": 1, "kind": "event", "received": <local_received>, "event": {...}}``: the event
    as it left evtop's validation boundary (:mod:`evtop.events.normalize`), including
    ``local_received`` and ``clock``.
``outage``
    ``{"v": 1, "kind": "outage", "started": t, "ended": t, "reason": "..."}``: evtop was not
    subscribed between ``started`` and ``ended`` (``null`` if unknown), so events published
    meanwhile were missed. Written once the outage is over. ``reason`` has broker secrets
    masked and control characters made visible. Recordings and ``--dump --json`` both carry it.
``session``
    ``{"v": 1, "kind": "session", "started": t, "source": "<masked url>", "evtop": "0.1.0"}``:
    a recording session began (recordings only). Sessions appended to one file stay
    distinguishable, and replay neither waits out nor hides the gap between them.

Times are epoch seconds. Lines are ``ensure_ascii`` JSON, hence pure ASCII: hostile
strings appear escaped (``\\u001b``), lone surrogates survive exactly, and the file is
safe to ``cat`` on a terminal. Non-finite floats, which JSON cannot express but a
publisher's ``NaN`` literal can produce, are written as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` so that every line stays valid JSON for ``jq``.

Readers ignore fields they do not know and skip (and count) kinds they do not know, so a
later version can add both without breaking this one; ``v`` above :data:`VERSION` means
the meaning of known fields may have changed, and is refused.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from evtop.text.jsonline import dumps

_fast_loads: Callable[[bytes | str], Any] | None
try:  # optional accelerator (``pip install evtop[fast]``); stdlib json remains the arbiter
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - exercised when orjson is not installed
    _fast_loads = None

VERSION: Final = 1
EVENT: Final = "event"
OUTAGE: Final = "outage"
SESSION: Final = "session"


def event_line(event: Mapping[str, Any]) -> str:
    return dumps({"v": VERSION, "kind": EVENT, "received": event.get("local_received"), "event": event})


def outage_line(started: float, ended: float | None, reason: str) -> str:
    return dumps({"v": VERSION, "kind": OUTAGE, "started": started, "ended": ended, "reason": reason})


def session_line(started: float, source: str, version: str) -> str:
    return dumps({"v": VERSION, "kind": SESSION, "started": started, "source": source, "evtop": version})


@dataclass(slots=True)
class EventRecord:
    """Not frozen, unlike the rarer records: a frozen dataclass sets each field through
    ``object.__setattr__``, a measurable share of a ``--speed max`` replay."""

    received: float
    event: dict[str, Any]


@dataclass(frozen=True)
class OutageRecord:
    started: float
    ended: float | None
    reason: str


@dataclass(frozen=True)
class SessionRecord:
    started: float
    source: str
    evtop: str


Record = EventRecord | OutageRecord | SessionRecord


class BadRecord(ValueError):
    """A line that is not a usable record; ``str(exc)`` is a short category for counting."""


class NewerSchema(BadRecord):
    """A record written by a newer evtop (``v`` > :data:`VERSION`)."""

    def __init__(self, version: int) -> None:
        super().__init__(f"written by a newer evtop (schema v{version})")
        self.version = version


def _time(value: Any) -> float | None:
    if type(value) is float or type(value) is int:
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def parse(line: bytes | str, *, exact: bool = False) -> Record:
    """The record on one line, or :class:`BadRecord` saying why it is unusable.

    ``exact``: :func:`~evtop.broker.decode.survey` found that orjson reads ``line``
    exactly as stdlib json does, so orjson (several times faster) may, when installed.
    """
    try:
        obj = _loads(line, exact)
    except (ValueError, RecursionError):
        raise BadRecord("not JSON") from None
    version = obj.get("v") if type(obj) is dict else None
    if type(version) is not int or version < 1:
        raise BadRecord("not an evtop record")
    if version > VERSION:
        raise NewerSchema(version)
    kind = obj.get("kind")
    if kind == EVENT:
        received, event = _time(obj.get("received")), obj.get("event")
        if received is not None and type(event) is dict:
            return EventRecord(received, event)
    elif kind == OUTAGE:
        started, ended, reason = _time(obj.get("started")), obj.get("ended"), obj.get("reason")
        if started is not None and (ended is None or _time(ended) is not None):
            return OutageRecord(started, _time(ended), reason if type(reason) is str else "")
    elif kind == SESSION:
        started = _time(obj.get("started"))
        if started is not None:
            source, version = obj.get("source"), obj.get("evtop")
            return SessionRecord(
                started, source if type(source) is str else "", version if type(version) is str else ""
            )
    else:
        raise BadRecord("unknown kind")
    raise BadRecord(f"incomplete {kind} record")


def _loads(line: bytes | str, exact: bool) -> Any:
    if exact and _fast_loads is not None:
        try:
            return _fast_loads(line)
        except ValueError:
            pass  # NaN, lone surrogates, ...: stdlib json decides, as without orjson
    return json.loads(line)
