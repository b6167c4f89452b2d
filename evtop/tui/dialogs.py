"""The widgets that temporarily take over part of the screen: panes, prompts, questions.

None of them loops or blocks (celery's monitor read its prompt in a ``while 1`` inside
the draw thread): each is a widget plus the commands of its keymap context, and the app
pushes and pops them as layers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

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


def pane(title: str, lines: list[str]) -> tuple[urwid.Widget, urwid.ListBox]:
    """A scrollable text pane: long lines wrap, nothing is cut."""
    listbox = urwid.ListBox(urwid.SimpleFocusListWalker(_rows(lines)))
    heading = urwid.AttrMap(urwid.Text(f" {title}  (Esc or q: close)", wrap="clip"), "pane.title")
    return urwid.Frame(listbox, header=heading), listbox


def _rows(lines: list[str]) -> list[urwid.Text]:
    return [RowText(line or " ") for line in lines] or [urwid.Text("")]


def refill(listbox: urwid.ListBox, lines: list[str]) -> None:
    """New lines in a pane (answers came in), the reader's place kept."""
    walker = cast(urwid.SimpleFocusListWalker, listbox.body)
    focus = walker.focus if len(walker) else 0
    walker[:] = _rows(lines)
    walker.set_focus(min(focus or 0, len(walker) - 1))


def question(text: str) -> urwid.Widget:
    """A yes/no question at the bottom; No is the default, as a careful tool does.

    It wraps instead of clipping: a question names the task, its worker and state, and
    none of that may be cut off on a narrow terminal.
    """
    return urwid.AttrMap(urwid.Text(f"{text} [y/N]"), "dialog")


def prompt(caption: str, initial: str = "") -> tuple[urwid.Widget, urwid.Edit]:
    edit = urwid.Edit(caption, initial, wrap="clip")
    return urwid.AttrMap(edit, "dialog.edit"), edit


def typed_question(text: str, words: Sequence[str]) -> tuple[urwid.Widget, urwid.Edit]:
    """A question answered by typing one of ``words``: for what cannot be undone
    (terminate, shutdown)."""
    edit = urwid.Edit(f"type {' or '.join(words)} and Enter to confirm, Esc cancels: ", wrap="clip")
    widget = urwid.Pile([urwid.AttrMap(urwid.Text(text), "dialog"), urwid.AttrMap(edit, "dialog.edit")])
    return widget, edit
