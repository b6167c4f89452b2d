"""The workflow tree pane (``w``): a live view of :func:`evtop.view.tree.workflow`.

Rebuilt from State on each refresh, so a running chain's states change in place, the
focus staying on its task; a huge workflow, whose reading holds State's lock for a while,
is rebuilt less often. The control keys act on the focused task and its subtree.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import urwid

from evtop.events.state import State
from evtop.text.sanitize import sanitize
from evtop.tui.dialogs import list_pane, pane_rows
from evtop.tui.palette import STYLE_NAMES
from evtop.tui.table import SELECTED
from evtop.view.tree import Node, Workflow, heading, line, workflow

#: Nodes drawn at most: a group of 100,000 tasks is counted whole but not drawn whole.
MAX_DRAWN = 5000
#: At most this share of the time goes to rebuilding the tree: a workflow of 100,000
#: tasks takes a while to read, and State is locked meanwhile.
REBUILD_SHARE = 0.2
#: The focused line is what c and x act on: it is drawn as a selected table row.
_FOCUS_MAP: dict[str | None, str] = {None: SELECTED, **dict.fromkeys(STYLE_NAMES, SELECTED)}


def _rows(lines: list[Any]) -> list[urwid.Widget]:
    return [urwid.AttrMap(row, None, focus_map=_FOCUS_MAP) for row in pane_rows(lines)]


class TreePane:
    def __init__(self, state: State, tree: Workflow, clock: Callable[[], float] = time.monotonic) -> None:
        self.state = state
        self.tree = tree
        self._clock = clock
        #: When the tree may be rebuilt next (see :data:`REBUILD_SHARE`).
        self._next = 0.0
        self.widget, self.listbox = list_pane(self._title(), [])
        cast(urwid.SimpleFocusListWalker, self.listbox.body)[:] = _rows(self._lines())
        self._focus(tree.position(tree.focus))

    def _title(self) -> str:
        return f"Workflow of {sanitize(self.tree.focus)}"

    def _lines(self) -> list[Any]:
        tree = self.tree
        lines: list[Any] = [*heading(tree)]
        lines += [line(node, tree.focus) for node in tree.nodes[:MAX_DRAWN]]
        if len(tree.nodes) > MAX_DRAWN:
            lines.append(f"... and {len(tree.nodes) - MAX_DRAWN} more tasks (counted above, not drawn)")
        return lines

    @property
    def _offset(self) -> int:
        return len(heading(self.tree))

    def _focus(self, index: int | None) -> None:
        if index is not None and index < MAX_DRAWN:
            self.listbox.focus_position = self._offset + index

    def selected(self) -> tuple[str, tuple[Node, ...]]:
        """What the keys act on: the focused task and its subtree, or on a heading line
        the whole tree."""
        index = self.listbox.focus_position - self._offset
        nodes = self.tree.nodes
        if not 0 <= index < min(len(nodes), MAX_DRAWN):
            return "the whole workflow", nodes
        node = nodes[index]
        what = f"the subtree of {sanitize(node.name) or '???'} {sanitize(node.uuid)}"
        return what, self.tree.subtree(index)

    def refresh(self) -> None:
        started = self._clock()
        if started < self._next:
            return
        focused = self.listbox.focus_position - self._offset
        nodes = self.tree.nodes
        keep = nodes[focused].uuid if 0 <= focused < min(len(nodes), MAX_DRAWN) else None
        tree = workflow(self.state, self.tree.focus)
        self._next = started + (self._clock() - started) / REBUILD_SHARE
        if tree is None or tree == self.tree:  # gone from memory: the last tree stays
            return
        self.tree = tree
        walker = cast(urwid.SimpleFocusListWalker, self.listbox.body)
        walker[:] = _rows(self._lines())
        self._focus(tree.position(keep) if keep is not None else None)
