"""What the stream says it lost: missed tasks, gaps after an outage, lost tasks, skew, liveness."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evtop.broker.status import ConnectionStatus
from evtop.events.health import Health, _median, lost_tasks
from evtop.events.state import State
from tests.support.events import T0, task_event, worker_event

W = "celery@w1"


def heartbeat(at: float, processed: int, *, skew: float = 0.0, **fields) -> dict:
    return worker_event("worker-heartbeat", W, at, sent=at + skew, processed=processed, **fields)


def started(at: float, n: int, *, received: float | None = None) -> dict:
    """The n-th task's start, stamped ``at`` by the worker, heard at ``received``."""
    return task_event("task-started", f"t{n}", at if received is None else received, hostname=W, sent=at)


def feed(health: Health, *events: dict) -> Health:
    for event in sorted(events, key=lambda e: e["local_received"]):
        health.observe(event)
    return health


def test_every_counted_task_seen_is_no_loss():
    health = feed(
        Health(),
        heartbeat(T0, 10),
        *(started(T0 + 0.5 + i * 0.3, i) for i in range(5)),
        heartbeat(T0 + 2, 15),
    )
    (worker,) = health.workers()
    assert worker.missed_tasks == 0 and health.missed_tasks == 0


def test_tasks_counted_by_heartbeats_but_never_seen_are_missed():
    events = [heartbeat(T0, 10), started(T0 + 0.5, 1), heartbeat(T0 + 2, 13), heartbeat(T0 + 4, 16)]
    events += [started(T0 + 2.5, 2)]
    assert feed(Health(), *events).missed_tasks == 6 - 2


def test_a_late_batch_of_starts_is_no_loss():
    """Stamped before the heartbeat that counted them, heard after it (task.multi)."""
    late = [started(T0 + 0.1 * i, i, received=T0 + 2.5) for i in range(1, 8)]
    health = feed(Health(), heartbeat(T0, 0), heartbeat(T0 + 2, 7), *late)
    assert health.missed_tasks == 0


def test_a_start_stamped_just_after_the_heartbeat_that_counted_it_is_no_loss():
    health = feed(Health(), heartbeat(T0, 0), heartbeat(T0 + 2, 1), started(T0 + 2.3, 1))
    assert health.missed_tasks == 0
    # ... and a start after the next heartbeat waits for the heartbeat that counts it.
    feed(health, started(T0 + 5, 2))
    assert health.missed_tasks == 0
    feed(health, heartbeat(T0 + 6, 2))
    assert health.missed_tasks == 0


def test_a_restarted_worker_counts_from_its_new_start():
    events = [heartbeat(T0, 500), started(T0 + 1, 1), heartbeat(T0 + 2, 501)]
    events += [heartbeat(T0 + 10, 0), heartbeat(T0 + 12, 2), started(T0 + 11, 2), started(T0 + 11.5, 3)]
    assert feed(Health(), *events).missed_tasks == 0


def test_wake_up_heartbeats_without_counts_change_nothing():
    bare = worker_event("worker-heartbeat", W, T0 + 1, freq=5.0)
    for key in ("processed", "active", "loadavg"):
        bare.pop(key)
    health = feed(Health(), heartbeat(T0, 3), bare, heartbeat(T0 + 2, 3))
    assert health.missed_tasks == 0


def test_a_worker_without_task_events_is_named():
    health = feed(Health(), heartbeat(T0, 0), heartbeat(T0 + 2, 4), heartbeat(T0 + 4, 9))
    assert health.missed_tasks == 9 and health.without_task_events() == [W]
    feed(health, started(T0 + 4.5, 1))
    assert health.without_task_events() == []  # it sends task events: those were missed


def test_a_gap_after_a_reconnect_is_measured_by_the_senders_clocks():
    clock = [T0]
    status = ConnectionStatus("redis://h/0", clock=lambda: clock[0])
    health = Health(clock=lambda: clock[0])
    status.subscribe(health.on_status)
    gaps = []
    health.on_gap = gaps.append
    status.connected()
    for at in (T0, T0 + 2, T0 + 4):
        clock[0] = at
        feed(health, heartbeat(at, 0))
    clock[0] = T0 + 23  # frozen: the server dropped us at some point; we notice late
    status.lost("connection reset", retry_in=0.5)
    clock[0] = T0 + 24
    status.connected()
    clock[0] = T0 + 24.5
    feed(health, heartbeat(T0 + 24.1, 0))
    ((gap),) = gaps
    assert (gap.hostname, gap.before, gap.after) == (W, T0 + 4, T0 + 24.1)
    assert round(gap.seconds, 1) == 20.1 and list(health.gaps) == [gap]
    assert status.snapshot().outages[-1].ended - status.snapshot().outages[-1].started == 1.0
    clock[0] = T0 + 26
    feed(health, heartbeat(T0 + 26, 0))
    assert len(gaps) == 1  # measured once per reconnect


def test_a_reconnect_without_a_gap_reports_nothing():
    clock = [T0]
    status = ConnectionStatus("redis://h/0", clock=lambda: clock[0])
    health = Health(clock=lambda: clock[0])
    status.subscribe(health.on_status)
    health.on_gap = lambda gap: (_ for _ in ()).throw(AssertionError(gap))
    status.connected()
    feed(health, heartbeat(T0, 0))
    status.lost("blip", retry_in=0.1)
    status.connected()
    feed(health, heartbeat(T0 + 2, 0))
    assert not health.gaps


def test_liveness_follows_the_receive_clock_and_the_heartbeat_interval():
    clock = [T0]
    health = Health(clock=lambda: clock[0])
    feed(health, heartbeat(T0, 0, freq=5.0))
    clock[0] = T0 + 10
    assert health.offline() == set()
    clock[0] = T0 + 10.5
    assert health.offline() == {W}
    clock[0] = T0 + 11
    feed(health, heartbeat(T0 + 11, 0))
    assert health.offline() == set()
    feed(health, worker_event("worker-offline", W, T0 + 11.2))
    assert health.offline() == {W}


def test_on_a_replay_now_is_the_last_receive_time():
    health = feed(Health(), heartbeat(T0, 0), heartbeat(T0 + 100, 0))
    assert health.now() == T0 + 100 and health.offline() == set()


def test_clock_skew_is_the_median_of_sender_minus_receive_time():
    events = [heartbeat(T0 + 2 * i, 0, skew=-3600.0) for i in range(5)]
    events.append(heartbeat(T0 + 10, 0, skew=50.0))  # one odd sample does not move the median
    (worker,) = feed(Health(), *events).workers()
    assert worker.clock_skew == -3600.0


def test_clients_are_not_workers():
    health = feed(Health(), task_event("task-sent", "t1", T0, hostname="gen1@web"), heartbeat(T0, 0))
    assert [w.hostname for w in health.workers()] == [W] and "gen1@web" in health.senders


def test_event_rate_per_sender():
    health = Health()
    feed(health, *(heartbeat(T0 + i * 0.5, 0) for i in range(41)))  # 2 events/s for 20 s
    (worker,) = health.workers()
    assert round(worker.rate(T0 + 20), 1) == 2.0


def test_lost_tasks_were_received_or_started_on_an_offline_worker():
    state = State()
    for event in [
        worker_event("worker-online", W, T0),
        worker_event("worker-online", "celery@w2", T0),
        task_event("task-received", "a", T0 + 1, 1, hostname=W, name="p.a"),
        task_event("task-received", "b", T0 + 2, 2, hostname=W, name="p.b"),
        task_event("task-started", "b", T0 + 3, 3, hostname=W),
        task_event("task-received", "c", T0 + 4, 4, hostname=W, name="p.c"),
        task_event("task-succeeded", "c", T0 + 5, 5, hostname=W, result="1"),
        task_event("task-received", "d", T0 + 6, 6, hostname="celery@w2", name="p.d"),
        # Running in a custom state (celery's PROGRESS recipe): lost too...
        task_event("task-started", "e", T0 + 7, 7, hostname=W, name="p.e"),
        task_event("task-progress", "e", T0 + 8, 8, hostname=W, current=1, total=3),
        # ... unless revoked meanwhile (the custom state stays: celery ranks it above REVOKED)
        task_event("task-started", "f", T0 + 9, 9, hostname=W, name="p.f"),
        task_event("task-progress", "f", T0 + 10, 10, hostname=W, current=1, total=3),
        task_event("task-revoked", "f", T0 + 11, 11, hostname=W, terminated=True),
    ]:
        state.event(event)
    assert state.tasks["f"].state == "PROGRESS"
    assert lost_tasks(state.tasks, {W}) == ["a", "b", "e"]
    assert lost_tasks(state.tasks, set()) == []
    assert lost_tasks(state.tasks, {"celery@w2"}) == ["d"]


def test_events_of_other_kinds_may_name_no_sender():
    """Only task and worker events must carry a hostname; a custom one passes untouched."""
    health = feed(Health(), {"type": "evtop-probe", "id": "x", "local_received": T0}, heartbeat(T0 + 1, 0))
    assert [w.hostname for w in health.workers()] == [W] and health.now() == T0 + 1


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=40))
def test_a_senders_skew_is_the_median_of_its_samples(samples):
    assert _median(samples) == pytest.approx(statistics.median(samples))
