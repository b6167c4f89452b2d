"""The one validation boundary every event crosses before anything else sees it.

An event is either returned in normalised form or dropped with a reason from
:mod:`evtop.events.stats`. After this point consumers may rely on: ``type`` is a
well-formed ``group-subject`` string; task events have string ``uuid`` and ``hostname``;
worker events have a string ``hostname``; ``timestamp`` is a finite positive float;
``clock`` is a non-negative int; ``local_received`` is set; numeric fields the State and
the UI compute with are numbers; no string exceeds its size cap; field names are plain
identifiers. Receiver semantics follow celery's ``EventReceiver.event_from_message``:
a ``task-sent`` event's clock is rewritten from the receiver's own Lamport clock (the
client's clock means nothing to the workers' order), and a missing clock is filled in
from that clock moving forward.

Deliberate difference: the ``utcoffset`` "adjustment" celery applies to ``timestamp`` is
not applied. Event timestamps are already UTC epoch seconds; the adjustment only adds
an error of whole hours when sender and monitor sit in different zones (celery issues
#2482, #8207). Same-zone streams come out identical to celery's.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any, Final

from evtop.events.stats import (
    BAD_FIELD,
    MISSING_FIELD,
    NOT_AN_OBJECT,
    UNKNOWN_TYPE,
    IngestStats,
)

#: Timestamps outside (0, MAX_TIMESTAMP) are nonsense (MAX is year 2514) and would overflow
#: datetime conversions downstream.
MAX_TIMESTAMP: Final = float(2**34)
MAX_CLOCK: Final = 2**63 - 1
#: Identity fields: longer values are rejected, because truncating an id could merge two.
MAX_ID_LENGTH: Final = 255
MAX_KEYS: Final = 128
#: Size caps (characters) for string fields; longer values are cut and marked.
DEFAULT_CAP: Final = 8 * 1024
FIELD_CAPS: Final[dict[str, int]] = {
    "traceback": 64 * 1024,
    "exception": 16 * 1024,
    "args": 16 * 1024,
    "kwargs": 16 * 1024,
    "result": 16 * 1024,
    "name": MAX_ID_LENGTH,
    "hostname": MAX_ID_LENGTH,
}
#: Containers nested deeper than this are replaced (a 900-deep list breaks repr()).
MAX_DEPTH: Final = 16
_SHORT: Final = 256  # strings up to this length never need a cap check

_TYPE_RE: Final = re.compile(r"[A-Za-z0-9_.]{1,32}-[A-Za-z0-9_.-]{1,64}")
_KEY_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_TASK: Final = "task"
_WORKER: Final = "worker"
_KNOWN_TYPES: Final[dict[str, tuple[str, str]]] = {
    t: (t, t.partition("-")[0])
    for t in (
        "task-sent",
        "task-received",
        "task-started",
        "task-succeeded",
        "task-failed",
        "task-retried",
        "task-revoked",
        "task-rejected",
        "task-cancelled",
        "worker-online",
        "worker-heartbeat",
        "worker-offline",
    )
}
_INTERN_LIMIT: Final = 4096
#: Field names known to be plain identifiers, at most this many.
_GOOD_KEYS_LIMIT: Final = 1024


_CUT_MARK: Final = re.compile(r"…\[\+[1-9][0-9]{0,17} chars\]")


def truncate_marked(text: str, cap: int) -> str:
    """Cut ``text`` to ``cap`` characters and say how much was cut.

    A text this already cut to ``cap`` (a field of a replayed recording) is returned as
    is, so its mark keeps the size the live event had rather than the mark's length.
    """
    if _CUT_MARK.fullmatch(text, cap):
        return text
    return f"{text[:cap]}…[+{len(text) - cap} chars]"


def _number(value: Any) -> float | None:
    """A finite float from a JSON number or numeric string, else None (bools excluded)."""
    kind = type(value)
    if kind is float or kind is int:
        result = float(value)
    elif kind is str:
        try:
            result = float(value)
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def _integer(value: Any) -> int | None:
    if type(value) is int:
        return value
    number = _number(value)
    if number is None or not number.is_integer():
        return None
    return int(number)


def _timestamp(value: Any) -> float | None:
    number = _number(value)
    if number is None and type(value) is str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        number = moment.timestamp()
    if number is None or not 0 < number < MAX_TIMESTAMP:
        return None
    return number


def _too_big(value: Any, budget: int, depth: int = 0) -> int:
    """Remaining budget after walking ``value``; negative means over the cap or too deep."""
    if depth > MAX_DEPTH:
        return -1
    kind = type(value)
    if kind is str:
        return budget - len(value)
    if kind is list or kind is tuple:
        for item in value:
            budget = _too_big(item, budget - 1, depth + 1)
            if budget < 0:
                return budget
        return budget
    if kind is dict:
        for key, item in value.items():
            budget = _too_big(item, budget - 1 - len(str(key)), depth + 1)
            if budget < 0:
                return budget
        return budget
    return budget - 1


class _Lamport:
    """The receiver's logical clock (celery's ``app.clock``); one thread uses it."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def adjust(self, other: int) -> int:
        self.value = max(self.value, other) + 1
        return self.value

    def forward(self) -> int:
        self.value += 1
        return self.value


class Normalizer:
    """Validates and normalises decoded event dicts in place, counting every outcome.

    ``replay=True`` keeps the ``clock`` and ``local_received`` a recording carries
    instead of assigning live ones, so a replayed stream rebuilds the recorded state.

    This runs for every event, so the common case (a well-formed event of a known type)
    is straight-line code; anything unusual falls through to the slower helpers.
    """

    def __init__(self, stats: IngestStats, *, replay: bool = False) -> None:
        self.stats = stats
        self.replay = replay
        self.clock = _Lamport()
        self._interned: dict[str, str] = {}
        self._good_keys: set[str] = set()

    def events(self, body: Any, local_received: float, *, small: bool = False) -> list[dict[str, Any]]:
        """Normalised events from one decoded message body (an object or a list of them).

        ``small`` promises the encoded message was shorter than every size cap and had few
        brackets, so no value can be oversized or deeply nested and the per-value scan is
        skipped.
        """
        stats = self.stats
        if type(body) is dict:
            items: list[Any] = [body]
        elif type(body) is list:
            items = body
        else:
            stats.received += 1
            stats.drop(NOT_AN_OBJECT)
            return []
        stats.received += len(items)
        accepted = []
        for event in items:
            reason = self.normalize(event, local_received, small) if type(event) is dict else NOT_AN_OBJECT
            if reason is None:
                accepted.append(event)
            else:
                stats.drop(reason)
        return accepted

    def _intern(self, text: str) -> str:
        table = self._interned
        found = table.get(text)
        if found is None:
            if len(table) >= _INTERN_LIMIT:
                table.clear()
            table[text] = found = text
        return found

    def normalize(self, event: dict[str, Any], local_received: float, small: bool) -> str | None:
        """Normalise one event dict in place; the drop reason, or None when it may be applied.
        The caller counts it (:meth:`events` does)."""
        type_ = event.get("type")
        known = _KNOWN_TYPES.get(type_) if type(type_) is str else None
        if known is not None:
            type_, group = known
        elif type(type_) is str and _TYPE_RE.fullmatch(type_):
            type_ = self._intern(type_)
            group = type_.partition("-")[0]
        else:
            return UNKNOWN_TYPE
        event["type"] = type_

        if len(event) > MAX_KEYS or not self._good_keys.issuperset(event):
            self._check_keys(event)

        hostname = event.get("hostname")
        if type(hostname) is str and 0 < len(hostname) <= MAX_ID_LENGTH:
            found = self._interned.get(hostname)
            event["hostname"] = found if found is not None else self._intern(hostname)
        else:
            reason = self._odd_hostname(event, hostname, group)
            if reason is not None:
                return reason
        if group == _TASK:
            reason = self._task_fields(event)
            if reason is not None:
                return reason
        elif group == _WORKER:
            self._worker_fields(event)

        stamp = event.get("timestamp")
        if type(stamp) is not float or not 0.0 < stamp < MAX_TIMESTAMP:
            if stamp is None:
                stamp = local_received
            else:
                stamp = _timestamp(stamp)
                if stamp is None:
                    return BAD_FIELD
            event["timestamp"] = stamp

        clock = self.clock
        raw_clock = event.get("clock")
        if type_ == "task-sent" and not self.replay:
            # Clients never sync their clocks; celery places them just before "now".
            sent_clock = (clock.value or 1) - 1
            clock.adjust(sent_clock)
            event["clock"] = sent_clock
        elif type(raw_clock) is int and 0 <= raw_clock <= MAX_CLOCK:
            current = clock.value
            clock.value = (raw_clock if raw_clock > current else current) + 1
        elif raw_clock is None:
            event["clock"] = clock.forward()
        else:
            value = _integer(raw_clock)
            if value is None or not 0 <= value <= MAX_CLOCK:
                return BAD_FIELD
            event["clock"] = value
            clock.adjust(value)

        if not self.replay or type(event.get("local_received")) is not float:
            event["local_received"] = local_received
        offset = event.get("utcoffset")
        if offset is not None and (type(offset) not in (int, float) or not -24 <= offset <= 24):
            del event["utcoffset"]
            self.stats.fields_removed += 1
        if not small:
            self._cap_values(event)
        return None

    def _check_keys(self, event: dict[str, Any]) -> None:
        """Remove fields whose names are not plain identifiers, and those past :data:`MAX_KEYS`;
        remember the good names, so that the next event with only those skips this."""
        known = self._good_keys
        removed = 0
        for index, key in enumerate(tuple(event)):
            if index < MAX_KEYS and type(key) is str and _KEY_RE.fullmatch(key):
                if len(known) < _GOOD_KEYS_LIMIT:
                    known.add(key)
            else:
                del event[key]
                removed += 1
        self.stats.fields_removed += removed

    def _odd_hostname(self, event: dict[str, Any], hostname: Any, group: str) -> str | None:
        """A hostname that is missing, too long or not text (identity of workers)."""
        if group != _TASK and group != _WORKER:  # optional elsewhere, but text if present
            if hostname is not None and type(hostname) is not str:
                event["hostname"] = str(hostname) if type(hostname) in (int, float) else None
            return None
        if hostname is None:
            return MISSING_FIELD
        if type(hostname) in (int, float):
            event["hostname"] = self._intern(str(hostname))
            return None
        return BAD_FIELD

    def _task_fields(self, event: dict[str, Any]) -> str | None:
        """Identity and the typed fields of a task event; None when it may be applied."""
        uuid = event.get("uuid")
        if type(uuid) is not str:
            if uuid is None:
                return MISSING_FIELD
            if type(uuid) is not int:
                return BAD_FIELD
            uuid = event["uuid"] = str(uuid)
        if not uuid or len(uuid) > MAX_ID_LENGTH:
            return BAD_FIELD
        removed = 0
        root_id = event.get("root_id")
        if root_id is not None:
            if root_id == uuid:
                event["root_id"] = uuid  # share one string object per task
            elif type(root_id) is not str or len(root_id) > MAX_ID_LENGTH:
                del event["root_id"]  # a lookup key: must be hashable, bounded text
                removed += 1
        parent_id = event.get("parent_id")
        if parent_id is not None and (type(parent_id) is not str or len(parent_id) > MAX_ID_LENGTH):
            del event["parent_id"]
            removed += 1
        name = event.get("name")
        if name is not None:
            if type(name) is str:
                if len(name) > MAX_ID_LENGTH:
                    event["name"] = truncate_marked(name, MAX_ID_LENGTH)
                else:
                    known_name = self._interned.get(name)
                    event["name"] = known_name if known_name is not None else self._intern(name)
            elif type(name) in (int, float):  # names are index keys and get sorted: text only
                event["name"] = str(name)
            else:
                del event["name"]
                removed += 1
        retries = event.get("retries")
        if retries is not None and not (type(retries) is int and retries >= 0):
            removed += _fix_count(event, "retries")
        pid = event.get("pid")
        if pid is not None and not (type(pid) is int and pid >= 0):
            removed += _fix_count(event, "pid")
        runtime = event.get("runtime")
        if runtime is not None and type(runtime) is not float:
            number = _number(runtime)
            if number is None or number < 0:
                del event["runtime"]
                removed += 1
            else:
                event["runtime"] = number
        if removed:
            self.stats.fields_removed += removed
        return None

    def _worker_fields(self, event: dict[str, Any]) -> None:
        """Remove numeric worker fields the State or UI computes with when unusable."""
        removed = 0
        freq = event.get("freq")
        if freq is not None and not (type(freq) is float and 0 < freq < MAX_TIMESTAMP):
            number = _number(freq)
            if number is None or not 0 < number < MAX_TIMESTAMP:
                del event["freq"]
                removed += 1
            else:
                event["freq"] = number
        for key in ("active", "processed", "pid"):
            value = event.get(key)
            if value is not None and not (type(value) is int and value >= 0):
                removed += _fix_count(event, key)
        loadavg = event.get("loadavg")
        if loadavg is not None and not (
            type(loadavg) is list and len(loadavg) <= 3 and all(_number(x) is not None for x in loadavg)
        ):
            del event["loadavg"]
            removed += 1
        if removed:
            self.stats.fields_removed += removed

    def _cap_values(self, event: dict[str, Any]) -> None:
        for key, value in event.items():
            kind = type(value)
            if kind is str:
                if len(value) > _SHORT:
                    cap = FIELD_CAPS.get(key, DEFAULT_CAP)
                    if len(value) > cap:
                        capped = truncate_marked(value, cap)
                        if capped is not value:
                            event[key] = capped
                            self.stats.fields_truncated += 1
            elif (kind is list or kind is dict) and _too_big(value, DEFAULT_CAP) < 0:
                event[key] = f"<{kind.__name__} too large or too deep: removed>"
                self.stats.fields_truncated += 1


def _fix_count(event: dict[str, Any], key: str) -> int:
    """Coerce a count to a non-negative int, or remove it; returns fields removed."""
    number = _integer(event[key])
    if number is None or number < 0:
        del event[key]
        return 1
    event[key] = number
    return 0


def is_small(raw: bytes, brackets: int) -> bool:
    """True when no value in this encoded message (with ``brackets`` ``[`` and ``{``)
    can exceed a cap or nest deeply."""
    return len(raw) < DEFAULT_CAP and brackets < MAX_DEPTH * 4
