"""A worker node as events describe it: fields, heartbeats and liveness.

``heartbeats`` keeps celery's exact contents (for cameras that read it), but liveness is
decided from when evtop *received* the worker's last event, never from the sender's
clock: a worker whose clock runs two hours fast is still alive. Listening live, the State
also hands each worker a monotonic clock, stamped when an event is applied, and liveness
follows it, so a step of the wall clock (NTP, a suspended laptop) cannot flip a worker.
A replay or a restored State has only the recorded times and keeps celery's rule.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from evtop.events.state.fields import FieldSetter, reserved_names

__all__ = [
    "DRIFT_WARNED",
    "HEARTBEAT_DRIFT_MAX",
    "HEARTBEAT_EXPIRE_WINDOW",
    "SKEW_CHECK",
    "WORKER_FIELDS",
    "Worker",
    "heartbeat_expires",
    "warn_drift",
]

logger = logging.getLogger(__name__)

#: Percent of a worker's heartbeat frequency after which it counts as offline.
HEARTBEAT_EXPIRE_WINDOW = 200
#: Seconds of sender/receiver clock difference worth one warning per worker.
HEARTBEAT_DRIFT_MAX = 16
#: int() is off by less than 1 either way, so a drift over the maximum needs a skew over
#: the maximum minus 1: skews within this skip the int() conversions.
SKEW_CHECK = HEARTBEAT_DRIFT_MAX - 1
#: How many hostnames the drift warning remembers (celery memoizes 1000 too).
_DRIFT_MEMORY = 1000

W_DRIFT = "Substantial drift from %s may mean clocks are out of sync. Current drift is %s seconds."

#: Hostnames already warned about (oldest forgotten first).
DRIFT_WARNED: OrderedDict[str | None, None] = OrderedDict()
_drift_lock = threading.Lock()


def warn_drift(hostname: str | None, drift: int) -> None:
    """Warn once per hostname (bounded memory), as celery does."""
    with _drift_lock:
        if hostname in DRIFT_WARNED:
            return
        DRIFT_WARNED[hostname] = None
        if len(DRIFT_WARNED) > _DRIFT_MEMORY:
            DRIFT_WARNED.popitem(last=False)
    logger.warning(W_DRIFT, hostname, drift)


def heartbeat_expires(
    timestamp: float, freq: float = 60, expire_window: float = HEARTBEAT_EXPIRE_WINDOW
) -> float:
    """Time at which a worker last seen at ``timestamp`` stops counting as alive."""
    return timestamp + freq * (expire_window / 1e2)


class Worker:
    """One worker node, identified by hostname."""

    heartbeat_max = 4
    expire_window = HEARTBEAT_EXPIRE_WINDOW

    _fields: ClassVar[tuple[str, ...]] = tuple(
        ("hostname pid freq heartbeats clock active processed loadavg sw_ident sw_ver sw_sys").split()
    )
    __slots__ = tuple(
        (
            "__dict__ __weakref__ _heard _hostname _last_seen _monotonic _now _origin _pid active "
            "clock freq "
            "heartbeats loadavg local_received processed sw_ident sw_sys sw_ver timestamp type "
            "utcoffset"
        ).split()
    )

    def __init__(
        self,
        hostname: str | None = None,
        pid: int | None = None,
        freq: float = 60,
        heartbeats: list[float] | None = None,
        clock: int = 0,
        active: int | None = None,
        processed: int | None = None,
        loadavg: list[float] | None = None,
        sw_ident: str | None = None,
        sw_ver: str | None = None,
        sw_sys: str | None = None,
    ) -> None:
        self._hostname = hostname
        self._pid = pid
        self._origin = f"{hostname}.{pid}"
        self.freq = freq
        self.heartbeats: list[float] = [] if heartbeats is None else heartbeats
        self.clock = clock or 0
        self.active = active
        self.processed = processed
        self.loadavg = loadavg
        self.sw_ident = sw_ident
        self.sw_ver = sw_ver
        self.sw_sys = sw_sys
        self._last_seen: float | None = self.heartbeats[-1] if self.heartbeats else None
        self._now: Callable[[], float] = time.time
        #: The monotonic clock liveness follows when listening live (None: celery's rule)...
        self._monotonic: Callable[[], float] | None = None
        #: ... and its reading when the last event that proved life was applied.
        self._heard: float | None = None

    # hostname and pid feed the task-heap origin, so keep the cached id in step.
    @property
    def hostname(self) -> str | None:
        return self._hostname

    @hostname.setter
    def hostname(self, value: str | None) -> None:
        self._hostname = value
        self._origin = f"{value}.{self._pid}"

    @property
    def pid(self) -> int | None:
        return self._pid

    @pid.setter
    def pid(self, value: int | None) -> None:
        self._pid = value
        self._origin = f"{self._hostname}.{value}"

    def event(
        self,
        type_: str | None,
        timestamp: float | None = None,
        local_received: float | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        """Apply a ``worker-<type_>`` event: copy its fields, then record the heartbeat."""
        if fields:
            WORKER_FIELDS.apply(self, fields)
        if type_ == "offline":
            self.heartbeats[:] = []
            self._last_seen = self._heard = None
            return
        if not local_received or not timestamp:
            return
        self._heartbeat(local_received, timestamp)
        last = self._last_seen
        if last is None or local_received > last:
            self._last_seen = local_received
        if self._monotonic is not None:
            self._heard = self._monotonic()

    def _heartbeat(self, value: float, other: float) -> None:
        """Insert ``value`` into the heartbeat list exactly as celery does (max 4, sorted)."""
        skew = value - other
        if (skew > SKEW_CHECK or skew < -SKEW_CHECK) and self._hostname not in DRIFT_WARNED:
            drift = abs(int(value) - int(other))
            if drift > HEARTBEAT_DRIFT_MAX:
                warn_drift(self._hostname, drift)
        heartbeats = self.heartbeats
        count = len(heartbeats)
        if count > self.heartbeat_max - 1:
            heartbeats.pop(0)
        if count and value > heartbeats[-1]:
            heartbeats.append(value)
        else:
            bisect.insort(heartbeats, value)

    def update(self, f: Mapping[str, Any], **kw: Any) -> None:
        WORKER_FIELDS.apply(self, dict(f, **kw) if kw else f)

    @property
    def status_string(self) -> str:
        return "ONLINE" if self.alive else "OFFLINE"

    @property
    def heartbeat_expires(self) -> float:
        last = self._last_seen if self._last_seen is not None else self.heartbeats[-1]
        return heartbeat_expires(last, self.freq, self.expire_window)

    @property
    def alive(self) -> bool:
        if self._last_seen is None:
            return False
        heard, monotonic = self._heard, self._monotonic
        if heard is not None and monotonic is not None:
            return monotonic() - heard < self.freq * (self.expire_window / 1e2)
        return self._now() < self.heartbeat_expires

    @property
    def last_seen(self) -> float | None:
        """Local time the worker's last event arrived (``None`` after worker-offline)."""
        return self._last_seen

    @property
    def id(self) -> str:
        return self._origin

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Worker):
            return self._hostname == other._hostname
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._hostname)

    def __repr__(self) -> str:
        return f"<Worker: {self._hostname} ({self.status_string} clock:{self.clock})"


_WORKER_SETTABLE = (frozenset(Worker.__slots__) | {"hostname", "pid"}) - {
    "__dict__",
    "__weakref__",
    "_heard",
    "_hostname",
    "_last_seen",
    "_monotonic",
    "_now",
    "_origin",
    "_pid",
    "heartbeats",
}
#: Copies worker event fields; ``heartbeats`` and the cached identity are the Worker's own.
WORKER_FIELDS = FieldSetter(_WORKER_SETTABLE, reserved_names(Worker, _WORKER_SETTABLE))
