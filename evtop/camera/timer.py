"""The repeating timer cameras run on when they bring none of their own.

It offers what celery's ``Polaroid`` asks of a timer, ``call_repeatedly(secs, fun)``
returning an entry that can be called (the final flush) and cancelled, so celery's own
cameras run on it unchanged. What it does differently from celery's timer, and why:

- every call of every entry, the final flush included, runs on the one timer thread, one
  at a time: a camera's shutter and cleanup never overlap, and a camera that keeps a
  thread-bound resource (a database connection) keeps seeing the same thread;
- calling an entry always runs it (celery's flush is skipped when the last run was less
  than one period ago, which can lose the last events before the process exits);
- due times are fixed multiples of the period from the start (monotonic clock), so slow
  runs do not make the schedule drift; runs missed meanwhile are merged into one late
  run and counted in :attr:`Entry.skipped`, never queued;
- a run that raises is logged (rate-limited) and the schedule goes on.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from evtop.errors import describe_error
from evtop.logs import RateLimitedLogger

logger = logging.getLogger(__name__)

#: Seconds between two log lines about the same failing entry.
ERROR_INTERVAL = 10.0


def describe_callable(fun: Callable[..., Any]) -> str:
    """``Class.method`` for a bound method (the camera's class, not where it is defined)."""
    owner = getattr(fun, "__self__", None)
    name = getattr(fun, "__name__", None) or repr(fun)
    return f"{type(owner).__name__}.{name}" if owner is not None else name


class Entry:
    """One repeating call: call it to run it now (on the timer thread), cancel it to stop."""

    def __init__(
        self,
        timer: Timer,
        secs: float,
        fun: Callable[..., Any],
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.timer = timer
        self.secs = secs
        self.fun = fun
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.name = describe_callable(fun)
        #: Scheduled runs that happened.
        self.runs = 0
        #: Due times that passed while an earlier run was still going (merged, not run).
        self.skipped = 0
        self.cancelled = False

    def run(self) -> Any:
        return self.fun(*self.args, **self.kwargs)

    def __call__(self) -> Any:
        """Run now and return the result; an exception is re-raised to the caller."""
        return self.timer.run_now(self)

    def cancel(self) -> None:
        self.timer.cancel(self)

    def __repr__(self) -> str:
        return f"<Entry: {self.name} every {self.secs} s{' (cancelled)' if self.cancelled else ''}>"


class Schedule:
    """Due times of the entries; pure (the caller passes the clock), so tests control time."""

    def __init__(self) -> None:
        self._due: dict[Entry, float] = {}

    def __len__(self) -> int:
        return len(self._due)

    def add(self, entry: Entry, now: float) -> None:
        """First due one period from ``now``, as celery's timer does."""
        self._due[entry] = now + entry.secs

    def remove(self, entry: Entry) -> None:
        self._due.pop(entry, None)

    def next_due(self) -> float | None:
        return min(self._due.values(), default=None)

    def pop_due(self, now: float) -> Entry | None:
        """The entry most overdue at ``now``, advanced to its next due time after ``now``."""
        if not self._due:
            return None
        entry, due = min(self._due.items(), key=lambda item: item[1])
        if due > now:
            return None
        periods = math.floor((now - due) / entry.secs) + 1
        entry.skipped += periods - 1
        self._due[entry] = due + periods * entry.secs
        return entry


class _Request:
    """A run asked for from another thread, and how it ended."""

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class Timer:
    """One daemon thread running :class:`Entry` calls; started by the first entry."""

    def __init__(self, name: str = "evtop-camera-timer", error_interval: float = ERROR_INTERVAL) -> None:
        self.name = name
        self._clock = time.monotonic
        self._cond = threading.Condition()
        self._schedule = Schedule()
        self._requests: deque[_Request] = deque()
        #: The thread serving runs; None once it has left (checked under ``_cond``).
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()
        self._errors = RateLimitedLogger(logger, error_interval)

    def call_repeatedly(
        self,
        secs: float,
        fun: Callable[..., Any],
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        priority: int = 0,
    ) -> Entry:
        """Run ``fun`` every ``secs`` seconds, the first time one period from now.

        ``priority`` is accepted for celery's signature and ignored.
        """
        if not (math.isfinite(secs) and secs > 0):
            raise ValueError(f"a timer period must be a positive number of seconds, not {secs!r}")
        entry = Entry(self, float(secs), fun, args, kwargs)
        with self._cond:
            self._schedule.add(entry, self._clock())
            if self._thread is None or self._halt.is_set():
                self._halt = threading.Event()
                self._thread = threading.Thread(
                    target=self._loop, args=(self._halt,), name=self.name, daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
        return entry

    def cancel(self, entry: Entry) -> None:
        with self._cond:
            entry.cancelled = True
            self._schedule.remove(entry)
            self._cond.notify_all()

    def run_now(self, entry: Entry) -> Any:
        """Run ``entry`` on the timer thread and wait for it (inline if there is none)."""
        with self._cond:
            inline = self._thread is None or self._thread is threading.current_thread()
            if not inline:
                request = _Request(entry)
                self._requests.append(request)
                self._cond.notify_all()
        if inline:
            return entry.run()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the thread once its current run and the runs asked for are done."""
        with self._cond:
            thread = self._thread
            self._halt.set()
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        with self._cond:
            return self._thread is not None

    def _next(self, halt: threading.Event) -> _Request | Entry | None:
        """Wait for the next thing to run; None when halted (asked-for runs are served first)."""
        with self._cond:
            while True:
                if self._requests:
                    return self._requests.popleft()
                if halt.is_set():
                    if self._thread is threading.current_thread():
                        self._thread = None
                    return None
                now = self._clock()
                entry = self._schedule.pop_due(now)
                if entry is not None:
                    entry.runs += 1
                    return entry
                due = self._schedule.next_due()
                self._cond.wait(None if due is None else due - now)

    def _loop(self, halt: threading.Event) -> None:
        try:
            while (job := self._next(halt)) is not None:
                if isinstance(job, _Request):
                    self._serve(job)
                else:
                    self._run_scheduled(job)
        finally:  # also when a run raised SystemExit: later runs happen inline
            with self._cond:
                if self._thread is threading.current_thread():
                    self._thread = None
                if self._thread is None:  # no successor will serve what is left
                    for request in self._requests:
                        request.error = RuntimeError("the camera timer stopped")
                        request.done.set()
                    self._requests.clear()

    def _serve(self, request: _Request) -> None:
        try:
            request.result = request.entry.run()
        except BaseException as exc:  # handed to the caller, who decides
            request.error = exc
        finally:
            request.done.set()

    def _run_scheduled(self, entry: Entry) -> None:
        try:
            entry.run()
        except Exception as exc:
            self._errors.warning(
                entry.name,
                "%s raised %s; it runs again in %s s",
                entry.name,
                describe_error(exc),
                f"{entry.secs:g}",
                exc_info=True,
            )
