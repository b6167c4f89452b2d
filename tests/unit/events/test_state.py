"""State's public API, liveness and memory bounds (behaviour shared with celery is in
test_state_differential.py; this file covers the API surface and evtop's deliberate
differences)."""

from __future__ import annotations

import logging

import pytest

from evtop import State, Task, Worker
from evtop.events.state import HEARTBEAT_DRIFT_MAX
from tests.support import events as support

T0 = support.T0


def task_event(type_, uuid, clock, *, host="celery@a", ts=None, received=None, **fields):
    """A task event sent at ``ts`` (default ``T0 + clock``), heard then unless ``received``."""
    ts = T0 + clock if ts is None else ts
    received = ts if received is None else received
    return support.task_event(type_, uuid, received, clock, hostname=host, sent=ts, pid=42, **fields)


def worker_event(type_, host, at, *, sent=None, **fields):
    """A worker event heard at ``at`` (sent then unless ``sent``)."""
    return support.worker_event(type_, host, at, sent=at if sent is None else sent, pid=42, **fields)


def test_index_sets_are_live_and_match_by_uuid_like_celerys():
    state = State()
    state.event(task_event("task-received", "p", 1, name="proj.parent"))
    by_worker, by_type = state.tasks_by_worker["celery@a"], state.tasks_by_type["proj.parent"]
    assert by_worker == {state.tasks["p"]} and Task("p") in by_type and "p" not in by_type
    state.event(task_event("task-received", "n", 2, name="proj.parent"))
    assert len(by_worker) == 2 and {t.uuid for t in by_type} == {"p", "n"}
    for task in by_type:  # iterating while events arrive is safe: a snapshot
        state.event(task_event("task-received", f"x{task.uuid}", 3, name="proj.parent"))
    assert len(by_type) == 4
    state.clear_tasks(ready=False)
    assert len(by_type) == 0 and "proj.parent" not in state.tasks_by_type


def test_tasks_are_counted_under_the_worker_that_runs_them():
    """celery files a task under its first event's host (the client, with task-sent on);
    ``worker_task_counts`` follows the worker, moves with a retry elsewhere, and forgets
    evicted and cleared tasks."""
    state = State(max_tasks_in_memory=3)
    for uuid, clock in (("a", 1), ("b", 2)):
        state.event(task_event("task-sent", uuid, clock, host="client@c", name="proj.add"))
    assert state.worker_task_counts == {} and len(state.tasks_by_worker["client@c"]) == 2
    state.event(task_event("task-received", "a", 3, host="celery@a"))
    state.event(task_event("task-started", "a", 4, host="celery@a"))
    state.event(task_event("task-received", "b", 5, host="celery@a"))
    assert state.worker_task_counts == {"celery@a": 2}
    state.event(task_event("task-received", "b", 6, host="celery@b"))  # redelivered elsewhere
    assert state.worker_task_counts == {"celery@a": 1, "celery@b": 1}
    for uuid, clock in (("c", 7), ("d", 8)):  # the cap of 3 evicts "a"
        state.event(task_event("task-received", uuid, clock, host="celery@b", name="proj.add"))
    assert "a" not in state.tasks and state.worker_task_counts == {"celery@b": 3}
    state.clear_tasks(ready=False)
    assert state.worker_task_counts == {}


def test_task_api():
    state = State()
    state.event(task_event("task-received", "p", 1, name="proj.parent", args="(1,)", kwargs="{}", retries=0))
    state.event(task_event("task-received", "c", 2, name="proj.child", parent_id="p", root_id="p"))
    state.event(task_event("task-started", "c", 3))
    state.event(task_event("task-succeeded", "c", 4, result="'ok'", runtime=0.25))
    child, parent = state.tasks["c"], state.tasks["p"]
    assert isinstance(child, Task) and child.id == "c" and child.ready and child.state == "SUCCESS"
    assert child.parent is parent and child.root is parent and list(parent.children) == [child]
    assert child.info() == {"result": "'ok'", "runtime": 0.25, "root_id": "p", "parent_id": "p"}
    assert child.info(fields=["runtime"], extra=["hostname"]) == {"runtime": 0.25, "hostname": "celery@a"}
    assert child.origin == "celery@a.None"  # as in celery: task events never set the worker pid
    assert child.worker is state.workers["celery@a"]
    assert child.succeeded == T0 + 4 and child.started == T0 + 3 and child.received == T0 + 2
    assert child.as_dict()["children"] == [] and parent.as_dict()["children"] == ["c"]
    assert repr(child) == "<Task: proj.child(c) SUCCESS clock:4>"
    assert parent.exception is None and parent.eta is None and parent.clock == 1  # celery's defaults
    assert child == Task("c") and hash(child) == hash(Task("c"))
    assert [uuid for uuid, _ in state.tasks_by_time()] == ["c", "p"]
    assert [uuid for uuid, _ in state.tasks_by_type("proj.child")] == ["c"]
    assert [uuid for uuid, _ in state.tasks_by_worker("celery@a")] == ["c", "p"]
    assert {t.uuid for t in state.tasks_by_type["proj.parent"]} == {"p"}
    assert state.tasks_by_type["never.seen"] == set() and "never.seen" not in state.tasks_by_type
    assert state.task_types() == ["proj.child", "proj.parent"]
    assert state.task_count == 2 and state.event_count == 4
    # LRU order: reading state.tasks["c"] then ["p"] above refreshed them, as in celery
    assert [uuid for uuid, _ in state.itertasks()] == ["c", "p"]
    assert state.get_or_create_task("c") == (child, False)
    new, created = state.get_or_create_task("n")
    assert created and new.state == "PENDING"


def test_worker_liveness_uses_local_receive_time_not_the_senders_clock():
    now = [T0]
    state = State(clock=lambda: now[0])
    two_hours = 7200
    state.event(worker_event("worker-online", "celery@fast", T0, sent=T0 + two_hours))
    state.event(worker_event("worker-online", "celery@slow", T0, sent=T0 - 600))
    now[0] = T0 + 3.9  # within 2 x freq of the last *received* heartbeat
    assert {w.hostname for w in state.alive_workers()} == {"celery@fast", "celery@slow"}
    worker = state.workers["celery@fast"]
    assert isinstance(worker, Worker) and worker.status_string == "ONLINE" and worker.last_seen == T0
    assert worker.heartbeat_expires == T0 + 4.0
    now[0] = T0 + 4.1
    assert list(state.alive_workers()) == [] and worker.status_string == "OFFLINE"
    state.event(task_event("task-started", "t", 5, host="celery@fast", ts=T0 + two_hours, received=T0 + 4.2))
    assert worker.alive  # a task event proves life, at its local receive time
    state.event(worker_event("worker-offline", "celery@fast", T0 + 4.3))
    assert not worker.alive and worker.heartbeats == []
    assert "celery@fast" in state.workers  # celery keeps it listed without on_node_leave


def test_live_liveness_follows_the_monotonic_clock_through_wall_clock_steps():
    wall, mono = [T0], [500.0]
    state = State(clock=lambda: wall[0], monotonic=lambda: mono[0])
    state.event(worker_event("worker-online", "celery@a", T0))
    wall[0] = T0 + 3600  # the wall clock jumps an hour ahead (NTP, a resumed laptop)
    mono[0] = 501.0
    assert state.workers["celery@a"].alive  # one second went by, whatever the wall clock says
    wall[0] = T0 - 3600  # and back again: still no flip
    assert state.workers["celery@a"].alive
    mono[0] = 504.1  # more than 2 x freq since the last event was applied
    assert not state.workers["celery@a"].alive
    state.event(task_event("task-started", "t", 2, host="celery@a", ts=T0 + 1, received=T0 + 1))
    assert state.workers["celery@a"].alive  # a task event proves life on this clock too
    state.event(worker_event("worker-offline", "celery@a", T0 + 2))
    assert not state.workers["celery@a"].alive


def test_without_a_monotonic_clock_liveness_is_celerys_rule_on_recorded_times():
    """A replay: only recorded receive times exist, and "now" is whatever clock is given."""
    state = State(clock=lambda: T0 + 3.9)
    state.event(worker_event("worker-online", "celery@a", T0))
    assert state.workers["celery@a"].alive
    # Restored workers were heard by no monotonic clock: celery's rule, on the given clock.
    restored = State(
        workers={"celery@a": state.workers["celery@a"]}, clock=lambda: T0 + 4.1, monotonic=lambda: 0.0
    )
    assert not restored.workers["celery@a"].alive


def test_drift_is_warned_once_per_worker(caplog):
    state = State()
    caplog.set_level(logging.WARNING, logger="evtop.events.state")
    far = T0 + HEARTBEAT_DRIFT_MAX + 100
    for clock in range(1, 6):
        state.event(
            task_event(
                "task-started",
                f"t{clock}",
                clock,
                host="celery@drifty-1",
                ts=far + clock,
                received=T0 + clock,
            )
        )
    warnings = [r for r in caplog.records if "drifty-1" in r.getMessage()]
    assert len(warnings) == 1 and "drift" in warnings[0].getMessage()


def test_indexes_and_task_types_stay_bounded_under_a_cardinality_attack():
    state = State(max_tasks_in_memory=50, max_workers_in_memory=20, max_task_types=100)
    for i in range(5000):
        state.event(
            task_event(
                "task-received",
                f"u{i}",
                i + 1,
                host=f"celery@h{i}",
                name=f"name.{i}",
                parent_id=f"orphan-parent-{i}",
                root_id=f"root-{i}",
            )
        )
    assert len(state.tasks) == 50 and len(state.workers) == 20
    assert len(state.tasks_by_type) == 50 and len(state.tasks_by_worker) == 50
    assert len(state.tasks_by_root) == 50
    assert len(state.task_types()) == 100 and state.task_types_dropped == 4900
    assert len(state._tasks_to_resolve) <= 50
    assert len(state._taskheap) <= 200
    assert sum(len(s) for s in state.tasks_by_type.values()) == 50  # evicted tasks left their sets


def test_tasks_by_root_holds_each_workflow_and_follows_evictions_and_changes():
    state = State(max_tasks_in_memory=4)
    state.event(task_event("task-sent", "r", 1, name="flow.root", root_id="r"))
    state.event(task_event("task-received", "a", 2, name="flow.a", root_id="r", parent_id="r"))
    state.event(task_event("task-received", "b", 3, name="flow.b", root_id="r", parent_id="a"))
    state.event(task_event("task-received", "old", 4, name="proj.old"))  # no root_id (protocol 1)
    # A task that is its own root (most tasks) is not held here: the tree finds it by uuid.
    assert {t.uuid for t in state.tasks_by_root["r"]} == {"a", "b"} and list(state.tasks_by_root) == ["r"]
    assert [uuid for uuid, _ in state.tasks_by_root("r")] == ["b", "a", "r"]  # callable, newest first
    state.event(task_event("task-received", "b", 5, root_id="other"))  # a changed root_id moves it
    assert {t.uuid for t in state.tasks_by_root["r"]} == {"a"}
    assert {t.uuid for t in state.tasks_by_root["other"]} == {"b"}
    state.event(task_event("task-received", "c", 6, name="x", root_id=["not", "a", "key"]))  # hostile
    assert state.tasks.get("r") is None and {t.uuid for t in state.tasks_by_root["r"]} == {"a"}  # r evicted
    for clock in range(7, 11):
        state.event(task_event("task-received", f"n{clock}", clock, name="x", root_id="new"))
    assert list(state.tasks_by_root) == ["new"] and len(state.tasks_by_root["new"]) == 4  # a and b evicted
    state.clear_tasks(ready=False)
    assert len(state.tasks_by_root) == 0
    restored = State(tasks={"t": Task("t", root_id="z")})
    assert {t.uuid for t in restored.tasks_by_root["z"]} == {"t"}


def test_offline_worker_is_removed_with_a_leave_callback():
    left = []
    state = State(on_node_leave=lambda w: left.append(w.hostname))
    state.event(worker_event("worker-online", "celery@a", T0))
    state.event(worker_event("worker-offline", "celery@a", T0 + 1))
    assert left == ["celery@a"] and "celery@a" not in state.workers


def test_freeze_while_and_clear():
    state = State()
    state.event(task_event("task-received", "done", 1, name="a"))
    state.event(task_event("task-succeeded", "done", 2))
    state.event(task_event("task-started", "busy", 3))
    assert state.freeze_while(lambda: sorted(state.tasks)) == ["busy", "done"]
    state.clear_tasks(ready=True)
    assert list(state.tasks) == ["busy"] and list(state.tasks_by_time()) == []
    state.clear(ready=False)
    assert len(state.tasks) == 0 and state.event_count == 0 and len(state.workers) == 0
    assert len(state.tasks_by_type) == 0  # forgotten tasks leave the indexes too


def test_custom_group_handlers_and_callbacks():
    seen = []
    state = State(callback=lambda st, event: seen.append(event["type"]))
    state.handlers["beat"] = lambda subject, event: ("handled", subject)
    assert state.event({"type": "beat-tick", "hostname": "b"}) == (("handled", "tick"), "tick")
    assert state.event({"type": "other-thing"}) is None
    assert seen == ["beat-tick", "other-thing"] and state.event_count == 2


def test_deprecated_event_helpers_still_work():
    state = State()
    task = state.task_event("received", task_event("x", "t", 1, name="n"))
    worker = state.worker_event("online", worker_event("x", "celery@w", T0))
    assert task[0].name == "n" and worker[0].hostname == "celery@w"


@pytest.mark.parametrize("name", ["max_tasks_in_memory", "max_workers_in_memory", "max_task_types"])
@pytest.mark.parametrize("value", [0, -1, None, 1.5, "10", True])
def test_limits_are_whole_numbers_of_at_least_one(name, value):
    """celery accepts these and fails on the first task event (0, None) or never bounds."""
    with pytest.raises(ValueError, match=name):
        State(**{name: value})


def test_a_million_task_cap_keeps_every_task_in_time_order():
    state = State(max_tasks_in_memory=1_000_000, max_workers_in_memory=1_000_000)
    for index in range(30_000):
        # three workers whose clocks never meet: most events land deep inside the order
        clock = (index % 3) * 100_000 + index
        state.event(task_event("task-received", f"t{index}", clock, host=f"celery@w{index % 3}", name="x"))
    assert len(state.tasks) == 30_000 and len(state._taskheap) == 30_000
    newest = [uuid for uuid, _ in state.tasks_by_time(limit=3)]
    assert newest == ["t29999", "t29996", "t29993"]  # w2's clocks are the highest


def test_a_new_task_reads_celerys_class_defaults_and_no_more():
    """Every field celery's Task defaults at class level reads the same on a fresh task;
    fields celery has no default for (set by events only) raise AttributeError, as there."""
    from celery.events.state import Task as CeleryTask

    task = State().Task("t")
    for name in task._fields:
        if name in ("uuid", "root", "parent", "children"):  # instance values or properties
            continue
        assert getattr(task, name) == getattr(CeleryTask, name), name
    for name in ("hostname", "pid", "local_received", "utcoffset", "type"):
        assert not hasattr(CeleryTask, name)
        with pytest.raises(AttributeError):
            getattr(task, name)
