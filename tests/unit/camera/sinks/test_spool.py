"""The spool: in order, bounded, merged (latest state of a task wins) rather than dropped."""

from __future__ import annotations

import pytest

from evtop.camera.sinks.spool import Spool
from tests.unit.camera.sinks.shots import Shots, received, started, succeeded, uuid


def states(snapshot) -> dict[str, str]:
    return {row.uuid: row.state for row in snapshot.tasks}


def test_snapshots_come_out_oldest_first_and_a_failed_one_goes_back_in_front():
    shots, spool = Shots(), Spool()
    first, second = shots.feed(received(1, 1)).shoot(), shots.feed(received(2, 2)).shoot()
    spool.put(first)
    spool.put(second)
    taken = spool.take()
    assert taken == first
    spool.give_back(taken)
    assert [spool.take(), spool.take(), spool.take()] == [first, second, None]


def test_past_the_snapshot_bound_the_oldest_merge_and_the_later_row_of_a_task_wins():
    shots, spool = Shots(), Spool(max_snapshots=2)
    snapshots = [
        shots.feed(received(1, 1)).shoot(),
        shots.feed(started(1, 2), received(2, 2)).shoot(),
        shots.feed(succeeded(1, 3)).shoot(),
    ]
    for snapshot in snapshots:
        spool.put(snapshot)
    assert (len(spool), spool.rows, spool.merged, spool.lost) == (2, 3, 1, 0)
    merged = spool.take()
    assert (merged.id, merged.merged) == (snapshots[1].id, 1)  # the later snapshot's header
    assert states(merged) == {uuid(1): "STARTED", uuid(2): "RECEIVED"}
    assert states(spool.take()) == {uuid(1): "SUCCESS"}


def test_past_the_row_bound_snapshots_merge_and_then_the_least_recent_rows_are_lost_and_counted():
    shots, spool = Shots(), Spool(max_tasks=3)
    for i in range(5):
        spool.put(shots.feed(received(i, i)).shoot())
    assert (len(spool), spool.rows, spool.lost) == (1, 3, 2)
    assert sorted(states(spool.take())) == [uuid(2), uuid(3), uuid(4)]


def test_a_spool_holds_at_least_one_of_each():
    with pytest.raises(ValueError):
        Spool(max_snapshots=0)
