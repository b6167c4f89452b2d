"""Counting every event for exporters: totals only grow, label values are safe and bounded."""

from __future__ import annotations

from evtop.camera.metrics import MAX_LABEL_LENGTH, EventCounter
from evtop.camera.sinks.snapshot import OTHER
from tests.support.events import T0, task_event
from tests.unit.camera.sinks.shots import Shots, received, started, succeeded, uuid


def test_every_event_counts_even_when_the_state_refuses_it():
    shots = Shots().feed(received(1, 1), succeeded(1, 3), started(1, 2))  # started arrives late
    events = shots.shoot().counters.events
    assert events == {
        ("task-received", "proj.add", "celery@h", ""): 1,
        ("task-succeeded", "proj.add", "celery@h", ""): 1,
        ("task-started", "proj.add", "celery@h", ""): 1,
    }
    assert shots.state.tasks[uuid(1)].state == "SUCCESS"


def test_totals_never_go_back_from_one_snapshot_to_the_next():
    shots = Shots()
    before = shots.feed(received(1, 1)).shoot().counters.events
    shots.state.clear()  # even when the State forgets
    after = shots.feed(received(2, 2)).shoot().counters.events
    assert (
        after[("task-received", "proj.add", "celery@h", "")]
        == 2
        > before[("task-received", "proj.add", "celery@h", "")]
    )


def test_hostile_label_values_are_sanitized_and_cut():
    counter = EventCounter()
    name = "\x1b]0;pwned\x07" + "n" * 500
    label = counter.names(name)
    assert label.startswith("␛]0;pwned␇nnn") and label.endswith("n…") and len(label) == MAX_LABEL_LENGTH


def test_past_the_series_cap_new_label_sets_fold_together_and_are_counted():
    shots = Shots()
    shots.tracker.counter.max_series = 2
    shots.feed(
        *(task_event("task-received", f"t{i}", T0, 1, name=f"n{i}", hostname=f"h{i}") for i in range(4))
    )
    counters = shots.shoot().counters
    assert counters.events[("task-received", OTHER, OTHER, OTHER)] == 2
    assert counters.folded["series"] == 2
