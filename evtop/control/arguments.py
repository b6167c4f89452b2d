"""Validators for control-command values, typed in at the CLI or passed by the TUI.

Each accepts text (or an already typed value), returns exactly what Celery's client would
put on the wire, and raises ValueError with a one-line reason. Checking here matters
because the workers check little: ``1/x`` becomes ``{'error': "KeyError('x')"}``,
``-5/m`` is accepted, a lower-case signal name is a TypeError, and ``0`` silently
removes a rate limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Final

from evtop.rates import parse_rate

#: Signals a task's pool process can usefully be sent, by the names Celery accepts
#: (upper case; ``SIG`` is added before sending). HUP..TERM are the usual suspects.
SIGNALS: Final = ("HUP", "INT", "QUIT", "ABRT", "KILL", "USR1", "USR2", "TERM")
#: Numbers are accepted only where POSIX fixes them: USR1/USR2 differ between Linux and
#: macOS, and the worker may run on a different system than evtop.
_SIGNAL_NUMBERS: Final = {"1": "HUP", "2": "INT", "3": "QUIT", "6": "ABRT", "9": "KILL", "15": "TERM"}
_NAME_RE: Final = re.compile(r"[^\s\x00-\x1f\x7f]+")
#: Upper bound for time limits and timeouts: a day is already far past any sane value.
MAX_SECONDS: Final = 86400.0
NONE_WORDS: Final = frozenset({"none", "off"})
#: ``""``, ``0``, ``0.0/m``...: rates that mean "no limit" to a worker.
_ZERO_RATE_RE: Final = re.compile(r"\s*(?:0*\.?0*)\s*(?:/.*)?")


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, not {type(value).__name__}")
    return value.strip()


def name(value: object, what: str = "name") -> str:
    """A task, queue, exchange or node name: non-empty, no spaces or control characters."""
    text = _text(value, what)
    if not text:
        raise ValueError(f"the {what} is empty")
    if not _NAME_RE.fullmatch(text):
        raise ValueError(f"the {what} {text!r} contains spaces or control characters")
    return text


def task_name(value: object) -> str:
    return name(value, "task name")


def queue_name(value: object) -> str:
    return name(value, "queue name")


def task_ids(values: object) -> list[str]:
    """One or more task ids, in the order given, each once."""
    items = [values] if isinstance(values, str) else values
    if not isinstance(items, Iterable):
        raise ValueError("task ids must be text or a list of text")
    ids = [name(item, "task id") for item in items]
    if not ids:
        raise ValueError("give at least one task id")
    return list(dict.fromkeys(ids))


def names(values: object, what: str) -> list[str]:
    """A list of names; comma-separated text is split (``w1@h,w2@h``)."""
    items = [values] if isinstance(values, str) else values
    if not isinstance(items, Iterable):
        raise ValueError(f"{what} must be text or a list of text")
    found: list[str] = []
    for item in items:
        found += [name(part, what) for part in _text(item, what).split(",")]
    if not found:
        raise ValueError(f"give at least one {what}")
    return list(dict.fromkeys(found))


def signal_name(value: object) -> str:
    """``KILL``, ``sigkill``, ``SIGKILL`` or ``9`` → ``"SIGKILL"`` (what workers accept)."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else _text(value, "signal")
    key = text.upper()
    key = _SIGNAL_NUMBERS.get(key, key.removeprefix("SIG"))
    if key not in SIGNALS:
        raise ValueError(
            f"unknown signal {text!r}: use one of {', '.join(SIGNALS)} "
            f"(SIG prefix optional) or the numbers {', '.join(_SIGNAL_NUMBERS)}"
        )
    return f"SIG{key}"


def count(value: object, what: str = "count", minimum: int = 1) -> int:
    """A whole number ≥ ``minimum`` (process counts: a positive int by default)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{what} must be a whole number")
    try:
        number = int(value.strip()) if isinstance(value, str) else value
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a whole number") from None
    if number < minimum:
        raise ValueError(f"{what} must be at least {minimum}, not {number}")
    return number


def seconds(value: object, what: str = "seconds") -> float:
    """A positive, finite number of seconds (at most a day)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{what} must be a number of seconds")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a number of seconds") from None
    if not math.isfinite(number) or not 0 < number <= MAX_SECONDS:
        raise ValueError(f"{what} must be more than 0 and at most {MAX_SECONDS:g} seconds, not {value!r}")
    return number


def seconds_or_none(value: object, what: str = "seconds") -> float | None:
    """Seconds, or ``none``/``off`` for "no limit" (sent as null, as Celery does)."""
    if isinstance(value, str) and value.strip().lower() in NONE_WORDS:
        return None
    return seconds(value, what)


def rate(value: object) -> str:
    """A positive rate (``10``, ``10/s``, ``100/m``, ``1000/h``) in the spelling workers parse.

    Spaces are dropped (``10 / m`` would make the worker look up the unit ``' m'``).
    ``0`` and the empty string, which remove a limit, are refused here: removing is a
    separate, explicit request.
    """
    text = _text(value, "rate")
    try:
        parse_rate(text)
    except ValueError as exc:
        hint = "; to remove the limit, ask for that explicitly (--remove)" if is_zero_rate(text) else ""
        raise ValueError(f"{exc}{hint}") from None
    return "".join(text.split())


def is_zero_rate(text: str) -> bool:
    """``0``, ``0/m``, ``.0/s``: what Celery takes as "no limit" (the TUI confirms a removal)."""
    return _ZERO_RATE_RE.fullmatch(text) is not None


def flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, not {value!r}")
    return value
