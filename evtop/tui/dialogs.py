"""The widgets that temporarily take over part of the screen: panes, prompts, questions.

None of them loops or blocks (celery's monitor read its prompt in a ``while 1`` inside
the draw thread): each is a widget plus the commands of its keymap context, and the app
pushes and pops them as layers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import urwid

from evtop.tui.table import RowText


@dataclass
class Layer:
    """A keymap context on top of the tables, with the widget that shows it."""

    context: str
    widget: urwid.Widget
    #: "body" replaces the table, "footer" replaces the bottom lines.
    place: str
    commands: dict[str, Callable[[], None]] = field(default_factory=dict)
    #: The list to move in with the navigation keys (panes), if any.
    listbox: urwid.ListBox | None = None
    #: What the layer is about, for the keys that act on it (a worker pane's hostname).
    subject: str = ""
    #: Brings the layer up to date with State on each refresh (a live pane), if any.
    refresh: Callable[[], None] | None = None


class ScrollBox(urwid.ListBox):
    """A pane's text, scrolled like ``less``: the keys move the view, not an unseen focus.

    The text is wrapped to the width drawn at, one row per screen line, and the focus
    stays on the top line shown: scrolling moves the top line and stops where the last
    line reaches the bottom, so nothing is out of reach at any height (a long value that
    wraps over more lines than the pane has included), and :meth:`position` says how much
    is below.
    """

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self._width = 0
        self.walker: urwid.SimpleFocusListWalker[RowText] = urwid.SimpleFocusListWalker([])
        super().__init__(self.walker)
        #: The size last drawn at: the keys scroll by what the user saw.
        self.size: tuple[int, int] = (80, 1)

    def _wrap(self) -> None:
        width = max(self.size[0], 1)
        if width == self._width:
            return
        top = self.focus_position if len(self.walker) else 0
        share = top / len(self.walker) if len(self.walker) else 0.0
        self._width = width
        rows = [RowText(row, wrap="clip") for line in self.lines for row in _wrapped(line or " ", width)]
        self.walker[:] = rows
        if rows:
            self.change_focus(self.size, min(round(share * len(rows)), len(rows) - 1), offset_inset=0)

    def render(self, size: tuple[int, int], focus: bool = False) -> urwid.Canvas:  # type: ignore[override]
        self.size = size
        self.scroll(0)  # wrapped anew after a resize, with no blank lines below the end
        return super().render(size, focus)

    def scroll(self, rows: int = 0, *, to: int | None = None) -> None:
        """Move the top line by ``rows``, or to line ``to`` (-1: the end)."""
        self._wrap()
        last = max(len(self.walker) - self.size[1], 0)
        if not len(self.walker):
            return
        target = (last if to < 0 else to) if to is not None else self.focus_position + rows
        self.change_focus(self.size, max(0, min(target, last)), offset_inset=0)

    def replace(self, lines: list[str]) -> None:
        """New lines (answers came in), the reader's place kept."""
        top = self.focus_position if len(self.walker) else 0
        self.lines = lines
        self._width = 0  # wrapped anew
        self.scroll(to=top)

    def page(self) -> int:
        """Lines to move for a page: the height, less one line kept for context."""
        return max(self.size[1] - 1, 1)

    def position(self) -> str:
        """``-- more -- 40%`` while more is below (the share read, as ``less`` says), else
        ``END`` (``all`` when it all fits)."""
        self._wrap()
        total = len(self.walker)
        top = self.focus_position if total else 0
        seen = top + self.size[1]
        if seen >= total:
            return "END" if top else "all"
        return f"-- more -- {seen * 100 // total}%"


class PaneView(urwid.WidgetWrap[urwid.Frame]):
    """A titled :class:`ScrollBox`; the title line says where the view is."""

    def __init__(self, title: str, box: ScrollBox) -> None:
        self.title = title
        self.box = box
        self.heading = urwid.Text("", wrap="clip")
        super().__init__(urwid.Frame(box, header=urwid.AttrMap(self.heading, "pane.title")))

    def render(self, size: tuple[int, int], focus: bool = False) -> urwid.Canvas:  # type: ignore[override]
        cols, rows = size
        self.box.size = (cols, max(rows - 1, 1))
        self.heading.set_text(f" {self.title}  [{self.box.position()}]  j/k PgDn: scroll, q: close")
        return super().render(size, focus)


#: The first gap of two or more spaces after text: a pane's ``label  value``, the help's
#: ``keys  what they do``.
_GAP = re.compile(r"\S {2,}(?=\S)")


def _wrapped(line: str, width: int) -> list[str]:
    """``line`` as the rows it takes at ``width``; a value that wraps goes on under its
    start, not under the label (unless the label takes half the width)."""
    gap = _GAP.search(line)
    indent = gap.end() if gap else 0
    label = urwid.calc_width(line, 0, indent)
    if not indent or label > width // 2:
        return _rows(line, width)
    value = _rows(line[indent:], width - label)
    return [line[:indent] + value[0], *(" " * label + row for row in value[1:])]


def _rows(text: str, width: int) -> list[str]:
    return [row.decode("utf-8").rstrip() or " " for row in urwid.Text(text).render((width,)).text]


def pane(title: str, lines: list[str]) -> tuple[urwid.Widget, ScrollBox]:
    """A scrollable text pane: long lines wrap, nothing is cut."""
    box = ScrollBox(lines)
    return PaneView(title, box), box


def pane_rows(lines: Sequence[Any]) -> list[urwid.Text]:
    """One focusable line per text or markup (``[(style, text), ...]``) line."""
    return [RowText(line or " ") for line in lines] or [urwid.Text("")]


def _titled(listbox: urwid.ListBox, heading: str) -> tuple[urwid.Widget, urwid.ListBox]:
    """``listbox`` under a title line; the list too, for the caller to read and move its
    focus."""
    title = urwid.AttrMap(urwid.Text(f" {heading}", wrap="clip"), "pane.title")
    return urwid.Frame(listbox, header=title), listbox


def list_pane(title: str, lines: Sequence[Any]) -> tuple[urwid.Widget, urwid.ListBox]:
    """A pane whose lines are picked one at a time (a workflow tree's tasks): the keys move
    the selection, which the actions read, where :func:`pane` scrolls text."""
    listbox = urwid.ListBox(urwid.SimpleFocusListWalker(pane_rows(lines)))
    return _titled(listbox, f"{title}  (Esc or q: close)")


def menu(title: str, entries: list[str], current: int, note: str) -> tuple[urwid.Widget, urwid.ListBox]:
    """A list to pick one entry from, the focused one highlighted, ``current`` focused;
    ``note`` says what picking does."""
    rows = [urwid.AttrMap(RowText(f" {entry}"), None, focus_map="row.selected") for entry in entries]
    listbox = urwid.ListBox(urwid.SimpleFocusListWalker(rows))
    if rows:
        listbox.focus_position = current
    return _titled(listbox, f"{title}  ({note}, Esc: close)")


def question(text: str, choices: str = "y/N") -> urwid.Widget:
    """A yes/no question at the bottom; No is the default, as a careful tool does.

    It wraps instead of clipping: a question names the task, its worker and state, and
    none of that may be cut off on a narrow terminal.
    """
    return urwid.AttrMap(urwid.Text(f"{text} [{choices}]"), "dialog")


def prompt(caption: str, initial: str = "") -> tuple[urwid.Widget, urwid.Edit]:
    edit = urwid.Edit(caption, initial, wrap="clip")
    return urwid.AttrMap(edit, "dialog.edit"), edit


def typed_question(text: str, words: Sequence[str]) -> tuple[urwid.Widget, urwid.Edit]:
    """A question answered by typing one of ``words``: for what cannot be undone
    (terminate, shutdown)."""
    edit = urwid.Edit(f"type {' or '.join(words)} and Enter to confirm, Esc cancels: ", wrap="clip")
    widget = urwid.Pile([urwid.AttrMap(urwid.Text(text), "dialog"), urwid.AttrMap(edit, "dialog.edit")])
    return widget, edit
