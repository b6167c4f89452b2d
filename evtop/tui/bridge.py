"""Hand work from other threads to the UI thread: urwid is single-threaded.

Control replies arrive on worker threads; they post a callback here and the UI thread
runs it. ``wake`` (urwid's ``watch_pipe`` write end in the app) makes the loop notice at
once instead of at the next refresh tick.
"""

from __future__ import annotations

import contextlib
import os
import queue
from collections.abc import Callable


class Bridge:
    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._wake_fd: int | None = None

    def attach(self, wake_fd: int) -> None:
        self._wake_fd = wake_fd

    def post(self, call: Callable[[], None]) -> None:
        """From any thread: run ``call`` on the UI thread soon."""
        self._calls.put(call)
        if self._wake_fd is not None:
            with contextlib.suppress(OSError):  # the loop is gone: drain() at exit still runs it
                os.write(self._wake_fd, b"x")

    def drain(self) -> int:
        """On the UI thread: run what was posted; returns how many calls ran."""
        count = 0
        while True:
            try:
                call = self._calls.get_nowait()
            except queue.Empty:
                return count
            call()
            count += 1
