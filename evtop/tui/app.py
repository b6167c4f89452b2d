"""The TUI's model-view glue: the frame, the layers, key dispatch and the refresh.

The event thread only ever writes State (through :meth:`TaskRows.feed
<evtop.view.taskrows.TaskRows.feed>`, which notes the tasks each event changed); this
object, on the UI thread, brings the rows up to date once per refresh (:meth:`TaskRows.sync
<evtop.view.taskrows.TaskRows.sync>`, the changed tasks only) and redraws what changed on
screen, nothing when nothing did. Keys go through
:func:`~evtop.tui.keymap.command_for` to the top layer's commands or to the action table
the mode hands in (:data:`~evtop.tui.actions.ACTIONS`: the actions act on this object, so
it must not import them); only keys the keymap does not know reach widgets (text typed
into a prompt).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import urwid

from evtop.broker.status import ConnectionStatus
from evtop.events.state import State
from evtop.events.stats import IngestStats
from evtop.tui.bridge import Bridge
from evtop.tui.control_runner import ControlRunner
from evtop.tui.dialogs import Layer
from evtop.tui.guard import SizeGuard, too_small
from evtop.tui.keymap import command_for, hints
from evtop.tui.table import Line, RowWalker, header_markup
from evtop.view.sheet import Table
from evtop.view.summary import UNSEEN_WORK_HINT, Counts, UnseenWork, counts_text, source_text
from evtop.view.taskrows import TaskRows
from evtop.view.viewstate import Screen, ViewState, sheet_for

#: Rows taken by the lines around the table: source, counts, view, column titles; message, keys.
CHROME_ROWS = 6


class App:
    def __init__(
        self,
        state: State,
        stats: IngestStats,
        status: ConnectionStatus,
        *,
        replay: bool = False,
        runner: ControlRunner | None = None,
        read_only: bool = False,
        no_control: str = "remote control is not available here",
        bridge: Bridge | None = None,
        clock: Callable[[], float] = time.time,
        actions: Mapping[str, Callable[[App], None]],
        rows: TaskRows | None = None,
    ) -> None:
        """``rows``: the rows whose :meth:`~TaskRows.feed` the event source calls (events
        applied to ``state`` some other way are caught up with a full scan)."""
        self.state = state
        self.rows = rows if rows is not None else TaskRows(state)
        self.stats = stats
        self.status = status
        self.replay = replay
        self.runner = runner
        self.read_only = read_only
        #: Said when a control key is pressed but ``runner`` is None (replay, demo).
        self.no_control = no_control
        self.bridge = bridge or Bridge()
        self.clock = clock
        #: Command id -> what it does: the keymap's commands that no layer handles.
        self.actions = actions
        self.view = ViewState()
        self.size: tuple[int, int] = (80, 24)
        #: The event source ended by itself (end of a replayed file).
        self.ended = False
        #: The user asked to quit.
        self.done = False
        self.layers: list[Layer] = []
        self._rate_mark = (clock(), state.event_count)
        self._rate = 0.0
        self._unseen_work = UnseenWork()
        self.source_line = Line()
        self.counts_line = Line()
        self.view_line = Line()
        self.columns_line = Line()
        self.message_line = Line()
        self.hints_line = Line(hints())
        self.rows.sync()
        self.table: Table[Any] = sheet_for(Screen.TASKS).table(self.rows, clock(), self.view.order, "")
        self.walker = RowWalker(self.table, self.size[0])
        self.listbox = urwid.ListBox(self.walker)
        header = urwid.Pile(
            [
                urwid.AttrMap(self.source_line, "header"),
                urwid.AttrMap(self.counts_line, "header.dim"),
                urwid.AttrMap(self.view_line, "header"),
                urwid.AttrMap(self.columns_line, "columns"),
            ]
        )
        self.footer = urwid.Pile(
            [urwid.AttrMap(self.message_line, "message"), urwid.AttrMap(self.hints_line, "footer")]
        )
        #: ``Any``: urwid types Frame by its initial parts, but layers swap them.
        self.frame: Any = urwid.Frame(self.listbox, header=header, footer=self.footer)
        #: What the main loop draws: the frame, or a notice on a terminal too small for it.
        self.root = SizeGuard(self.frame)

    # -- keys ----------------------------------------------------------------------------

    @property
    def context(self) -> str:
        return self.layers[-1].context if self.layers else self.view.screen.value

    def press(self, key: str) -> None:
        """One key press: a keymap command, or else the focused widget's (prompt typing)."""
        if key == "window resize":
            self.refresh()
            return
        command = command_for(self.context, key)
        if too_small(*self.size):  # nothing is chosen or sent blind
            if self.layers:
                self.pop()
            elif command == "quit":
                self.actions[command](self)
            return
        if command is None:
            top = self.layers[-1] if self.layers else None
            if top is not None and top.context == "prompt":
                self.frame.keypress(self.size, key)
            elif top is not None and top.context == "confirm":  # only y says yes
                top.commands["confirm-no"]()
            return
        if not self.layers or self.layers[-1].context != "pane":
            self.say("")
        layer_command = self.layers[-1].commands.get(command) if self.layers else None
        if layer_command is not None:
            layer_command()
        elif command in self.actions:
            self.actions[command](self)

    # -- layers --------------------------------------------------------------------------

    def push(self, layer: Layer) -> None:
        self.layers.append(layer)
        self._show_layers()

    def pop(self) -> None:
        if self.layers:
            self.layers.pop()
        self._show_layers()

    def _show_layers(self) -> None:
        body: urwid.Widget = self.listbox
        footer: urwid.Widget = self.footer
        for layer in self.layers:
            if layer.place == "body":
                body = layer.widget
            else:
                footer = urwid.Pile([layer.widget, urwid.AttrMap(self.hints_line, "footer")])
        self.frame.body = body
        self.frame.footer = footer
        if body is self.listbox:
            self.show_table()
        else:
            self.columns_line.show("")
        self.frame.focus_position = "footer" if footer is not self.footer else "body"

    @property
    def active_listbox(self) -> urwid.ListBox:
        """The list the navigation keys move in: the top pane, else the table."""
        for layer in reversed(self.layers):
            if layer.listbox is not None:
                return layer.listbox
        return self.listbox

    # -- refresh -------------------------------------------------------------------------

    def refresh(self, budget: float = math.inf) -> None:
        """Bring the rows up to date with State and redraw what changed (unless paused);
        ``budget``: seconds of row updates at most (see :meth:`TaskRows.sync`)."""
        now = self.clock()
        self._measure_rate(now)
        if self.view.paused:
            self._summary(now)
        else:
            self.rows.sync(budget)
            self.show_table(now)

    def show_table(self, now: float | None = None) -> None:
        """Show the current screen's rows as of the last refresh: a key (sort, filter,
        screen) answers at once, and new events come with the next refresh."""
        view = self.view
        now = self.clock() if now is None else now
        sheet = sheet_for(view.screen)
        walker = self.walker
        previous = walker.focus if self.table.sheet is sheet and len(walker) else None
        self.table = sheet.table(self.rows, now, view.order, view.filter_text)
        # At the top row the view follows the newest rows (like tail -f); elsewhere the
        # selection stays on its task, worker or type wherever that row moves.
        index = None if previous == 0 else self.table.index_of(view.selection)
        previous = previous or 0
        if index is None and len(self.table.items):
            index = min(previous, len(self.table.items) - 1)
        walker.show(self.table, self.size[0], index)
        if self.frame.body is self.listbox:  # a pane has no column titles
            order = self.table.order
            titles = header_markup(sheet.columns, walker.widths, order.column, order.descending)
            self.columns_line.show(titles)
        if index is not None:
            self.view = view.select(self.table.key(index))
        self._summary(now)

    def _measure_rate(self, now: float) -> None:
        then, count = self._rate_mark
        if now - then >= 0.5:
            self._rate = max(self.state.event_count - count, 0) / (now - then)
            self._rate_mark = (now, self.state.event_count)

    def _summary(self, now: float) -> None:
        state = self.state
        workers = list(state.workers.data.values())
        counts = Counts(
            events=state.event_count,
            tasks=len(state.tasks),
            max_tasks=state.max_tasks_in_memory,
            workers_online=sum(1 for w in workers if w.alive),
            workers=len(workers),
            rate=self._rate,
        )
        status = self.status.snapshot()
        left = source_text(status, now, replay=self.replay, ended=self.ended)
        self.source_line.show(f" evtop  {left}")
        unseen = not self.replay and counts.workers and state.freeze_while(self._unseen_work, state)
        hint = f"  {UNSEEN_WORK_HINT}" if unseen else ""
        self.counts_line.show(f" {counts_text(counts, self.stats)}{hint}")
        self.view_line.show(f" {self._view_text()}")

    def _view_text(self) -> str:
        view, table = self.view, self.table
        order = table.order
        parts = [
            f"[{table.sheet.title}] {len(table.items)}/{table.total}",
            f"sort: {order.column} {'▼' if order.descending else '▲'}",
        ]
        if view.filter_text:
            parts.append(f"filter: {view.filter_text}")
        if view.paused:
            parts.append("PAUSED (p)")
        if self.read_only:
            parts.append("read-only")
        return "  ".join(parts)

    # -- selection and messages ----------------------------------------------------------

    def selected(self) -> Any | None:
        """The item of the focused table row, or ``None`` on an empty table."""
        if not len(self.table.items):
            return None
        return self.table.items[self.listbox.focus_position]

    def follow_focus(self) -> None:
        """After the focus moved: remember the row, so refreshes keep it selected."""
        if len(self.table.items) and not self.layers:
            self.view = self.view.select(self.table.key(self.listbox.focus_position))

    def say(self, text: str, *, error: bool = False) -> None:
        self.message_line.show(("message.error", text) if error else text)

    def render(self, size: tuple[int, int]) -> urwid.Canvas:
        """Draw the whole screen at ``size`` (the loop does this itself; tests call it)."""
        if size != self.size:
            self.size = size
            self.show_table()
        return self.root.render(size, focus=True)
