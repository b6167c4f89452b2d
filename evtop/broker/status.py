"""Connection state and outage history, observable by every mode, and the retry policy.

The UI shows "reconnecting in 4 s", the recorder writes outage markers and the dump
reports on stderr; all read this one object, which the receiver thread updates.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class Phase(str, Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Outage:
    """A window in which evtop was not subscribed, so events may have been missed."""

    started: float
    ended: float | None
    reason: str


@dataclass(frozen=True)
class StatusSnapshot:
    phase: Phase
    url: str
    attempt: int
    retry_at: float | None
    last_error: str | None
    connected_since: float | None
    last_message_at: float | None
    reconnects: int
    outages: tuple[Outage, ...]

    def retry_in(self, now: float) -> float | None:
        return None if self.retry_at is None else max(0.0, self.retry_at - now)


Listener = Callable[[StatusSnapshot], None]


class EndedOutages:
    """Status listener calling ``on_outage`` once for each outage, when it has ended."""

    def __init__(self, on_outage: Callable[[Outage], object]) -> None:
        self._on_outage = on_outage
        self._last: float | None = None

    def __call__(self, snapshot: StatusSnapshot) -> None:
        for outage in snapshot.outages:
            if outage.ended is None or (self._last is not None and outage.started <= self._last):
                continue
            self._last = outage.started
            self._on_outage(outage)


class ConnectionStatus:
    """Thread-safe holder of the receiver's connection state; listeners hear transitions."""

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time, max_outages: int = 100) -> None:
        self._url = url
        self._clock = clock
        self._lock = threading.Lock()
        self._phase = Phase.CONNECTING
        self._attempt = 0
        self._retry_at: float | None = None
        self._error: str | None = None
        self._since: float | None = None
        self._ever_connected = False
        self._reconnects = 0
        self._outages: deque[Outage] = deque(maxlen=max_outages)
        self._open_outage: Outage | None = None
        self._listeners: list[Listener] = []
        #: Written by the consumer thread on every message (a plain float, no lock needed).
        self.last_message_at: float | None = None

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def _changed(self) -> None:
        snapshot = self.snapshot()
        for listener in list(self._listeners):
            listener(snapshot)

    def connecting(self) -> None:
        with self._lock:
            self._attempt += 1
            self._retry_at = None
        self._changed()

    def connected(self) -> None:
        now = self._clock()
        with self._lock:
            if self._ever_connected:
                self._reconnects += 1
            self._ever_connected = True
            self._phase = Phase.CONNECTED
            self._attempt = 0
            self._retry_at = None
            self._error = None
            self._since = now
            if self._open_outage is not None:
                self._outages.append(Outage(self._open_outage.started, now, self._open_outage.reason))
                self._open_outage = None
        self._changed()

    def lost(self, error: str, retry_in: float) -> None:
        """The connection failed or dropped; a retry is scheduled in ``retry_in`` seconds."""
        now = self._clock()
        with self._lock:
            if self._phase is Phase.CONNECTED:
                self._open_outage = Outage(now, None, error)
            self._phase = Phase.RECONNECTING if self._ever_connected else Phase.CONNECTING
            self._error = error
            self._since = None
            self._retry_at = now + retry_in
        self._changed()

    def stopped(self) -> None:
        now = self._clock()
        with self._lock:
            self._phase = Phase.STOPPED
            self._retry_at = None
            if self._open_outage is not None:
                self._outages.append(Outage(self._open_outage.started, now, self._open_outage.reason))
                self._open_outage = None
        self._changed()

    def now(self) -> float:
        return self._clock()

    def connected_for(self) -> float:
        with self._lock:
            return 0.0 if self._since is None else self._clock() - self._since

    def snapshot(self) -> StatusSnapshot:
        with self._lock:
            outages = tuple(self._outages)
            if self._open_outage is not None:
                outages += (self._open_outage,)
            return StatusSnapshot(
                phase=self._phase,
                url=self._url,
                attempt=self._attempt,
                retry_at=self._retry_at,
                last_error=self._error,
                connected_since=self._since,
                last_message_at=self.last_message_at,
                reconnects=self._reconnects,
                outages=outages,
            )


class Backoff:
    """Capped exponential backoff with jitter, reset once a connection proved healthy.

    Jitter spreads reconnects of many monitors after a broker restart; the reset keeps a
    connection that dropped after hours of health from waiting the capped delay.
    """

    def __init__(
        self,
        *,
        base: float = 1.0,
        factor: float = 2.0,
        cap: float = 30.0,
        jitter: float = 0.5,
        healthy_after: float = 30.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.base = base
        self.factor = factor
        self.cap = cap
        self.jitter = jitter
        self.healthy_after = healthy_after
        self._rng = rng
        self.attempt = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.base * self.factor**self.attempt)
        self.attempt += 1
        return delay * (1.0 - self.jitter) + delay * self.jitter * self._rng()

    def reset(self) -> None:
        self.attempt = 0
