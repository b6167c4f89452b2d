"""The camera timer: due times on a hand-driven clock (Schedule), then the thread itself,
observed by polling with deadlines (never by sleeping)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from evtop.camera.timer import Entry, Schedule, Timer
from tests.support.live import wait_until


def entry(secs: float, timer: Timer | None = None) -> Entry:
    return Entry(timer or Timer(), secs, lambda: None)


def test_first_run_is_one_period_after_adding():
    schedule, every_2 = Schedule(), entry(2.0)
    schedule.add(every_2, now=100.0)
    assert schedule.pop_due(100.0) is None
    assert schedule.pop_due(101.999) is None
    assert schedule.pop_due(102.0) is every_2
    assert schedule.next_due() == 104.0


def test_due_times_do_not_drift_and_missed_ones_merge_into_one_run():
    schedule, every_2 = Schedule(), entry(2.0)
    schedule.add(every_2, now=100.0)
    assert schedule.pop_due(102.7) is every_2  # ran late: the next is still at 104, not 104.7
    assert schedule.next_due() == 104.0
    assert schedule.pop_due(109.5) is every_2  # 104, 106 and 108 passed: one run, two skipped
    assert every_2.skipped == 2
    assert schedule.next_due() == 110.0
    assert schedule.pop_due(109.9) is None


def test_the_most_overdue_entry_runs_first_and_removed_ones_never():
    schedule, fast, slow = Schedule(), entry(1.0), entry(3.0)
    schedule.add(slow, now=0.0)
    schedule.add(fast, now=0.0)
    assert [schedule.pop_due(3.0), schedule.pop_due(3.0), schedule.pop_due(3.0)] == [fast, slow, None]
    schedule.remove(fast)
    assert schedule.pop_due(100.0) is slow and len(schedule) == 1


@pytest.fixture
def timer():
    timer = Timer()
    yield timer
    timer.stop()


def recorder(log: list, name: str = "run"):
    def run() -> str:
        log.append((name, time.monotonic(), threading.current_thread().name))
        return name

    return run


def test_runs_repeatedly_on_its_thread_starting_one_period_later(timer):
    log: list = []
    started = time.monotonic()
    every = timer.call_repeatedly(0.05, recorder(log))
    wait_until(lambda: every.runs >= 3, 10)
    assert log[0][1] - started >= 0.05
    assert {thread for _, _, thread in log} == {"evtop-camera-timer"}


def test_calling_an_entry_runs_it_now_on_the_timer_thread_and_returns_its_result(timer):
    log: list = []
    hourly = timer.call_repeatedly(3600, recorder(log, "flush"))
    assert hourly() == "flush"
    assert log == [("flush", log[0][1], "evtop-camera-timer")]
    assert hourly.runs == 0  # the schedule is untouched: not due for an hour


def test_calling_an_entry_raises_what_it_raised(timer):
    def broken() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        timer.call_repeatedly(3600, broken)()


def test_a_failing_run_is_logged_once_per_interval_and_runs_go_on(timer, caplog):
    calls = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("camera bug \x1b[2J")

    with caplog.at_level(logging.WARNING, logger="evtop.camera.timer"):
        failing = timer.call_repeatedly(0.01, broken)
        wait_until(lambda: failing.runs >= 5, 10)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "<lambda>" not in lines[0]
    assert lines[0].startswith("broken raised ValueError: camera bug") and "runs again in 0.01 s" in lines[0]
    assert timer.running


def test_runs_never_overlap(timer):
    active, overlaps = [0], []
    lock = threading.Lock()

    def run() -> None:
        with lock:
            active[0] += 1
            overlaps.append(active[0])
        time.sleep(0.005)  # work, not synchronisation: gives a second thread the chance to overlap
        with lock:
            active[0] -= 1

    a = timer.call_repeatedly(0.01, run)
    b = timer.call_repeatedly(0.013, run)
    for _ in range(5):
        a()
    wait_until(lambda: a.runs >= 5 and b.runs >= 5, 10)
    assert max(overlaps) == 1


def test_cancel_stops_an_entry_and_leaves_the_others(timer):
    cancelled = timer.call_repeatedly(0.01, lambda: None)
    witness = timer.call_repeatedly(0.01, lambda: None)
    wait_until(lambda: cancelled.runs >= 1, 10)
    cancelled.cancel()
    runs = cancelled.runs
    witness_runs = witness.runs
    wait_until(lambda: witness.runs >= witness_runs + 3, 10)
    assert cancelled.runs == runs and cancelled.cancelled


def test_after_stop_a_call_runs_inline_and_a_new_entry_restarts_it(timer):
    log: list = []
    first = timer.call_repeatedly(3600, recorder(log))
    timer.stop()
    assert not timer.running
    first()
    assert log[-1][2] == threading.current_thread().name
    second = timer.call_repeatedly(0.01, lambda: None)
    wait_until(lambda: second.runs >= 1, 10)
    assert timer.running


def test_periods_must_be_positive(timer):
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            timer.call_repeatedly(bad, lambda: None)
