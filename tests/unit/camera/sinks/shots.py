"""Snapshots made the way the sink camera makes them: events into a real State through the
camera's handler, a shutter under the State's lock, the rest outside it."""

from __future__ import annotations

from typing import Any

from evtop.broker.status import ConnectionStatus
from evtop.camera.changes import ChangeTracker
from evtop.camera.metrics import EventCounter
from evtop.camera.sinks.delivery import Deliveries
from evtop.camera.sinks.snapshot import Snapshot
from evtop.camera.snapshots import SnapshotTaker
from evtop.events.health import Health
from evtop.events.state import State
from evtop.events.stats import IngestStats
from tests.support.events import HOSTILE, T0, task_event, worker_event


class Shots:
    """``feed`` events, ``shoot`` a snapshot of what changed since the last one.

    A snapshot's time is that of the last event fed, so a test knows it exactly.
    """

    def __init__(self, **state_options: Any) -> None:
        self.state = State(**state_options)
        self.stats = IngestStats()
        self.tracker = ChangeTracker(self.state, EventCounter(), limit=10_000)
        self.status = ConnectionStatus("redis://h:6379/0")
        self.status.connected()
        self.now = T0
        self.health = Health()
        self.taker = SnapshotTaker(
            self.tracker, self.stats, self.status, Deliveries([]), clock=lambda: self.now, health=self.health
        )

    def feed(self, *events: dict[str, Any]) -> Shots:
        for event in events:
            self.now = event["local_received"]
            self.stats.received += 1
            self.stats.applied += 1
            self.health.observe(event)
            self.tracker.handle(dict(event))
        return self

    def shoot(self, final: bool = False) -> Snapshot:
        taken = self.state.freeze_while(self.taker.take, self.state)
        return self.taker.finish(taken, final=final)


def uuid(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


def received(i: int, at: float, clock: int = 1, **fields: Any) -> dict[str, Any]:
    fields = {"name": "proj.add", "args": "(1, 2)", "kwargs": "{}", **fields}
    return task_event("task-received", uuid(i), T0 + at, clock, **fields)


def started(i: int, at: float, clock: int = 2) -> dict[str, Any]:
    return task_event("task-started", uuid(i), T0 + at, clock)


def succeeded(i: int, at: float, clock: int = 3) -> dict[str, Any]:
    return task_event("task-succeeded", uuid(i), T0 + at, clock, result="3", runtime=0.25)


def failed(i: int, at: float, clock: int = 3) -> dict[str, Any]:
    return task_event(
        "task-failed", uuid(i), T0 + at, clock, exception="ValueError('boom')", traceback="Traceback:\n  boom"
    )


def retried(i: int, at: float, clock: int = 3) -> dict[str, Any]:
    return task_event("task-retried", uuid(i), T0 + at, clock, exception="Retry in 1s")


def heartbeat(at: float, hostname: str = "celery@h", clock: int = 1, **fields: Any) -> dict[str, Any]:
    return worker_event(
        "worker-heartbeat", hostname, T0 + at, clock, **{"active": 1, "processed": 2, **fields}
    )


#: Bigger than any cap: a sink stores it cut, with a mark saying how much was cut.
HUGE = "huge value " * 20_000


def hostile_snapshot() -> tuple[Snapshot, list[tuple[str, str]]]:
    """One snapshot of a task per hostile string (in its name, worker, args, result,
    exception and traceback), and ``(uuid, text)`` for each."""
    shots = Shots()
    cases = []
    for i, text in enumerate([*HOSTILE, HUGE]):
        task = f"hostile-{i}"
        short = text[:200]
        shots.feed(
            task_event("task-received", task, T0 + i, 1, name=short, args=text, kwargs=text, hostname=short),
            task_event(
                "task-failed",
                task,
                T0 + i + 0.5,
                2,
                exception=text,
                traceback=text,
                result=text,
                hostname=short,
            ),
        )
        cases.append((task, text))
    return shots.shoot(), cases
