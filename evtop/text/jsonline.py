"""Strict one-line JSON for everything evtop prints or writes as JSON.

Broker data can hold non-finite floats (stdlib json decodes a publisher's ``NaN``
literal), which JSON cannot express: written raw they make the line invalid for ``jq``
and every other strict reader. They become the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"``. Output is ``ensure_ascii``, hence pure ASCII: hostile strings appear
escaped (``\\u001b``) and lone surrogates survive exactly.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

_encode = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode
_NON_FINITE: Final = {math.inf: "Infinity", -math.inf: "-Infinity"}


def _finite(value: Any) -> Any:
    """``value`` with non-finite floats replaced by their JSON-ish names (rare path)."""
    if type(value) is float and not math.isfinite(value):
        return _NON_FINITE.get(value, "NaN")
    if type(value) is list or type(value) is tuple:
        return [_finite(item) for item in value]
    if type(value) is dict:
        return {key: _finite(item) for key, item in value.items()}
    return value


def dumps(value: Any) -> str:
    """``value`` as one line of ASCII JSON (no newline), non-finite floats as strings."""
    try:
        return _encode(value)
    except ValueError:  # a NaN or infinity somewhere: allow_nan=False refused it
        return _encode(_finite(value))
