"""The TUI's model-view glue: the frame, the layers, key dispatch and the refresh.

The event thread only ever writes State (through :meth:`TaskRows.feed
<evtop.view.taskrows.TaskRows.feed>`, which notes the tasks each event changed); this
object, on the UI thread, brings the rows up to date once per refresh (:meth:`TaskRows.sync
<evtop.view.taskrows.TaskRows.sync>`, the changed tasks only) and redraws what changed on
screen, nothing when nothing did. Keys go through
:func:`~evtop.tui.keymap.command_for` to the top layer's commands or to the action table
the mode hands in (:data:`~evtop.tui.actions.ACTIONS`: the actions act on this object, so
it must not import them); only keys the keymap does not know reach widgets (text typed
into a prompt). What a prompt does as the user types (filter, search) is deferred with
:meth:`App.defer` and done once per input batch, just after it is drawn
(:meth:`App.settle`): a paste or fast typing costs one filtering, not one per key, and
the typed text shows before the filtering starts. A mouse event is turned into what the
same key would do (:meth:`App.mouse`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import urwid

from evtop.broker.status import ConnectionStatus
from evtop.events.health import Gap, Health
from evtop.events.state import State
from evtop.events.stats import IngestStats
from evtop.tui.bridge import Bridge
from evtop.tui.control_runner import ControlRunner
from evtop.tui.dialogs import Layer
from evtop.tui.guard import SizeGuard, too_small
from evtop.tui.keymap import KEYMAP, PANE, command_for, hint_at, hints, key_label
from evtop.tui.table import Line, RowWalker, column_at, header_markup
from evtop.view.queues import QueueBoard
from evtop.view.sheet import Table, sort_title
from evtop.view.summary import Counts, counts_text, gap_message, source_text, trust_text
from evtop.view.taskrows import TaskRows
from evtop.view.trust import Trust
from evtop.view.viewstate import Screen, ViewState, sheet_for
from evtop.zones import UTC, Zone

#: Rows taken by the lines around the table: source, counts, view, column titles; message, keys.
CHROME_ROWS = 6
#: Screen rows of the view line (with the screen tabs), of the column titles, and the
#: first row of the table or of what replaces it.
VIEW_ROW, TITLES_ROW, BODY_ROW = 2, 3, 4
#: Rows the mouse wheel moves the selection by.
WHEEL_ROWS = 3
#: Seconds between two redraws of a filter's count while its pass is underway.
COUNT_SHOWN = 0.1
#: Share of a step of :meth:`App.catch_up` kept for freeing what the rows dropped while
#: any waits (:class:`~evtop.view.dropped.Dropped`), so memory comes back while a filter
#: counts: a million entries of a number order (0.15 s to free) in 30 steps, which made
#: the pass that dropped them 4 steps longer (78). A step with nothing else to do frees
#: until its end.
FREEING_SHARE = 0.25


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
        health: Health | None = None,
        queues: QueueBoard | None = None,
        watch_queues: Callable[[bool], None] | None = None,
        zone: Zone = UTC,
        terminal: Callable[[str], None] | None = None,
    ) -> None:
        """``rows``: the rows whose :meth:`~TaskRows.feed` the event source calls (events
        applied to ``state`` some other way are caught up with a full scan). ``health``:
        what the event source found it missed, read at each refresh. ``queues``: what the
        queue screen shows, read by a watch that ``watch_queues`` turns on while the screen
        is shown (None: the broker cannot be asked, the board says why). ``zone``: where
        times are shown. ``terminal``: writes a control sequence to the terminal (the
        clipboard's OSC 52), None where there is none."""
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
        self.queues = queues or QueueBoard("no broker to ask")
        self.watch_queues = watch_queues
        self.view = ViewState()
        self.zone = zone
        self.terminal = terminal
        #: The last search (F3), for n and N.
        self.search_text = ""
        #: When a filter's count so far was last shown (:meth:`show_counting`).
        self._count_shown = 0.0
        #: What prompts asked to do once the keys of this batch are handled, by purpose.
        self._deferred: dict[str, Callable[[], None]] = {}
        #: Where each screen's tab is on the view line: (first column, end, key).
        self._tabs: list[tuple[int, int, str]] = []
        self.size: tuple[int, int] = (80, 24)
        #: The event source ended by itself (end of a replayed file).
        self.ended = False
        #: The user asked to quit...
        self.done = False
        #: ... with Ctrl-C: the exit status says so (130).
        self.interrupted = False
        self.layers: list[Layer] = []
        #: uuids of the tagged task rows (Space, ``*``): the control keys act on them.
        self.tagged: set[str] = set()
        self._rate_mark = (clock(), state.event_count)
        self._rate = 0.0
        self.health = health
        #: The newest gap in the event stream already said on the message line.
        self._gap_said: Gap | None = None
        self.source_line = Line()
        self.counts_line = Line()
        self.view_line = Line()
        self.columns_line = Line()
        self.message_line = Line()
        self.hints_line = Line(hints(self.context))
        self.rows.sync()
        self._take_findings()
        self.table: Table[Any] = sheet_for(Screen.TASKS, zone).table(
            self.rows, self.shown_at(), self.view.order, ""
        )
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
            elif command in ("quit", "interrupt"):
                self.actions[command](self)
            return
        if command is None:
            top = self.layers[-1] if self.layers else None
            if top is not None and top.context == "prompt":
                self.frame.keypress(self.size, key)
            elif top is not None and top.context == "confirm":  # only y says yes
                top.commands["confirm-no"]()
            return
        if not self.layers or self.layers[-1].context not in PANE:
            self.say("")
        layer_command = self.layers[-1].commands.get(command) if self.layers else None
        if layer_command is not None:
            layer_command()
        elif command in self.actions:
            self.actions[command](self)

    def defer(self, purpose: str, call: Callable[[], None]) -> None:
        """Do ``call`` once the keys of this batch are drawn, instead of an earlier call for
        the same ``purpose`` (the table narrows once per frame however fast the typing)."""
        self._deferred[purpose] = call

    @property
    def deferred(self) -> bool:
        """Whether keys deferred something :meth:`settle` has yet to do."""
        return bool(self._deferred)

    def settle(self) -> None:
        """Do what the keys deferred (the loop calls it just after drawing them)."""
        deferred, self._deferred = self._deferred, {}
        for call in deferred.values():
            call()

    def cancel_deferred(self, purpose: str) -> None:
        self._deferred.pop(purpose, None)

    # -- the mouse -----------------------------------------------------------------------

    def mouse(self, event: str, button: int, col: int, row: int) -> None:
        """A click or the wheel, as the key that does the same: a click on a row selects
        it, on a screen tab or a key hint presses that key, on a column title sorts by
        it (again: reverses); the wheel moves the selection or scrolls the pane."""
        if too_small(*self.size) or event != "mouse press":
            return
        top = self.layers[-1] if self.layers else None
        if top is not None and top.context in ("prompt", "confirm"):
            return  # a question is answered with keys
        if button in (4, 5):
            command = "go-up" if button == 4 else "go-down"
            key = next(b.keys[0] for b in KEYMAP if b.command == command)
            for _ in range(WHEEL_ROWS):
                self.press(key)
            return
        if button != 1:
            return
        cols, rows = self.size
        if row == rows - 1:
            binding = hint_at(col, cols, self.context)
            if binding is not None:
                self.press(binding.keys[0])
        elif row == VIEW_ROW:  # a screen tab, also from a pane or a menu
            tab = next((key for start, end, key in self._tabs if start <= col < end), None)
            if tab is not None:
                while self.layers:
                    self.pop()
                self.press(tab)
        elif top is not None:
            if top.context == "menu" and top.listbox is not None and BODY_ROW < row < rows - 2:
                picked = _position_at(top.listbox, (cols, rows - CHROME_ROWS - 1), row - BODY_ROW - 1)
                if picked is not None:
                    top.listbox.focus_position = picked
                    top.commands["menu-pick"]()
        elif row == TITLES_ROW:
            column = column_at(self.table.sheet.columns, self.walker.widths, col)
            if column is not None and column in self.table.sheet.sort_columns:
                self.view = self.view.pick_sort(column)
                self.show_table()
        elif BODY_ROW <= row < rows - 2:
            picked = _position_at(self.listbox, (cols, rows - CHROME_ROWS), row - BODY_ROW)
            if picked is not None:
                self.listbox.focus_position = picked
                self.follow_focus()

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
        self.hints_line.show(hints(self.context))

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
        self._take_findings()
        if self.view.paused:
            self._summary(now)
        else:
            self.rows.sync(budget)
            if self.tagged:  # tags of evicted tasks go: the count shown is what c and x act on
                self.tagged -= self.state.freeze_while(self._evicted_tags)
            self.show_table(now)
            for layer in self.layers:
                if layer.refresh is not None:
                    layer.refresh()

    def _evicted_tags(self) -> set[str]:
        data = self.state.tasks.data
        return {uuid for uuid in self.tagged if uuid not in data}

    def _take_findings(self) -> None:
        """What Health found, for the rows and the header; a new gap is said once."""
        if self.health is None:
            return
        trust = self.rows.trust = Trust.of(self.health)
        newest = trust.gaps[-1] if trust.gaps else None
        if newest is not None and newest is not self._gap_said:
            self._gap_said = newest
            self.say(gap_message(newest), error=True)

    def shown_at(self, now: float | None = None) -> float:
        """The time the tables and panes show: ``now`` (the wall clock) when live; on a
        replay the recording's newest receive time, so a running task's RUNTIME and a
        worker's SEEN read as they did then, not as of today."""
        if self.replay and self.health is not None:
            return self.health.now()
        return self.clock() if now is None else now

    def show_table(self, now: float | None = None) -> None:
        """Show the current screen's rows as of the last refresh: a key (sort, filter,
        screen) answers at once, and new events come with the next refresh."""
        view = self.view
        now = self.clock() if now is None else now
        sheet = sheet_for(view.screen, self.zone)
        walker = self.walker
        previous = walker.focus if self.table.sheet is sheet and len(walker) else None
        queues = view.screen is Screen.QUEUES
        if self.watch_queues is not None:
            self.watch_queues(queues)
        source: Any = self.queues if queues else self.rows  # the queue screen's rows are the broker's
        # At the top row the view follows the newest rows (like tail -f); elsewhere the selection
        # stays on its task, worker or type wherever that row moves. A filter's pass begun now
        # shows the selected row while it counts; it stays selected then, even at the top (the
        # rows found come after those shown: the selected one moves down as they come).
        follow = previous == 0 and (self.table.counting is None or self.rows.selected is None)
        self.rows.selected = None if follow else view.selection
        self.table = sheet.table(source, self.shown_at(now), view.order, view.filter_text)
        if self.tagged and view.screen is Screen.TASKS:
            self.table = replace(self.table, tagged=self.tagged)
        index = None if follow else self.table.index_of(view.selection)
        previous = previous or 0
        if index is None and len(self.table.items):
            index = min(previous, len(self.table.items) - 1)
        walker.show(self.table, self.size[0], index)
        if self.frame.body is self.listbox:  # a pane has no column titles
            order = self.table.order
            titles = header_markup(sheet.columns, walker.widths, order.column, order.descending)
            self.columns_line.show(titles)
        if index is not None:  # following: no row is kept, so the screen follows again when shown
            self.view = view.select(None if follow else self.table.key(index))
        if not self.layers:
            self.hints_line.show(hints(self.context))
        self._summary(now)

    def show_counting(self) -> None:
        """After a step of a filter's pass (:meth:`TaskRows.sync`): the whole table once
        it is counted, else the count so far, every :data:`COUNT_SHOWN` seconds (each
        redraw would cost a step as much as a fifth of its time)."""
        now = time.monotonic()
        if not self.rows.counting or now - self._count_shown >= COUNT_SHOWN:
            self._count_shown = now
            self.show_table()

    @property
    def behind(self) -> bool:
        """Whether work waits for :meth:`catch_up`: the rows (unless paused), a filter's
        pass, or what the rows dropped, which is freed while paused too."""
        return bool(self.rows.dropped) or (self.rows.behind and not self.view.paused)

    def catch_up(self, budget: float) -> None:
        """A step of the work that waits (:attr:`behind`) of ``budget`` seconds: the rows
        and a filter's pass first (the count redrawn), then freeing what the rows dropped,
        with :data:`FREEING_SHARE` of the step at least while any waits."""
        deadline = time.perf_counter() + budget
        rows = self.rows
        if rows.behind and not self.view.paused:
            counting = rows.counting
            rows.sync(budget * (1 - FREEING_SHARE) if rows.dropped else budget)
            if counting:
                self.show_counting()
        rows.dropped.free(deadline)

    def whole_table(self) -> None:
        """Every row of the table, now: a filter's pass still underway (the table holds
        its first rows) is finished at once, for what needs them all (moving past the
        first rows, searching, tagging every row shown)."""
        if self.table.counting is not None:
            self.rows.count_whole()
            self.show_table()

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
        found = trust_text(self.rows.trust, self.rows.lost)
        self.counts_line.show(f" {counts_text(counts, self.stats)}{'  ' + found if found else ''}")
        self.view_line.show(self._view_markup())

    def _view_text(self) -> str:
        view, table = self.view, self.table
        order = table.order
        shown = f"{len(table.items)}" if table.counting is None else f"counting… {table.counting}+"
        parts = [
            f"[{table.sheet.title}] {shown}/{table.total}",
            f"sort: {sort_title(table.sheet, order.column)} {'▼' if order.descending else '▲'}",
        ]
        if view.filter_text:
            parts.append(f"filter: {view.filter_text}")
        if view.screen is Screen.QUEUES:
            parts.append(self.queues.status(self.clock()))
        if self.tagged:
            parts.append(f"tagged: {len(self.tagged)} (u: untag)")
        if view.paused:
            parts.append("PAUSED (p)")
        if self.read_only:
            parts.append("read-only")
        parts.append(f"times: {self.zone.name}")
        return "  ".join(parts)

    def _view_markup(self) -> list[Any]:
        """The view line: what is shown on the left, the screens' tabs on the right (when
        they fit; a click on one shows that screen)."""
        left = f" {self._view_text()}"
        tabs: list[tuple[str, str, bool]] = []
        for screen in Screen:
            binding = next((b for b in KEYMAP if b.command == f"show-{screen.value}"), None)
            if binding is not None:
                title = sheet_for(screen, self.zone).title
                tabs.append(
                    (binding.keys[0], f" {key_label(binding.keys[0])} {title} ", screen is self.view.screen)
                )
        width = sum(len(label) for _, label, _ in tabs)
        start = self.size[0] - width - 1
        self._tabs = []
        if not tabs or start < len(left) + 2:
            return [left]
        markup: list[Any] = [left, " " * (start - len(left))]
        for key, label, current in tabs:
            self._tabs.append((start, start + len(label), key))
            markup.append(("header.tab" if current else "header", label))
            start += len(label)
        return markup

    # -- selection and messages ----------------------------------------------------------

    def selected(self) -> Any | None:
        """The item of the focused table row, or ``None`` on an empty table."""
        if not len(self.table.items):
            return None
        return self.table.items[self.listbox.focus_position]

    def follow_focus(self) -> None:
        """After the focus moved: remember the row, so refreshes keep it selected; on the
        top row none, so the screen follows the newest rows (:meth:`show_table`)."""
        if len(self.table.items) and not self.layers:
            position = self.listbox.focus_position
            self.view = self.view.select(self.table.key(position) if position else None)

    def say(self, text: str, *, error: bool = False) -> None:
        self.message_line.show(("message.error", text) if error else text)

    def render(self, size: tuple[int, int]) -> urwid.Canvas:
        """Draw the whole screen at ``size`` (the loop does this itself, after
        :meth:`settle`; tests call it)."""
        self.settle()
        if size != self.size:
            self.size = size
            self.show_table()
        return self.root.render(size, focus=True)


def _position_at(listbox: urwid.ListBox, size: tuple[int, int], row: int) -> int | None:
    """The position drawn on ``row`` of a list of one-line rows, or None below its end."""
    count = len(listbox.body)  # type: ignore[arg-type]
    if not count:
        return None
    offset, _ = listbox.get_focus_offset_inset(size)
    position = listbox.focus_position + row - offset
    return position if 0 <= position < count else None
