"""The widgets that temporarily take over part of the screen: panes, prompts, questions.

None of them loops or blocks (celery's monitor read its prompt in a ``while 1`` inside
the draw thread): each is a widget plus the commands of its keymap context, and the app
pushes and pops them as layers.
"""

from __future__ import annotations

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
    #: Brings the layer up to date with State on each refresh (a live pane), if any.
    refresh: Callable[[], None] | None = None


def pane_rows(lines: Sequence[Any]) -> list[urwid.Text]:
    """One focusable line per text or markup (``[(style, text), ...]``) line."""
    return [RowText(line or " ") for line in lines] or [urwid.Text("")]


def pane(title: str, lines: Sequence[Any]) -> tuple[urwid.Widget, urwid.ListBox]:
    """A scrollable text pane: long lines wrap, nothing is cut."""
    listbox = urwid.ListBox(urwid.SimpleFocusListWalker(pane_rows(lines)))
    heading = urwid.AttrMap(urwid.Text(f" {title}  (Esc or q: close)", wrap="clip"), "pane.title")
    return urwid.Frame(listbox, header=heading), listbox


def question(text: str, choices: str = "y/N") -> urwid.Widget:
    """A yes/no question at the bottom; No is the default, as a careful tool does.

    It wraps instead of clipping: a question names the task, its worker and state, and
    none of that may be cut off on a narrow terminal.
    """
    return urwid.AttrMap(urwid.Text(f"{text} [{choices}]"), "dialog")


def prompt(caption: str, initial: str = "") -> tuple[urwid.Widget, urwid.Edit]:
    edit = urwid.Edit(caption, initial, wrap="clip")
    return urwid.AttrMap(edit, "dialog.edit"), edit


def typed_question(text: str, word: str) -> tuple[urwid.Widget, urwid.Edit]:
    """A question answered by typing ``word``: for what cannot be undone (terminate)."""
    edit = urwid.Edit(f"type {word} and Enter to confirm, Esc cancels: ", wrap="clip")
    widget = urwid.Pile([urwid.AttrMap(urwid.Text(text), "dialog"), urwid.AttrMap(edit, "dialog.edit")])
    return widget, edit
