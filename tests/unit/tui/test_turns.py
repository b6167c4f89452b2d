"""The UI thread's turns: the event thread gives way whenever the UI has work, and the
select loop that tells it (real pipes and threads; no test times anything)."""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urwid

from evtop.tui.turns import CHECK_EVERY, Loop, Turns
from tests.support.live import wait_until

FOREVER = 600.0


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read, write = os.pipe()
    yield read, write
    for fd in (read, write):
        with contextlib.suppress(OSError):  # a test closed it
            os.close(fd)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def in_thread(call: Callable[[], Any]) -> threading.Thread:
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread


def handled() -> tuple[list[Any], Callable[[Any], Any]]:
    events: list[Any] = []

    def handle(event: Any) -> Any:
        events.append(event)
        return event

    return events, handle


# -- Turns: the event thread's side ----------------------------------------------------


def test_events_pass_while_the_ui_sleeps_with_nothing_due():
    turns = Turns(give_most=FOREVER)
    turns.sleeping(None, ())
    events, handle = handled()
    paced = turns.paced(handle)
    assert events == []
    assert [paced(n) for n in range(3 * CHECK_EVERY)] == list(range(3 * CHECK_EVERY))
    assert turns.gave_way == 0


def test_an_event_waits_while_the_ui_thread_is_awake_until_it_sleeps():
    turns = Turns(give_most=FOREVER)
    events, handle = handled()
    paced = turns.paced(handle)
    thread = in_thread(lambda: paced("e"))  # the UI thread starts awake
    wait_until(lambda: turns.gave_way == 1, 10)
    assert events == []
    turns.sleeping(None, ())
    thread.join(10)
    assert events == ["e"]


def test_input_for_the_sleeping_ui_makes_the_events_give_way(pipe):
    read, write = pipe
    turns = Turns(give_most=FOREVER)
    turns.sleeping(None, (read,))
    events, handle = handled()
    paced = turns.paced(handle)
    for n in range(CHECK_EVERY - 1):
        paced(n)
    os.write(write, b"k")  # a key: the UI thread is waking up
    thread = in_thread(lambda: paced("last"))
    wait_until(lambda: turns.gave_way == 1, 10)
    assert events[-1] == CHECK_EVERY - 2
    turns.waking()
    os.read(read, 1)
    turns.sleeping(None, (read,))
    thread.join(10)
    assert events[-1] == "last"


def test_an_alarm_due_makes_the_events_give_way():
    clock = Clock()
    turns = Turns(clock, give_most=FOREVER)
    turns.sleeping(5.0, ())
    events, handle = handled()
    paced = turns.paced(handle)
    for n in range(2 * CHECK_EVERY):
        paced(n)
    assert turns.gave_way == 0
    clock.now = 5.0
    thread = in_thread(lambda: [paced(n) for n in range(CHECK_EVERY)])
    wait_until(lambda: turns.gave_way == 1, 10)
    turns.sleeping(None, ())
    thread.join(10)
    assert len(events) == 3 * CHECK_EVERY


def test_a_long_ui_turn_shares_the_time_with_the_events():
    """Once a wait reaches its limit, the events run as long before waiting again."""
    clock = Clock()
    turns = Turns(clock, give_most=0.01)  # the UI thread stays awake throughout
    events, handle = handled()
    paced = turns.paced(handle)
    paced(1)
    assert turns.gave_way == 1
    clock.now = 0.005
    paced(2)
    assert turns.gave_way == 1
    clock.now = 0.02
    paced(3)
    assert (turns.gave_way, events) == (2, [1, 2, 3])


# -- Loop: urwid's side ----------------------------------------------------------------


def test_alarms_run_in_time_order_and_a_removed_one_never():
    clock = Clock()
    loop = Loop(clock=clock)
    ran: list[str] = []

    def stop() -> None:
        raise urwid.ExitMainLoop

    loop.alarm(2, lambda: ran.append("second"))
    removed = loop.alarm(1.5, lambda: ran.append("removed"))
    loop.alarm(1, lambda: ran.append("first"))
    loop.alarm(3, stop)
    assert loop.remove_alarm(removed)
    assert not loop.remove_alarm(removed)
    clock.now = 10.0
    loop.run()
    assert ran == ["first", "second"]


def test_input_runs_its_callback_then_the_idle_callbacks(pipe):
    read, write = pipe
    loop = Loop()
    ran: list[str] = []

    def readable() -> None:
        ran.append(os.read(read, 10).decode())

    def idle() -> None:
        ran.append("idle")
        if "key" in ran:
            raise urwid.ExitMainLoop
        os.write(write, b"key")

    loop.watch_file(read, readable)
    loop.enter_idle(idle)
    loop.run()
    assert ran == ["idle", "key", "idle"]


def test_a_removed_watch_and_idle_callback_are_not_called(pipe):
    read, write = pipe
    loop = Loop()
    ran: list[str] = []
    loop.watch_file(read, lambda: ran.append("read"))
    handle = loop.enter_idle(lambda: ran.append("removed idle"))
    assert loop.remove_watch_file(read)
    assert not loop.remove_watch_file(read)
    assert loop.remove_enter_idle(handle)
    os.write(write, b"x")

    def stop() -> None:
        raise urwid.ExitMainLoop

    loop.alarm(0, stop)
    loop.run()
    assert ran == []


def test_the_loop_tells_turns_when_it_sleeps_and_wakes(pipe):
    read, write = pipe
    turns = Turns()
    loop = Loop(turns)
    seen: list[tuple[bool, int]] = []

    def readable() -> None:
        seen.append((turns.awake, turns.sleeps))
        os.read(read, 1)
        raise urwid.ExitMainLoop

    loop.watch_file(read, readable)
    loop.enter_idle(lambda: os.write(write, b"k"))  # drawn: now the key comes
    loop.run()
    assert seen == [(True, 1)]  # slept once (the drawing poll does not count), woke for the key
    assert not turns.awake  # a loop that ended never holds the events up


def test_a_refused_descriptor_moves_every_watch_to_select(pipe):
    """kqueue refuses /dev/tty with EINVAL (macOS): plain select takes every file."""
    read, write = pipe
    other_read, other_write = os.pipe()

    class Refusing(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
        def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
            if fileobj == read:
                raise OSError(errno.EINVAL, "Invalid argument")
            return super().register(fileobj, events, data)

    loop = Loop(selector=Refusing())
    ran: list[str] = []
    loop.watch_file(other_read, lambda: ran.append(os.read(other_read, 1).decode()))
    loop.watch_file(read, lambda: ran.append(os.read(read, 1).decode()))

    def stop() -> None:
        raise urwid.ExitMainLoop

    loop.enter_idle(lambda: stop() if len(ran) == 2 else None)
    os.write(write, b"a")
    os.write(other_write, b"b")
    try:
        loop.run()
    finally:
        os.close(other_read)
        os.close(other_write)
    assert sorted(ran) == ["a", "b"]
