"""Whose turn it is to run Python: the UI thread whenever it has work, else the events.

The event thread and urwid's thread share one interpreter lock. A thread that wants the
lock waits up to the switch interval (5 ms), then asks the holder to let go; but each
time the holder lets go briefly and takes it straight back (every read of the event
source: a replay reads a file thousands of times a second, a broker a socket), the
waiting thread wakes, finds the lock taken again, and its wait starts over. Under a
flood the UI thread so waited up to seconds for the lock after a key arrived, and again
after each of its own system calls (urwid's loop made a new selector, five or more calls,
every turn): 10% of the keys took over 200 ms.

So the two take turns explicitly. :class:`Loop` (urwid's select loop, with one selector
kept across turns) tells :class:`Turns` when the UI thread goes to sleep and when it
wakes; the event thread calls :meth:`Turns.paced`'s wrapper for every event, which,
whenever the UI thread is awake (or about to wake: an alarm due, input waiting), waits
until it sleeps again. The UI thread's work is bounded by the loop's own budgets (a
refresh, a step of catching up: at most half the time); when one turn of it runs longer
than :data:`GIVE_MOST`, the events get as long again before they give way again, so a
slow key (a filter over a million tasks) shares the time instead of stopping the
events.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import math
import select
import selectors
import threading
import time
from collections.abc import Callable
from typing import Any

import urwid

#: Events between two looks at the UI's alarm and input (a system call): about a
#: millisecond of a flood. While the UI thread is awake, every event looks.
CHECK_EVERY = 64
#: Seconds the event thread waits for one turn of the UI thread at most.
GIVE_MOST = 0.05
_READY = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR


class Turns:
    """The hand-over between the UI thread (:meth:`sleeping`, :meth:`waking`) and the
    event thread (:meth:`paced`)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, give_most: float = GIVE_MOST) -> None:
        self._clock = clock
        self.give_most = give_most
        #: How many times the events gave way.
        self.gave_way = 0
        self._turn = threading.Condition(threading.Lock())
        #: The UI thread is running (not waiting in its selector). It starts awake.
        self.awake = True
        #: How many times the UI thread went to sleep: a wait ends when this moves.
        self.sleeps = 0
        #: When the sleeping UI thread's next alarm is due, and what input wakes it.
        self._due = math.inf
        self._fds: tuple[int, ...] = ()
        self._polled: tuple[int, ...] | None = None
        self._poll = select.poll()
        #: The events' turn lasts until then (the UI thread took long).
        self._free_until = -math.inf

    # -- the UI thread -------------------------------------------------------------------

    def sleeping(self, timeout: float | None, fds: tuple[int, ...]) -> None:
        """The UI thread waits for ``fds`` or ``timeout`` seconds (None: no alarm)."""
        with self._turn:
            self._due = math.inf if timeout is None else self._clock() + timeout
            self._fds = fds
            self.awake = False
            self.sleeps += 1
            self._turn.notify_all()

    def waking(self) -> None:
        self.awake = True

    # -- the event thread ----------------------------------------------------------------

    def paced(self, handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """``handler``, giving way to the UI thread before an event when it has work."""
        countdown = CHECK_EVERY
        clock = self._clock

        def handle(event: Any) -> Any:
            nonlocal countdown
            if self.awake:
                if clock() >= self._free_until:
                    self._give_way()
            else:
                countdown -= 1
                if not countdown:
                    countdown = CHECK_EVERY
                    if clock() >= self._due or self._input():
                        self._give_way()
            return handler(event)

        return handle

    def _input(self) -> bool:
        """Whether input waits for the sleeping UI thread (which is then waking up)."""
        fds = self._fds
        if fds is not self._polled:
            self._poll = select.poll()
            for fd in fds:
                self._poll.register(fd, select.POLLIN | select.POLLPRI)
            self._polled = fds
        return any(flags & _READY for _, flags in self._poll.poll(0))

    def _give_way(self) -> None:
        """Wait until the UI thread sleeps again; if it is still at work after
        :attr:`give_most` seconds, the events run as long before giving way again."""
        self.gave_way += 1
        with self._turn:
            sleeps = self.sleeps
            done = self._turn.wait_for(lambda: self.sleeps != sleeps, self.give_most)
        if not done:
            self._free_until = self._clock() + self.give_most


class Loop(urwid.EventLoop):
    """urwid's select loop, with its selector kept from one turn to the next (urwid's own
    registers every file anew each turn: five or more system calls, each a chance for the
    event thread to take the interpreter lock), telling ``turns`` when it sleeps."""

    def __init__(
        self,
        turns: Turns | None = None,
        clock: Callable[[], float] = time.monotonic,
        selector: selectors.BaseSelector | None = None,
    ) -> None:
        super().__init__()
        self.turns = turns
        self._clock = clock
        self._alarms: list[tuple[float, int, Callable[[], Any]]] = []
        self._ties = itertools.count()
        self._watched: dict[int, Callable[[], Any]] = {}
        self._fds: tuple[int, ...] = ()
        self._idle: dict[int, Callable[[], Any]] = {}
        self._idle_handles = itertools.count(1)
        self._selector = selector if selector is not None else selectors.DefaultSelector()
        self._did_something = True

    def alarm(self, seconds: float, callback: Callable[[], Any]) -> tuple[float, int, Callable[[], Any]]:
        handle = (self._clock() + seconds, next(self._ties), callback)
        heapq.heappush(self._alarms, handle)
        return handle

    def remove_alarm(self, handle: Any) -> bool:
        try:
            self._alarms.remove(handle)
        except ValueError:
            return False
        heapq.heapify(self._alarms)
        return True

    def watch_file(self, fd: Any, callback: Callable[[], Any]) -> int:
        fd = fd if isinstance(fd, int) else fd.fileno()
        if fd in self._watched:
            self._selector.modify(fd, selectors.EVENT_READ, callback)
        else:
            self._register(fd, callback)
        self._watched[fd] = callback
        self._fds = tuple(self._watched)
        return fd

    def _register(self, fd: int, callback: Callable[[], Any]) -> None:
        try:
            self._selector.register(fd, selectors.EVENT_READ, callback)
        except OSError as exc:  # EINVAL: kqueue refuses /dev/tty on macOS; select takes it
            if exc.errno != errno.EINVAL or isinstance(self._selector, selectors.SelectSelector):
                raise
            self._selector.close()
            self._selector = selectors.SelectSelector()
            for watched, call in self._watched.items():
                self._selector.register(watched, selectors.EVENT_READ, call)
            self._selector.register(fd, selectors.EVENT_READ, callback)

    def remove_watch_file(self, handle: int) -> bool:
        if self._watched.pop(handle, None) is None:
            return False
        with contextlib.suppress(KeyError, ValueError, OSError):  # already closed
            self._selector.unregister(handle)
        self._fds = tuple(self._watched)
        return True

    def enter_idle(self, callback: Callable[[], Any]) -> int:
        handle = next(self._idle_handles)
        self._idle[handle] = callback
        return handle

    def remove_enter_idle(self, handle: int) -> bool:
        return self._idle.pop(handle, None) is not None

    def run(self) -> None:
        """Until a callback raises :class:`urwid.ExitMainLoop` (or anything else)."""
        try:
            with contextlib.suppress(urwid.ExitMainLoop):
                self._did_something = True
                while True:
                    with contextlib.suppress(InterruptedError):
                        self._turn()
        finally:
            if self.turns is not None:  # the events need not wait for a loop that is gone
                self.turns.sleeping(None, ())

    def _turn(self) -> None:
        """One turn, as urwid's select loop: wait for input or the next alarm; when a
        wait finds nothing after something was done, the idle callbacks (the draw)."""
        idle = False
        timeout: float | None = None
        if self._alarms or self._did_something:
            timeout = max(self._alarms[0][0] - self._clock(), 0.0) if self._alarms else 0.0
            if self._did_something and (not self._alarms or timeout > 0):
                timeout, idle = 0.0, True
        if timeout == 0 or self.turns is None:
            ready = self._selector.select(timeout)
        else:
            self.turns.sleeping(timeout, self._fds)
            try:
                ready = self._selector.select(timeout)
            finally:
                self.turns.waking()
        if not ready and idle:
            for on_idle in list(self._idle.values()):
                on_idle()
            self._did_something = False
        for key, _ in ready:
            watch = self._watched.get(key.fd)
            if watch is not None and watch is key.data:  # not removed by a callback before
                watch()
                self._did_something = True
        if self._alarms and self._alarms[0][0] <= self._clock():
            heapq.heappop(self._alarms)[2]()
            self._did_something = True
