"""The sink camera's handler: the State's result unchanged, each change noted once."""

from __future__ import annotations

from evtop.camera.changes import ChangeTracker
from evtop.camera.metrics import EventCounter
from evtop.events.state import State
from tests.unit.camera.sinks.shots import heartbeat, received, started, uuid


def test_the_handler_returns_what_the_state_returns_and_notes_each_task_once():
    state = State()
    tracker = ChangeTracker(state, EventCounter(), limit=100)
    result = tracker.handle(received(1, 1))
    (task, created), subject = result
    assert created and subject == "received" and task is state.tasks[uuid(1)]
    tracker.handle(started(1, 2))
    tracker.handle(heartbeat(2))
    assert {key: received_at for key, (_, received_at) in tracker.take().items()} == {
        uuid(1): started(1, 2)["local_received"]
    }
    assert tracker.take() == {}


def test_past_its_limit_the_longest_unchanged_tasks_are_forgotten_and_counted():
    tracker = ChangeTracker(State(), EventCounter(), limit=3)
    for i in range(5):
        tracker.handle(received(i, i))
    tracker.handle(started(2, 6))
    assert list(tracker.take()) == [uuid(3), uuid(4), uuid(2)]
    assert tracker.lost == 2
