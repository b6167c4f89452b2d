"""How numbers and times read in a table cell: short, fixed-width friendly, never raising.

Event fields are hostile input: a timestamp may be NaN, negative or huge, a runtime a
string. Every formatter here returns text for anything it is given.
"""

from __future__ import annotations

import math

from evtop.text.sanitize import sanitize
from evtop.zones import UTC, Zone

#: Shown for a value that is missing or unusable.
NONE = "-"


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def clock_text(timestamp: object, zone: Zone = UTC) -> str:
    """``HH:MM:SS`` in ``zone`` (the header names it)."""
    seconds = _number(timestamp)
    if seconds is None:
        return NONE
    try:
        return zone.at(seconds).strftime("%H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return NONE


def datetime_text(timestamp: object, zone: Zone = UTC) -> str:
    """``YYYY-MM-DD HH:MM:SS.ffffff CET`` for detail panes, where precision matters: the
    zone's abbreviation at that moment (summer or winter time), or its UTC offset."""
    seconds = _number(timestamp)
    if seconds is None:
        return NONE
    try:
        whole = math.floor(seconds)
        micros = min(round((seconds - whole) * 1_000_000), 999_999)
        moment = zone.at(whole)
        return (
            moment.strftime("%Y-%m-%d %H:%M:%S") + f".{micros:06d} {moment.tzname() or moment.strftime('%z')}"
        )
    except (OverflowError, OSError, ValueError):
        return NONE


def duration_text(seconds: object) -> str:
    """``0.012s``, ``12.3s``, ``4m05s``, ``2h03m``, ``3d04h``: about 6 columns at most."""
    value = _number(seconds)
    if value is None or value < 0:
        return NONE
    if value < 10:
        return f"{value:.3f}s"
    if value < 60:
        return f"{value:.1f}s"
    whole = int(value)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def count_text(value: object) -> str:
    number = _number(value)
    return NONE if number is None else str(int(number))


def load_text(loadavg: object) -> str:
    """A worker's load averages as ``0.52 0.40 0.31``."""
    if not isinstance(loadavg, (list, tuple)) or not loadavg:
        return NONE
    parts = [_number(x) for x in loadavg[:3]]
    return " ".join(NONE if x is None else f"{x:.2f}" for x in parts)


def text(value: object) -> str:
    """Any field as one sanitized line; ``-`` for nothing."""
    if value is None or value == "":
        return NONE
    return sanitize(value)


def progress(fields: dict[str, object]) -> float | None:
    """``current / total`` of a task's custom events (Flower's PROGRESS case), clamped to
    0..1; None unless both are numbers and ``total`` is positive."""
    current, total = _number(fields.get("current")), _number(fields.get("total"))
    if current is None or total is None or total <= 0:
        return None
    return min(max(current / total, 0.0), 1.0)


def percent_text(fraction: float | None) -> str:
    """``40%``; ``-`` when unknown. Floored: 99.9% done is not 100%."""
    return NONE if fraction is None else f"{math.floor(fraction * 100)}%"
