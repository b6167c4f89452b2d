"""Celery's own event receiver and ``State`` running in a thread: the oracle evtop is compared with.

Usage::

    with CeleryOracle(broker_url) as oracle:          # returns once it is subscribed
        tid = send_task(broker_url, "evtop_test.add", (1, 2))
        task = oracle.wait_task(tid, "SUCCESS", timeout=15)
        assert oracle.types_for(tid)[-1] == "task-succeeded"

Readiness: after celery's consumer is ready (``on_consume_ready``) the oracle publishes probe events
of type :data:`PROBE_TYPE` on the event exchange until it receives one back.  On Redis the pub/sub
``PSUBSCRIBE`` is only issued by the first ``drain_events`` call, *after* ``on_consume_ready``, so
waiting for a probe round-trip is the only reliable "subscribed" signal.  Probe events are neither
recorded in :attr:`CeleryOracle.events` nor fed to :attr:`CeleryOracle.state` (other consumers on the
same broker do see them: a custom event type ``oracle-probe``).
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from celery import Celery
from celery.events.state import State, Task

from tests.support.celery_app import make_app

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["PROBE_TYPE", "CeleryOracle", "OracleError"]

PROBE_TYPE = "oracle-probe"

T = TypeVar("T")


class OracleError(RuntimeError):
    """The oracle could not subscribe, or its receiver thread died."""


class CeleryOracle:
    """Run ``app.events.Receiver(conn, handlers={'*': ...})``'s capture loop in a daemon thread.

    Attributes:
        state: celery's ``State`` fed with every received event (read it under ``lock`` or from a
            ``wait_for`` predicate).
        events: copies of every received event dict, in arrival order, taken *before* ``State``
            sees them (after the receiver's clock/timestamp processing, as a handler gets them).
        errors: exceptions the receiver thread hit (connection losses); with ``reconnect=True`` the
            thread reconnects after them.
    """

    def __init__(
        self,
        broker_url: str,
        *,
        wakeup: bool = True,
        ready_timeout: float = 20.0,
        reconnect: bool = True,
        app: Celery | None = None,
    ) -> None:
        self.broker_url = broker_url
        self.app = app or make_app(broker_url)
        self.wakeup = wakeup
        self.ready_timeout = ready_timeout
        self.reconnect = reconnect
        self.state: State = self.app.events.State()
        self.events: list[dict[str, Any]] = []
        self.errors: list[BaseException] = []
        self.lock = threading.RLock()
        self.receiver: Any = None
        self.connections = 0  # how many times the receiver got to "consume ready"
        self._consume_ready = threading.Event()
        self._stop = threading.Event()
        self._probes_seen: set[str] = set()
        self._thread: threading.Thread | None = None

    # receiver thread ----------------------------------------------------------------------------
    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == PROBE_TYPE:
            with self.lock:
                self._probes_seen.add(str(event.get("probe_id")))
            return
        snapshot = copy.deepcopy(event)
        with self.lock:
            self.events.append(snapshot)
            self.state.event(event)

    def _on_consume_ready(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def on_consume_ready(connection: Any, channel: Any, consumers: Any, **kwargs: Any) -> None:
            original(connection, channel, consumers, **kwargs)
            self.connections += 1
            self._consume_ready.set()

        return on_consume_ready

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self.app.connection_for_read() as conn:
                    conn.ensure_connection(max_retries=0)
                    receiver = self.app.events.Receiver(conn, handlers={"*": self._on_event})
                    receiver.connect_max_retries = 0  # we retry ourselves, promptly, checking _stop
                    receiver.on_consume_ready = self._on_consume_ready(receiver.on_consume_ready)
                    self.receiver = receiver
                    if self._stop.is_set():
                        break
                    # == receiver.capture(limit=None, timeout=None, wakeup=...), but polling
                    # should_stop every 0.1 s instead of every 1 s so stop() is quick
                    for _ in receiver.consume(
                        limit=None, timeout=None, safety_interval=0.1, wakeup=self.wakeup
                    ):
                        pass
            except Exception as exc:
                with self.lock:
                    self.errors.append(exc)
                if not self.reconnect:
                    return
                self._stop.wait(0.2)

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> Self:
        if self._thread is not None:
            return self
        name = f"celery-oracle {self.broker_url}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        try:
            self._wait_subscribed()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_subscribed(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while not self._consume_ready.wait(0.05):
            self._raise_if_dead()
            if time.monotonic() >= deadline:
                raise OracleError(
                    f"oracle consumer not ready after {self.ready_timeout}s: {self.errors[-3:]}"
                )
        with self.app.connection_for_write() as conn:
            dispatcher = self.app.events.Dispatcher(conn, enabled=True)
            try:
                while True:
                    probe_id = uuid.uuid4().hex
                    dispatcher.send(PROBE_TYPE, probe_id=probe_id)
                    until = min(deadline, time.monotonic() + 0.25)
                    while time.monotonic() < until:
                        with self.lock:
                            if self._probes_seen:
                                return
                        self._raise_if_dead()
                        time.sleep(0.01)
                    if time.monotonic() >= deadline:
                        raise OracleError(
                            f"oracle did not receive its own probe event within {self.ready_timeout}s"
                        )
            finally:
                dispatcher.close()

    def _raise_if_dead(self) -> None:
        if self._thread is not None and not self._thread.is_alive() and not self._stop.is_set():
            raise OracleError(f"oracle receiver thread died: {self.errors[-3:]!r}")

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        receiver = self.receiver
        if receiver is not None:
            receiver.should_stop = True
        if self._thread is not None:
            self._thread.join(timeout)  # the consume loop checks should_stop every 0.1 s

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # queries -----------------------------------------------------------------------------------
    def wait_for(
        self,
        predicate: Callable[[State], T],
        timeout: float = 15.0,
        interval: float = 0.05,
        message: str = "",
    ) -> T:
        """Poll ``predicate(state)`` (under the lock) until it is truthy; return its value.

        Raises ``TimeoutError`` (with the last events received) after ``timeout`` seconds, or
        ``OracleError`` if the receiver thread died without ``reconnect``.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                value = predicate(self.state)
            if value:
                return value
            self._raise_if_dead()
            if time.monotonic() >= deadline:
                with self.lock:
                    recent = [(e.get("type"), e.get("uuid") or e.get("hostname")) for e in self.events[-15:]]
                raise TimeoutError(
                    f"oracle: condition not met within {timeout}s {message}\n"
                    f"{len(self.events)} events; last: {recent}\nerrors: {self.errors[-3:]!r}"
                )
            time.sleep(interval)

    def task(self, task_id: str) -> Task | None:
        with self.lock:
            return self.state.tasks.get(task_id)

    def wait_task(self, task_id: str, states: str | Iterable[str], timeout: float = 15.0) -> Task:
        """Wait until the oracle's task ``task_id`` is in one of ``states``; return it."""
        wanted = {states} if isinstance(states, str) else set(states)

        def done(state: State) -> Task | None:
            task = state.tasks.get(task_id)
            return task if task is not None and task.state in wanted else None

        return self.wait_for(done, timeout, message=f"(task {task_id} in {sorted(wanted)})")

    def events_for(self, task_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if e.get("uuid") == task_id]

    def types_for(self, task_id: str) -> list[str]:
        return [str(e.get("type")) for e in self.events_for(task_id)]

    def event_types(self) -> list[str]:
        with self.lock:
            return [str(e.get("type")) for e in self.events]
