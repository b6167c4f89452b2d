"""Getting snapshots into sinks: one thread per sink, at least once, whatever the sink does.

Each sink gets a :class:`Delivery`: its spool and a thread that opens the sink, writes
the spooled snapshots in order and retries with capped exponential backoff when
anything fails. The camera only ever appends to spools, so a sink that hangs or fails
never holds up another sink, the camera's timer or event ingest. A sink that starts
failing is logged once as down (with the error), and once as up again when a write
succeeds; nothing in between, however long the outage.

:class:`Deliveries` is the fan-out the camera talks to. At the end,
:meth:`Deliveries.finish` waits a bounded time for every spool to drain and reports each
sink that still holds snapshots, so the final snapshot is delivered or its loss is said.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from evtop.broker.status import Backoff
from evtop.camera.sinks.base import Sink
from evtop.camera.sinks.snapshot import SinkHealth, Snapshot
from evtop.camera.sinks.spool import Spool
from evtop.errors import describe_error
from evtop.logs import RateLimitedLogger

logger = logging.getLogger(__name__)

#: Seconds :meth:`Deliveries.start` waits for each sink's first attempt to open.
OPEN_WAIT = 10.0
#: While finishing, a failed sink is retried at least this often (seconds).
FINISH_RETRY = 1.0


class Delivery:
    """One sink, its spool and its thread."""

    def __init__(self, sink: Sink, backoff: Backoff | None = None) -> None:
        self.sink = sink
        self.spool = Spool()
        self.backoff = backoff if backoff is not None else Backoff(base=0.5, cap=30.0)
        self._clock = time.monotonic
        self._cond = threading.Condition()
        #: A cleanup asked for and not done yet: forget what is older than this.
        self._cleanup: float | None = None
        #: Once set, the thread leaves when the spool is empty or this time has passed.
        self._deadline: float | None = None
        self._retry_at = 0.0
        self._opened = False
        #: The snapshot being written, out of the spool meanwhile.
        self._in_flight: Snapshot | None = None
        #: When the current outage began (monotonic), or None while the sink is up.
        self._down_since: float | None = None
        self.last_error: str | None = None
        #: Set once the first attempt to open the sink is over, whatever its outcome.
        self.first_attempt = threading.Event()
        self._merged_said = 0
        self._lost_said = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # The thread is made here, not with the delivery: a detached camera makes its
        # sinks in the foreground (a bad URL fails there) and forks before it starts them,
        # and Python 3.13.0-3.13.3 cannot start a thread made before a fork (gh-134381).
        self._thread = threading.Thread(target=self._run, name=f"evtop-sink-{self.sink.name}", daemon=True)
        self._thread.start()

    def put(self, snapshot: Snapshot) -> None:
        """Queue ``snapshot``; never blocks on the sink."""
        self.spool.put(snapshot)
        self._report_spool_losses()
        with self._cond:
            self._cond.notify_all()

    def request_cleanup(self, before: float) -> None:
        with self._cond:
            self._cleanup = before
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        """Snapshots not delivered yet, the one being written included."""
        with self._cond:
            return len(self.spool) + (self._in_flight is not None)

    @property
    def pending_rows(self) -> int:
        """Task changes not delivered yet, the snapshot being written included."""
        with self._cond:
            flying = self._in_flight
            return self.spool.rows + (len(flying.tasks) if flying is not None else 0)

    def health(self) -> SinkHealth:
        with self._cond:
            up = self._down_since is None
        return SinkHealth(self.sink.name, up, self.pending, self.spool.merged, self.spool.lost)

    def stop(self, deadline: float) -> bool:
        """Deliver what is spooled until ``deadline`` (monotonic), then stop the thread.

        True when everything was delivered. A failing sink is retried at least every
        :data:`FINISH_RETRY` seconds meanwhile; a write that hangs past the deadline is
        abandoned (the thread is a daemon) and its snapshot counts as not delivered.
        """
        with self._cond:
            self._deadline = deadline
            self._retry_at = min(self._retry_at, self._clock() + FINISH_RETRY)
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - self._clock()) + 0.1)
        return self.pending == 0

    # -- the delivery thread -------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._open()
            self.first_attempt.set()
            while self._next():
                if not self._opened:
                    self._open()
                elif self._cleanup is not None:
                    self._clean()
                else:
                    self._write()
        finally:
            self.first_attempt.set()
            self._close()

    def _next(self) -> bool:
        """Wait until there is work and no retry is pending; False when it is time to stop."""
        with self._cond:
            while True:
                idle = len(self.spool) == 0 and self._cleanup is None
                now = self._clock()
                if self._deadline is not None and (idle or now >= self._deadline):
                    return False
                if not idle and now >= self._retry_at:
                    return True
                until = [t for t in (self._deadline, None if idle else self._retry_at) if t is not None]
                self._cond.wait(min(until) - now if until else None)

    def _attempt(self, action: Callable[[], object], what: str) -> bool:
        try:
            action()
        except Exception as exc:
            self._failed(exc, what)
            return False
        return True

    def _open(self) -> None:
        self._opened = self._attempt(self.sink.open, "cannot be opened")

    def _clean(self) -> None:
        before = self._cleanup
        assert before is not None
        if self._attempt(lambda: self.sink.cleanup(before), "cleanup failed"):
            with self._cond:
                if self._cleanup == before:
                    self._cleanup = None

    def _write(self) -> None:
        with self._cond:
            snapshot = self._in_flight = self.spool.take()
        if snapshot is None:
            return
        try:
            self.sink.write(snapshot)
        except Exception as exc:
            with self._cond:
                self.spool.give_back(snapshot)
                self._in_flight = None
            self._failed(exc, "write failed")
            return
        with self._cond:
            self._in_flight = None
        self._succeeded()

    def _failed(self, exc: Exception, what: str) -> None:
        self.last_error = describe_error(exc)
        logger.debug("sink %s: %s", self.sink.name, what, exc_info=True)
        self._close()
        delay = self.backoff.next_delay()
        with self._cond:
            now = self._clock()
            self._retry_at = now + (delay if self._deadline is None else min(delay, FINISH_RETRY))
            first = self._down_since is None
            if first:
                self._down_since = now
        if first:
            logger.warning(
                "sink %s is down: %s (%s); keeping its snapshots and retrying",
                self.sink.name,
                what,
                self.last_error,
            )

    def _succeeded(self) -> None:
        self.backoff.reset()
        with self._cond:
            since, self._down_since = self._down_since, None
            self._retry_at = 0.0
        if since is not None:
            self.last_error = None
            logger.warning(
                "sink %s is up again after %.1f s; %d snapshots still to deliver",
                self.sink.name,
                self._clock() - since,
                self.pending,
            )

    def _close(self) -> None:
        self._opened = False
        try:
            self.sink.close()
        except Exception:
            logger.debug("sink %s: close failed", self.sink.name, exc_info=True)

    def _report_spool_losses(self) -> None:
        """Say once that the spool started merging, and (rate-limited) that changes were lost."""
        merged, lost = self.spool.merged, self.spool.lost
        if merged and not self._merged_said:
            logger.warning(
                "sink %s: spool full (%d snapshots or %d task rows); merging pending snapshots, "
                "the latest state of each task wins",
                self.sink.name,
                self.spool.max_snapshots,
                self.spool.max_tasks,
            )
        if lost > self._lost_said:
            _losses.warning(
                self.sink.name,
                "sink %s: spool over %d task rows even merged; %d task changes lost so far",
                self.sink.name,
                self.spool.max_tasks,
                lost,
            )
        self._merged_said, self._lost_said = merged, lost


_losses = RateLimitedLogger(logger)


class Deliveries:
    """Every sink's delivery: what the sink camera fans snapshots out to."""

    def __init__(self, deliveries: Iterable[Delivery]) -> None:
        self.deliveries = list(deliveries)

    @classmethod
    def of(cls, sinks: Iterable[Sink]) -> Deliveries:
        return cls(Delivery(sink) for sink in sinks)

    def start(self, wait: float = OPEN_WAIT) -> None:
        """Start every thread and wait (bounded) for each sink's first attempt to open,
        so that a sink that is down says so before evtop reports itself running."""
        for delivery in self.deliveries:
            delivery.start()
        deadline = time.monotonic() + wait
        for delivery in self.deliveries:
            delivery.first_attempt.wait(max(0.0, deadline - time.monotonic()))

    def put(self, snapshot: Snapshot) -> None:
        for delivery in self.deliveries:
            delivery.put(snapshot)

    def cleanup(self, before: float) -> None:
        for delivery in self.deliveries:
            delivery.request_cleanup(before)

    def health(self) -> tuple[SinkHealth, ...]:
        return tuple(delivery.health() for delivery in self.deliveries)

    def finish(self, timeout: float) -> list[str]:
        """Deliver what is spooled, each sink for at most ``timeout`` s in all; the
        problems left (one line per sink that kept snapshots or lost task changes)."""
        deadline = time.monotonic() + timeout
        done = [delivery.stop(deadline) for delivery in self.deliveries]
        problems = []
        for delivery, delivered in zip(self.deliveries, done, strict=True):
            name, lost = delivery.sink.name, delivery.spool.lost
            if not delivered:
                why = f"; last error: {delivery.last_error}" if delivery.last_error else ""
                problems.append(
                    f"sink {name}: {delivery.pending} snapshots ({delivery.pending_rows} task changes) not "
                    f"delivered within {timeout:g} s, the final one included{why}"
                )
            if lost:
                problems.append(f"sink {name}: {lost} task changes were lost while its spool was full")
        return problems
