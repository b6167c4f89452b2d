"""evtop's Polaroid next to celery's: same scripts, same snapshots, except where evtop
deliberately differs (a shutter skipped by maxrate keeps the state; the final snapshot
always happens; signals are per class)."""

from __future__ import annotations

import logging
import threading

import kombu.utils.limits
import pytest
from celery import Celery
from celery.events.snapshot import Polaroid as CeleryPolaroid
from celery.events.state import State as CeleryState
from celery.utils.time import rate as celery_rate

from evtop import State
from evtop.camera import Polaroid, Signal, Timer
from tests.support.events import T0, task_event
from tests.unit.camera.fakes import FakeClock, FakeTimer


def task_events(n: int, at: float, *, finish: bool = True) -> list[dict]:
    """``n`` tasks received (and succeeded when ``finish``), with uuids unique per ``at``."""
    events = []
    for i in range(n):
        uuid = f"task-{at:.1f}-{i}"
        events.append(
            task_event("task-received", uuid, at, 1, hostname="celery@a", sent=at, pid=1, name="proj.add")
        )
        if finish:
            events.append(
                task_event("task-succeeded", uuid, at, 2, hostname="celery@a", sent=at, pid=1, result="3")
            )
    return events


def view(state) -> tuple:
    tasks = sorted((uuid, task.state) for uuid, task in state.tasks.items())
    return tasks, sorted(state.workers.keys()), state.event_count


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    """kombu's TokenBucket (used by both Polaroids for maxrate) reads this clock."""
    fake = FakeClock()
    monkeypatch.setattr(kombu.utils.limits, "monotonic", fake)
    return fake


class Side:
    """One camera (evtop's or celery's), its state and its hand-fired timer, and what it saw."""

    def __init__(self, base: type, state, **options) -> None:
        self.seen: list = []
        seen = self.seen

        class Camera(base):  # type: ignore[misc, valid-type]
            clear_after = options.pop("clear_after", False)

            def on_shutter(self, state) -> None:
                seen.append(view(state))

            def on_cleanup(self) -> None:
                seen.append("cleanup")

        self.state = state
        self.timer = FakeTimer()
        extra = {"app": Celery(set_as_current=False)} if base is CeleryPolaroid else {}
        self.camera = Camera(state, timer=self.timer, **options, **extra)
        self.camera.install()

    def step(self, action: str, events: list[dict]) -> None:
        for event in events:
            self.state.event(dict(event))
        if action == "shutter":
            self.timer.shutter()
        elif action == "cleanup":
            self.timer.cleanup()
        elif action == "cancel":
            self.camera.cancel()


def run_both(clock: FakeClock, script: list[tuple[float, str, list[dict]]], **options) -> tuple[Side, Side]:
    ours = Side(Polaroid, State(), **dict(options))
    celerys = Side(CeleryPolaroid, CeleryState(), **dict(options))
    for advance, action, events in script:
        clock.advance(advance)
        ours.step(action, events)
        celerys.step(action, events)
    return ours, celerys


def script(periods: int, period: float = 1.0) -> list[tuple[float, str, list[dict]]]:
    steps: list[tuple[float, str, list[dict]]] = []
    for k in range(periods):
        at = T0 + k * period
        steps.append((period, "shutter", task_events(2, at) + task_events(1, at + 0.5, finish=False)))
    steps.append((0.0, "cleanup", []))
    steps.append((period / 10, "cancel", task_events(1, T0 + 999)))
    return steps


def test_install_schedules_capture_and_cleanup_like_celery(clock):
    ours, celerys = run_both(clock, [], freq=2.5, cleanup_freq=60.0)
    for side in (ours, celerys):
        assert [(e.secs, e.fun.__name__) for e in side.timer.entries] == [(2.5, "capture"), (60.0, "cleanup")]
        assert side.camera.freq == 2.5 and side.camera.cleanup_freq == 60.0


@pytest.mark.parametrize("clear_after", [False, True])
def test_snapshots_match_celerys(clock, clear_after):
    ours, celerys = run_both(clock, script(5), clear_after=clear_after)
    assert ours.seen == celerys.seen
    assert len([s for s in ours.seen if s != "cleanup"]) == 6  # 5 periods + the final flush
    final_tasks = ours.seen[-1][0]
    if clear_after:  # ready tasks went with each snapshot; unready ones stay
        assert [s for _, s in final_tasks] == ["RECEIVED"] * 5 + ["SUCCESS"]
    else:
        assert len(final_tasks) == 5 * 3 + 1


def test_maxrate_skips_the_same_shutters_as_celery(clock):
    without_cancel = script(10, period=0.4)[:-1]
    ours, celerys = run_both(clock, without_cancel, maxrate="1/s")
    assert ours.seen == celerys.seen
    shots = [s for s in ours.seen if s != "cleanup"]
    assert 3 <= len(shots) <= 5  # 10 shutters in 4 s, at most one per second


def test_a_skipped_shutter_keeps_the_state_where_celery_drops_it(clock):
    """With maxrate and clear_after, celery clears on every skipped shutter."""
    without_cancel = script(10, period=0.4)[:-1]
    ours, celerys = run_both(clock, without_cancel, maxrate="1/s", clear_after=True)

    def seen_or_held(side: Side) -> set[str]:
        seen = {uuid for shot in side.seen if shot != "cleanup" for uuid, _ in shot[0]}
        return seen | set(side.state.tasks.keys())

    sent = {e["uuid"] for _, _, events in without_cancel for e in events}
    assert seen_or_held(ours) == sent
    assert len(sent - seen_or_held(celerys)) >= 5  # finished tasks of skipped periods, never seen


def test_the_final_snapshot_ignores_maxrate(clock):
    steps = [(0.0, "shutter", task_events(1, T0)), (0.01, "cancel", task_events(1, T0 + 1))]
    ours, celerys = run_both(clock, steps, maxrate="1/m")
    assert len(ours.seen) == 2 and len(ours.seen[-1][0]) == 2  # the flush saw both tasks
    assert len(celerys.seen) == 1  # celery's flush was refused a token


def test_cancel_flushes_once_then_stops_both_schedules(clock):
    ours, celerys = run_both(clock, [(1.0, "cancel", task_events(1, T0))])
    for side in (ours, celerys):
        assert side.timer.shutter.calls == 1
        assert side.timer.shutter.cancelled and side.timer.cleanup.cancelled
    ours.camera.cancel()  # a second cancel (e.g. __exit__ after cancel) takes no second snapshot
    assert ours.timer.shutter.calls == 1


def test_capture_runs_the_shutter_with_the_state_frozen():
    others_could_lock: list[bool] = []

    class Camera(Polaroid):
        def on_shutter(self, state) -> None:
            def try_lock() -> None:
                got = state._mutex.acquire(blocking=False)
                others_could_lock.append(got)
                if got:
                    state._mutex.release()

            other = threading.Thread(target=try_lock)
            other.start()
            other.join()

    state = State()
    Camera(state, timer=FakeTimer()).capture()
    assert others_could_lock == [False]  # State.event takes the same mutex
    Camera.on_shutter(Camera(state, timer=FakeTimer()), state)  # outside capture: free
    assert others_could_lock == [False, True]


def test_a_failing_shutter_still_clears_as_in_celery(clock):
    for base, state in ((Polaroid, State()), (CeleryPolaroid, CeleryState())):

        class Camera(base):  # type: ignore[misc, valid-type]
            clear_after = True

            def on_shutter(self, state) -> None:
                raise RuntimeError("database down")

        for event in task_events(2, T0):
            state.event(event)
        extra = {"app": Celery(set_as_current=False)} if base is CeleryPolaroid else {}
        with pytest.raises(RuntimeError):
            Camera(state, timer=FakeTimer(), **extra).capture()
        assert len(state.tasks) == 0


@pytest.mark.parametrize("text", ["10", "10/s", "30/m", "3600/h", "0.5/s"])
def test_maxrate_strings_give_celerys_rates(text):
    ours = Polaroid(State(), maxrate=text, timer=FakeTimer()).maxrate
    assert ours is not None and ours.fill_rate == pytest.approx(celery_rate(text))
    assert Polaroid(State(), maxrate=None, timer=FakeTimer()).maxrate is None


def test_cleanup_sends_its_signal_and_calls_the_hook_without_the_lock():
    calls = []

    class Camera(Polaroid):
        def on_cleanup(self) -> None:
            calls.append(("hook", self.state._mutex.acquire(blocking=False)))
            self.state._mutex.release()

    state = State()
    Camera.cleanup_signal.connect(lambda signal, sender, **kw: calls.append(("signal", sender is state)))
    Camera(state, timer=FakeTimer()).cleanup()
    assert calls == [("signal", True), ("hook", True)]


def test_signals_are_per_camera_class_and_the_base_hears_all():
    class A(Polaroid):
        pass

    class B(Polaroid):
        pass

    class AA(A):
        pass

    heard: list[tuple[str, object]] = []
    on_a = A.shutter_signal.connect(lambda sender, **kw: heard.append(("A", sender)))
    on_base = Polaroid.shutter_signal.connect(lambda sender, **kw: heard.append(("base", sender)))
    try:
        for cls in (A, B, AA):
            state = State()
            cls(state, timer=FakeTimer()).shutter()
            assert heard == ([("A", state)] if cls is not B else []) + [("base", state)]
            heard.clear()
    finally:
        A.shutter_signal.disconnect(on_a)
        Polaroid.shutter_signal.disconnect(on_base)


def test_a_class_keeps_a_signal_of_its_own_and_passes_it_on():
    own = Signal("own")

    class WithOwn(Polaroid):
        shutter_signal = own

    class Sub(WithOwn):
        pass

    class Foreign(Polaroid):
        shutter_signal = "not a signal"  # type: ignore[assignment]

    class FromForeign(Foreign):
        pass

    assert WithOwn.shutter_signal is own and Sub.shutter_signal.parent is own
    assert FromForeign.shutter_signal == "not a signal"


def test_a_raising_receiver_is_logged_and_the_shutter_goes_on(caplog):
    shots = []

    class Camera(Polaroid):
        def on_shutter(self, state) -> None:
            shots.append(state)

    def broken(**kw):
        raise ValueError("receiver bug")

    Camera.shutter_signal.connect(broken)
    with caplog.at_level(logging.WARNING):
        Camera(State(), timer=FakeTimer()).shutter()
    assert len(shots) == 1
    assert "receiver" in caplog.text and "ValueError: receiver bug" in caplog.text


def test_signal_sender_filter_decorator_and_responses():
    signal = Signal("test")
    one, two = object(), object()

    @signal.connect
    def everyone(sender, **kw):
        return "all"

    signal.connect(lambda sender, **kw: "one only", sender=one)
    assert [r for _, r in signal.send(sender=one)] == ["all", "one only"]
    assert [r for _, r in signal.send(sender=two)] == ["all"]
    assert signal.disconnect(everyone) and not signal.disconnect(everyone)
    assert [r for _, r in signal.send(sender=two)] == []


def test_context_manager_installs_and_cancels_with_a_final_snapshot():
    shots = []

    class Camera(Polaroid):
        def on_shutter(self, state) -> None:
            shots.append(len(state.tasks))

    state = State()
    timer = FakeTimer()
    with Camera(state, timer=timer) as camera:
        assert isinstance(camera, Camera) and len(timer.entries) == 2
        state.event(task_events(1, T0)[0])
    assert shots == [1] and all(e.cancelled for e in timer.entries)


def test_timer_choice_given_then_class_then_own():
    given, at_class = FakeTimer(), FakeTimer()

    class WithTimer(Polaroid):
        timer = at_class

    assert Polaroid(State(), timer=given).timer is given
    assert WithTimer(State()).timer is at_class
    own = Polaroid(State(), freq=0.01)
    assert isinstance(own.timer, Timer)
    own.install()
    assert own.timer.running
    own.cancel()  # a timer the camera made itself is stopped with it
    assert not own.timer.running
