"""``evtop`` with no mode flag: run the live TUI until the user quits.

Threads: the event source runs in the background and writes State (under its lock);
control calls run on their own threads; urwid owns the main thread. The terminal is
restored however the loop ends (``q``, Ctrl-C, SIGTERM, SIGHUP or an error), because
urwid's ``MainLoop.run`` stops the screen in a ``finally``. Ctrl-C exits with status 130,
as shells expect of an interrupted command; the other ways out with 0.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import urwid

from evtop.broker.queues import QueueReading, sampled_from
from evtop.control.queuewatch import QueueWatch
from evtop.env import Environment
from evtop.errors import EvtopError, ExitStatus, UsageError
from evtop.options import Options, Source
from evtop.runner import Liveness, event_stream, new_state
from evtop.tui.actions import ACTIONS
from evtop.tui.app import App
from evtop.tui.bridge import Bridge
from evtop.tui.control_runner import ControlRunner
from evtop.tui.logview import logs_on_screen
from evtop.tui.palette import PALETTE
from evtop.tui.turns import Loop, Turns
from evtop.view.queues import QueueBoard
from evtop.view.taskrows import TaskRows

logger = logging.getLogger(__name__)

#: Seconds between refreshes of the table (events are applied as they arrive)...
REFRESH = 0.5
#: ... but at most this share of the time goes to refreshing, so that under a flood the
#: screen is drawn less often instead of starving events. A refresh mostly costs the
#: tasks changed since the last one, which spacing refreshes does not reduce, while one
#: refresh of a bigger batch holds keys up for longer: replaying a flood in process, 0.5
#: against 0.2 ingested as fast (60,000 against 56,000 events/s) and halved the longest
#: refresh (140 against 300 ms).
REFRESH_SHARE = 0.5
#: Seconds from the last key to what the keys deferred (the filter typed so far): at
#: least long enough for the loop to draw first, so a typed key shows at once; at most
#: the pause that counts as the typing stopping. See :class:`_Settler`.
SETTLE_AFTER = 0.001
SETTLE_MOST = 0.3
#: Seconds of row updates per refresh (at a million tasks, with the screen's own cost,
#: a frame within 10 ms)...
SYNC_BUDGET = 0.003
#: ... and per step of catching up after it, between two looks at the keys: the loop
#: redraws after each step, so shorter steps cost ingest more than they save keys.
CATCH_UP_BUDGET = 0.02


#: At least this long before catching up, so the loop goes idle and draws first (an
#: alarm already due runs before the draw): a key's effect is on screen before the work
#: it leaves (the whole index of an order shown by its first rows) is done.
DRAW_FIRST = 0.003


def _pause_after(spent: float) -> float:
    """Time to leave to the event thread after ``spent`` seconds of catching up, so that
    refreshing takes :data:`REFRESH_SHARE` of the time at most."""
    return spent * (1 - REFRESH_SHARE) / REFRESH_SHARE


NO_TERMINAL = "the live TUI needs a terminal on stdin and stdout; use --dump to stream events to a pipe"


def _control(options: Options, bridge: Bridge) -> tuple[ControlRunner | None, str]:
    if options.source is Source.REPLAY:
        return None, "remote control is off while replaying a recording: there are no workers to send to"
    if options.source is Source.DEMO:
        return None, "the demo cluster is simulated and does not answer remote control"
    from evtop.control.client import Control

    return ControlRunner(Control(options.broker, read_only=options.read_only), bridge), ""


def _queues(options: Options, bridge: Bridge) -> tuple[QueueBoard, QueueWatch | None]:
    """The queue screen's board, and the watch that reads the broker for it (None when
    there is no broker to read: the board says why)."""
    if options.source is Source.REPLAY:
        return QueueBoard("a recording holds events, not the broker's queues; run evtop on the broker"), None
    if options.source is Source.DEMO:
        return QueueBoard("the demo cluster is simulated and has no broker queues to read"), None
    board = QueueBoard(source=sampled_from(options.broker))

    def deliver(reading: QueueReading) -> None:  # on the watch's thread
        bridge.post(lambda: board.take(reading))

    return board, QueueWatch(options.broker, deliver, read_only=options.read_only)


def run_tui(options: Options, env: Environment) -> int:
    if not (env.stdin_isatty and env.stdout_isatty):
        raise UsageError(NO_TERMINAL)
    liveness = Liveness(options)
    state = new_state(options, liveness)
    rows = TaskRows(state)
    stop = threading.Event()
    bridge = Bridge()
    runner, no_control = _control(options, bridge)
    queues, watch = _queues(options, bridge)
    turns = Turns()  # the UI thread runs first whenever it has work (see evtop.tui.turns)
    with event_stream(options, turns.paced(rows.feed), liveness=liveness) as (ingest, source):
        app = App(
            state,
            ingest.stats,
            source.status,
            replay=options.source is Source.REPLAY,
            runner=runner,
            read_only=options.read_only,
            no_control=no_control,
            bridge=bridge,
            actions=ACTIONS,
            rows=rows,
            health=ingest.health,
            queues=queues,
            watch_queues=watch.wanted if watch is not None else None,
            zone=options.shown_zone(env.environ),
            terminal=_terminal_writer(env),
        )

        failures: list[EvtopError] = []

        def feed() -> None:
            try:
                source.run(stop)
            except EvtopError as exc:  # a refusal no retry can fix: leave, then say why
                failures.append(exc)
                bridge.post(lambda: setattr(app, "done", True))
                return
            if not stop.is_set():  # the recording ended: keep the final state on screen
                bridge.post(lambda: setattr(app, "ended", True))

        def show(text: str, warning: bool) -> None:  # from any thread
            bridge.post(lambda: app.say(text, error=warning))

        with logs_on_screen(env.stderr, show):
            thread = threading.Thread(target=feed, name="evtop-source", daemon=True)
            thread.start()
            try:
                _loop(app, env, options, turns)
            finally:
                stop.set()
                if watch is not None:
                    watch.stop()
                thread.join(timeout=10)
    if failures:
        raise failures[0]
    return ExitStatus.INTERRUPTED if app.interrupted else ExitStatus.OK


def _terminal_writer(env: Environment) -> Callable[[str], None]:
    """Writes a control sequence straight to the terminal, between two draws."""

    def write(sequence: str) -> None:
        env.stdout.write(sequence)
        env.stdout.flush()

    return write


def _loop(app: App, env: Environment, options: Options, turns: Turns) -> None:
    screen = urwid.display.raw.Screen(input=env.stdin, output=env.stdout)
    if not options.color:
        screen.set_terminal_properties(colors=1)
    catching = _CatchingUp(app)
    settler = _Settler(app, lambda: catching.after(0.0))
    loop = urwid.MainLoop(
        app.root,
        PALETTE,
        screen=screen,
        event_loop=Loop(turns),
        handle_mouse=options.mouse,
        input_filter=_keys(app, screen, options.mouse, lambda: after_keys()),
    )
    settler.loop = catching.loop = loop
    app.bridge.attach(loop.watch_pipe(lambda _data: _drain(app)))

    def tick(loop: urwid.MainLoop, _data: object) -> None:
        _drain(app)
        app.size = screen.get_cols_rows()
        started = time.monotonic()
        with _survive("refreshing the screen"):
            app.refresh(SYNC_BUDGET)
        settle_garbage()
        spent = time.monotonic() - started
        loop.set_alarm_in(max(REFRESH, spent / REFRESH_SHARE), tick)
        catching.after(spent)

    def after_keys() -> None:
        """What the keys left: the filter typed (once the typing pauses), the rest of an
        order shown by its first rows (once the screen is drawn)."""
        if app.deferred:
            settler.soon()
        catching.after(0.0)

    loop.set_alarm_in(0, tick)
    # Ctrl-C is a key while urwid has the terminal; a SIGINT from elsewhere (kill -INT)
    # arrives as KeyboardInterrupt. Either way the exit status is 130.
    with _quit_on_signals(app, loop):
        try:
            loop.run()
        except KeyboardInterrupt:
            app.interrupted = True


def settle_garbage() -> None:
    """Freeze every object that survived to this refresh, so no collection scans it again.

    Python's full collections rescan every object held: with 100,000 tasks a pause of
    0.4 s every few seconds under load and a third of the ingest time, seconds at a
    million. Frozen objects are still freed by reference counting, and the automatic
    collections go on over the younger ones. A reference cycle among frozen objects is
    never collected: ingesting and refreshing leave none (200,000 events replayed: 0),
    a closed pane a few objects per key press.
    """
    gc.freeze()


@contextmanager
def _survive(doing: str) -> Iterator[None]:
    """A bug in one key or one refresh is reported on the message line, not fatal:
    the monitor is what an operator has open during an incident."""
    try:
        yield
    except urwid.ExitMainLoop:
        raise
    except Exception:
        logger.exception("internal error while %s (evtop keeps running)", doing)


def _drain(app: App) -> bool:
    with _survive("handling a reply"):
        app.bridge.drain()
    if app.done:
        raise urwid.ExitMainLoop
    return True


Keys = list[str | tuple[str, int, int, int]]


class _CatchingUp:
    """Steps of the work refreshes and keys left (:meth:`App.catch_up`: rows left behind
    by a budgeted refresh, a filter's pass, freeing what the rows dropped), each an alarm,
    so the loop reads keys before each step; the next refresh shows the rows. A step is
    set only while work waits (:attr:`App.behind`): once none does, the loop sleeps until
    the next refresh, and an idle screen costs no CPU. After a step the loop leaves the
    event thread its share of the time (:func:`_pause_after`). Leaving the loop leaves
    what waits: the process lets go of everything at its exit anyway."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.loop: urwid.MainLoop | None = None
        self._alarm: object | None = None

    def after(self, spent: float) -> None:
        """Set the next step, if work waits, after ``spent`` seconds of work just done."""
        loop = self.loop
        assert loop is not None
        if self._alarm is not None:
            loop.remove_alarm(self._alarm)
            self._alarm = None
        if self.app.behind:
            self._alarm = loop.set_alarm_in(max(_pause_after(spent), DRAW_FIRST), self._step)

    def _step(self, _loop: urwid.MainLoop, _data: object) -> None:
        self._alarm = None
        started = time.monotonic()
        with _survive("refreshing the screen"):
            self.app.catch_up(CATCH_UP_BUDGET)
        settle_garbage()
        self.after(time.monotonic() - started)


class _Settler:
    """Does what typed keys deferred (:meth:`App.settle`) once the typing pauses, then
    ``after`` (the work it left: a filter's pass over many rows, between frames).

    It waits after the last key as long as the last settling took, within
    [:data:`SETTLE_AFTER`, :data:`SETTLE_MOST`]: a cheap filter follows every key, while
    one that takes long (a hundred thousand tasks) waits for a pause instead of holding
    up each key typed, whose text always shows first.
    """

    def __init__(
        self, app: App, after: Callable[[], None], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self.after = after
        self.clock = clock
        self.loop: urwid.MainLoop | None = None
        self._alarm: object | None = None
        self._took = 0.0

    def soon(self) -> None:
        loop = self.loop
        assert loop is not None
        if self._alarm is not None:
            loop.remove_alarm(self._alarm)
        self._alarm = loop.set_alarm_in(min(max(self._took, SETTLE_AFTER), SETTLE_MOST), self._settle)

    def _settle(self, _loop: urwid.MainLoop, _data: object) -> None:
        self._alarm = None
        started = self.clock()
        with _survive("applying what was typed"):
            self.app.settle()
        self._took = self.clock() - started
        self.after()


def _keys(
    app: App, screen: urwid.display.raw.Screen, mouse: bool, after: Callable[[], None]
) -> Callable[[Keys, list[int]], Keys]:
    def filter_keys(keys: Keys, _raw: list[int]) -> Keys:
        """Every key and mouse event goes to the app, then ``after`` (work the keys left
        for later: as-you-type filtering, the rest of a new order's index); a resize also
        goes on to the loop, which must learn the new size before it draws (swallowed, it
        drew the old size: a scrolled mess)."""
        app.size = screen.get_cols_rows()
        for key in keys:
            if isinstance(key, str):
                with _survive(f"handling the key {key!r}"):
                    app.press(key)
            elif mouse:  # with --no-mouse, a report the terminal sent anyway is ignored
                with _survive(f"handling the mouse event {key!r}"):
                    app.mouse(*key)
            if app.done:
                raise urwid.ExitMainLoop
        after()
        return ["window resize"] if "window resize" in keys else []

    return filter_keys


@contextmanager
def _quit_on_signals(app: App, loop: urwid.MainLoop) -> Iterator[None]:
    """SIGTERM and SIGHUP end the loop like ``q`` does, so the terminal is restored."""
    wake = loop.watch_pipe(lambda _data: _drain(app))

    def handler(_signum: int, _frame: object) -> None:
        app.done = True
        os.write(wake, b"q")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        os.close(wake)
