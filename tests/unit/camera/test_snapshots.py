"""From the State to snapshots: only what changed, every string sanitized and capped,
numbers a database can hold, counts and percentiles of what is in memory."""

from __future__ import annotations

from evtop.camera.snapshots import percentiles
from evtop.text.sanitize import sanitize
from tests.support.events import T0, task_event, worker_event
from tests.unit.camera.sinks.shots import Shots, received, started, succeeded, uuid


def test_a_snapshot_holds_the_tasks_changed_since_the_last_one_in_their_whole_state():
    shots = Shots().feed(received(1, 1), received(2, 1))
    first = shots.shoot()
    assert sorted(row.uuid for row in first.tasks) == [uuid(1), uuid(2)]
    second = shots.feed(started(1, 2), succeeded(1, 3)).shoot()
    [row] = second.tasks
    assert (row.uuid, row.state, row.name, row.args, row.result, row.runtime) == (
        uuid(1), "SUCCESS", "proj.add", "(1, 2)", "3", 0.25
    )  # fmt: skip
    assert row.received == T0 + 1 - 0.01 and row.succeeded == T0 + 3 - 0.01
    assert row.updated == T0 + 3 and (row.rank, row.final) == (0, True)
    assert shots.shoot().tasks == ()
    assert (first.id, second.id, first.run) == (1, 2, second.run)


def test_a_task_evicted_from_memory_before_the_snapshot_still_reaches_it():
    shots = Shots(max_tasks_in_memory=2)
    snapshot = shots.feed(*(received(i, i) for i in range(5))).shoot()
    assert len(shots.state.tasks) == 2
    assert sorted(row.uuid for row in snapshot.tasks) == [uuid(i) for i in range(5)]


def test_counts_per_state_and_type_and_runtime_percentiles_cover_the_tasks_in_memory():
    shots = Shots()
    for i in range(10):
        shots.feed(received(i, i, name="proj.a" if i < 6 else "proj.b"))
        if i < 8:
            shots.feed(task_event("task-succeeded", uuid(i), T0 + i + 1, 3, runtime=float(i + 1)))
    shots.shoot()
    snapshot = shots.shoot()  # nothing changed: the counts are of memory, not of changes
    assert snapshot.states == {"RECEIVED": 2, "SUCCESS": 8}
    assert snapshot.types["proj.a"].states == {"SUCCESS": 6}
    assert snapshot.types["proj.b"].states == {"SUCCESS": 2, "RECEIVED": 2}
    assert snapshot.runtime == percentiles([float(i + 1) for i in range(8)])
    assert (snapshot.runtime.p50, snapshot.runtime.p90, snapshot.runtime.max) == (4.0, 8.0, 8.0)


def test_strings_are_sanitized_and_capped_numbers_checked():
    shots = Shots()
    shots.feed(
        received(1, 1, name="evil\x1b[2J", args="a" * 100_000, retries=10**30),
        task_event(
            "task-failed", uuid(1), T0 + 2, 2, traceback="Traceback:\n\tline\x07", runtime=float("nan")
        ),
        worker_event("worker-heartbeat", "w\u202e@h", T0 + 2, 3, loadavg=[1.0, "x", 2.0], active=2**70),
    )
    snapshot = shots.shoot()
    [row] = snapshot.tasks
    assert row.name == sanitize("evil\x1b[2J") == "evil␛[2J"
    assert row.args.startswith("aaa") and row.args.endswith("…[+83616 chars]") and len(row.args) < 16_500
    assert row.traceback == "Traceback:\n    line␇"
    assert row.retries is None and row.runtime is None
    workers = {worker.hostname: worker for worker in snapshot.workers}
    assert sorted(workers) == ["celery@h", "w<U+202E>@h"]
    assert workers["w<U+202E>@h"].loadavg is None and workers["w<U+202E>@h"].active is None


def test_the_snapshot_carries_ingest_broker_and_counter_news():
    shots = Shots().feed(received(1, 1), started(1, 2))
    shots.status.lost("connection reset by \x1b[31mpeer", retry_in=1.0)
    shots.status.connected()
    snapshot = shots.shoot(final=True)
    assert snapshot.final and snapshot.ingest.received == 2 and snapshot.ingest.applied == 2
    assert snapshot.broker.connected and snapshot.broker.url == "redis://h:6379/0"
    [outage] = snapshot.broker.outages
    assert outage.reason == "connection reset by ␛[31mpeer" and outage.ended is not None
    assert snapshot.counters.by_type() == {"task-received": 1, "task-started": 1}
    summary = snapshot.summary()
    assert summary["events"] == {"task-received": 1, "task-started": 1}
    assert summary["states"] == {"STARTED": 1}


def test_percentiles_are_nearest_rank():
    assert percentiles([]) is None
    result = percentiles([float(v) for v in range(1, 101)])
    assert (result.count, result.p50, result.p90, result.p99, result.max) == (100, 50.0, 90.0, 99.0, 100.0)
