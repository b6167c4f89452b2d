"""Celery rate strings (``"10"``, ``"10/s"``, ``"100/m"``, ``"1000/h"``), validated.

Celery's own parser accepts ``0`` and negative numbers and raises ``KeyError`` on a bad
unit deep inside a worker or a camera; evtop checks the text before anything uses it.
"""

from __future__ import annotations

import math
import re
from typing import Final

UNITS: Final = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE_RE: Final = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?:/\s*([A-Za-z]+)\s*)?")
HINT: Final = "expected a positive number with an optional unit: N, N/s, N/m or N/h (e.g. 10/m)"


def parse_rate(text: str, *, allow_zero: bool = False) -> float:
    """Tasks per second for ``text``; raises ValueError with a one-line reason.

    ``allow_zero`` admits ``0`` and ``""``, which in Celery mean "no limit": callers that
    accept them must make the user ask for that explicitly.
    """
    if allow_zero and text.strip() in ("", "0"):
        return 0.0
    match = _RATE_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid rate {text!r}: {HINT}")
    number, unit = float(match.group(1)), (match.group(2) or "s")
    if unit not in UNITS:
        raise ValueError(f"invalid rate {text!r}: unknown unit {unit!r} (use s, m or h)")
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"invalid rate {text!r}: {HINT}")
    return number / UNITS[unit]
