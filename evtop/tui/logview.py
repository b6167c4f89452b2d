"""Log records while the screen is up: on the message line, then on stderr after exit.

A log line written to the terminal under urwid would scribble over the screen. While
the TUI runs, the handlers that write to the terminal are swapped for one that keeps
the records and shows the newest on the message line; when the TUI ends the records
are written where they would have gone, so nothing logged is lost.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterator
from typing import TextIO

#: Records kept for after exit; older ones are counted, not kept.
KEEP = 500


class ScreenLog(logging.Handler):
    def __init__(self, show: Callable[[str, bool], None], formatter: logging.Formatter | None) -> None:
        super().__init__()
        self.show = show
        self.setFormatter(formatter)
        self.lines: deque[str] = deque(maxlen=KEEP)
        self.emitted = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # never let a bad record take the screen down
            self.handleError(record)
            return
        self.lines.append(text)
        self.emitted += 1
        self.show(text.splitlines()[0] if text else "", record.levelno >= logging.WARNING)


@contextlib.contextmanager
def logs_on_screen(terminal: TextIO, show: Callable[[str, bool], None]) -> Iterator[ScreenLog | None]:
    """Swap the root handlers writing to ``terminal`` for a :class:`ScreenLog`."""
    root = logging.getLogger()
    swapped = [h for h in root.handlers if getattr(h, "stream", None) is terminal]
    if not swapped:  # --logfile: logs already go elsewhere
        yield None
        return
    screen_log = ScreenLog(show, swapped[0].formatter)
    for handler in swapped:
        root.removeHandler(handler)
    root.addHandler(screen_log)
    try:
        yield screen_log
    finally:
        root.removeHandler(screen_log)
        for handler in swapped:
            root.addHandler(handler)
        lost = screen_log.emitted - len(screen_log.lines)
        if lost:
            terminal.write(f"evtop: {lost} earlier log records were not kept\n")
        for line in screen_log.lines:
            terminal.write(line + "\n")
        terminal.flush()
