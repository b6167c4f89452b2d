"""The screen below the smallest usable size: a plain notice instead of a mangled table.

Below it the header, the column titles and the key line leave no row for a task, and a
question or a prompt could not show what it asks. The notice says which size is needed;
keys still work (``q`` quits), and the full screen returns when the terminal grows.
"""

from __future__ import annotations

import urwid

#: Columns and rows evtop needs: the task name, state and runtime columns, and two task
#: rows below the six lines of chrome.
MIN_COLS = 30
MIN_ROWS = 8


def too_small(cols: int, rows: int) -> bool:
    return cols < MIN_COLS or rows < MIN_ROWS


class SizeGuard(urwid.WidgetWrap[urwid.Widget]):
    """Renders ``widget``, or the notice when the terminal is too small for it."""

    def render(self, size: tuple[int, int], focus: bool = False) -> urwid.Canvas:  # type: ignore[override]
        cols, rows = size
        if not too_small(cols, rows):
            return super().render(size, focus)
        lines = ["terminal too small", f"{cols}x{rows}, need {MIN_COLS}x{MIN_ROWS}", "q quits"]
        notice = urwid.Pile([urwid.Text(line, align="center", wrap="ellipsis") for line in lines])
        return urwid.Filler(notice, valign="middle").render(size, focus=False)
