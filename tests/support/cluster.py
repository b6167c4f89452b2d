"""A small cluster the view and TUI tests share: two workers and six tasks in every state.

Built with the one event builder (:mod:`tests.support.events`); events are heard the
moment they are sent, so times on screen are exactly the times given here.
"""

from __future__ import annotations

from typing import Any

from evtop.events.state import State
from tests.support import events as support

T0 = support.T0


def task(
    type_: str, uuid: str, t: float, clock: int, hostname: str = "celery@w1", **fields: Any
) -> dict[str, Any]:
    return support.task_event(type_, uuid, t, clock, hostname=hostname, sent=t, pid=1, **fields)


def worker(type_: str, hostname: str, t: float, **fields: Any) -> dict[str, Any]:
    """``worker-<type_>``; the builder's worker info (``processed``, ``loadavg``...) unless given."""
    return support.worker_event(f"worker-{type_}", hostname, t, sent=t, pid=9, **fields)


def cluster_events(now=T0 + 100):
    """Two workers (one gone quiet) and six tasks of three types in every state."""
    events = [worker("online", "celery@w1", now - 1), worker("online", "celery@w2", now - 100)]
    clock = 0
    for i, (name, outcome, runtime) in enumerate(
        [
            ("proj.add", "succeeded", 0.5),
            ("proj.add", "succeeded", 1.5),
            ("proj.add", "failed", None),
            ("proj.mul", "succeeded", 2.0),
            ("proj.slow", "started", None),
            ("proj.add", "received", None),
        ]
    ):
        uuid = f"uuid-{i}"
        t = T0 + i
        events.append(
            task("task-received", uuid, t, clock := clock + 1, name=name, args=f"({i},)", kwargs="{}")
        )
        if outcome in ("succeeded", "failed", "started"):
            events.append(task("task-started", uuid, t + 0.1, clock := clock + 1))
        if outcome == "succeeded":
            events.append(
                task("task-succeeded", uuid, t + 0.2, clock := clock + 1, result="7", runtime=runtime)
            )
        if outcome == "failed":
            events.append(
                task(
                    "task-failed",
                    uuid,
                    t + 0.2,
                    clock := clock + 1,
                    exception="KeyError('k')",
                    traceback="Traceback (most recent call last):\n  x\nKeyError: 'k'",
                )
            )
    return events


def cluster(now=T0 + 100):
    state = State(clock=lambda: now)
    for event in cluster_events(now):
        state.event(event)
    return state
