"""Every task State holds as a table row, kept up to date from the events that change it.

The TUI hands :meth:`TaskRows.feed` to the event source in place of ``State.event``: it
applies the event and notes which task changed and where its newest event stands in
State's clock order. Each refresh, :meth:`TaskRows.sync` copies only those tasks out of
State and moves their rows in the time index, so a refresh costs the tasks that changed,
not the tasks held, and nothing when no event came. The index of another sort order or
filter (:mod:`evtop.view.orderings`) and the per-type statistics take the same changes
from a log when shown, so what is not on screen costs nothing meanwhile. Tasks State
evicted are found from the oldest end. Events that reached State some other way (a test,
a cleared State) show in State's event count, and one full scan catches up.

Under a flood a sync can be given a time budget: it moves the changed rows a chunk at a
time and leaves the rest for the next call (:attr:`TaskRows.behind`), so the TUI draws
and answers keys in between. A filter is searched a term at a time over the rows in C
loops, and among the rows of a kept filter it narrows (typed one letter further) rather
than among all. Over many rows (a million tasks), the pass is done in the order shown, a
chunk at a time between frames (:class:`Counting`), cancelled by the next letter: the
first screen at once where many rows match, else filling as they are found.

What the rows let go of that is costly to free (an index dropped, the changes no index
needs any more) goes to :attr:`TaskRows.dropped`, which the TUI frees a piece at a time
between keys.
"""

from __future__ import annotations

import math
import operator
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import compress
from typing import Any, Generic, Protocol, TypeGuard, TypeVar

from evtop.events.state import State, Task
from evtop.view.dropped import PIECE, Dropped
from evtop.view.orderings import (
    Counting,
    Index,
    Ordered,
    Partial,
    TimeIndex,
    build_index,
    collection_paused,
    holds_both_directions,
)
from evtop.view.query import Query, narrows, parse
from evtop.view.sheet import Order, Table
from evtop.view.tasks import TaskItem, TaskSheet, TimeKey
from evtop.view.tasktypes import TypeStats
from evtop.view.trust import Trust

#: A changed row: (row as the indexes hold it or None, row now or None).
Change = tuple[TaskItem | None, TaskItem | None]
#: When more than this share of the rows changed (a full scan, a flood between two
#: refreshes), the indexes are built afresh: sorting once beats moving each row.
REBUILD_SHARE = 0.25
#: Tasks moved at a time by a budgeted :meth:`TaskRows.sync` between two looks at the
#: clock (about 1 ms at a million rows).
CHUNK = 128
#: Indexes of orders and filters shown before, kept for going back to them (cycling
#: through the sort columns): each is brought up to date when shown again.
KEPT_INDEXES = 8
#: Entries per row that may wait in :attr:`TaskRows.dropped` before the oldest are freed
#: at once: as many as the time index and the indexes kept hold at most (two per row in
#: time order: the row and its key), so the memory of indexes at most doubles, and a flood
#: that drops them all at once (:data:`REBUILD_SHARE`) is freed in steps all the same. The
#: steps free a million entries of a number order (0.15 s of freeing) in 30 steps while a
#: filter counts, 8 otherwise: the bound is reached only by dropping whole indexes of
#: every row faster than that, for seconds.
DROPPED_MOST = 2 * (KEPT_INDEXES + 1)
#: A filter over more rows than this is searched between frames (:class:`Counting`),
#: in the order shown, where an index of that order is kept; else at once.
COUNT_AT_ONCE = 16_384


class _Taking(Protocol):
    def take(self, changes: list[Change]) -> None:
        """Rows changed: each old row out, each new row in."""


Follower = TypeVar("Follower", bound=_Taking)


class _Filtered:
    """An index of the rows a filter keeps (``keep`` None: every row)."""

    __slots__ = ("index", "keep", "query")

    def __init__(self, index: Index, keep: Callable[[TaskItem], bool] | None, query: Query) -> None:
        self.index = index
        self.keep = keep
        self.query = query

    def take(self, changes: list[Change]) -> None:
        index, keep = self.index, self.keep
        for old, new in changes:
            if old is not None:
                index.discard(old)
            if new is not None and (keep is None or keep(new)):
                index.add(new)


class _Kept(Generic[Follower]):
    """What is derived from the rows but only kept up to date when shown: how many
    changes it has taken in (its backlog is in :attr:`TaskRows._log`)."""

    __slots__ = ("synced", "value")

    def __init__(self, value: Follower, synced: int) -> None:
        self.value: Follower = value
        self.synced = synced


def _time_of(task: Task, seq: int) -> TimeKey:
    """A time key from the task's fields alone, for a task whose events went past
    :meth:`TaskRows.feed`: the clock of the last event State applied whole (``seq`` below
    every event's, so a key from an event wins a tie)."""
    clock = task.clock
    if type(clock) is int and clock > 0:
        origin = task.origin
        return (clock, origin if type(origin) is str else "", seq)
    stamp = task.timestamp
    return (0, stamp if type(stamp) is float else 0.0, seq)


class TaskRows:
    """The rows of the task table (and what the other screens derive from them)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._mutex = state._mutex
        self._apply = state.event
        #: uuid -> time key of the task's newest event since the last sync (None: the
        #: event failed half-way, re-read the task). Written by the event thread; in the
        #: order the tasks first changed, which a budgeted sync keeps (oldest first), so
        #: that rows join in the order State made their tasks and evicted rows are found
        #: at the front (newest first, the rows' order drifted from State's, and finding
        #: each evicted row meant moving live rows from the front to the back: under a
        #: flood, 60 of every 64 moves, six times the cost of the sync itself).
        self._pending: OrderedDict[str, TimeKey | None] = OrderedDict()
        limit = state.tasks.limit
        #: More pending uuids than this (paused under a flood) are dropped for a full scan.
        self._pending_cap = 2 * limit if limit else math.inf
        #: Events through :meth:`feed` since State's event count was ``_base``.
        self._fed = 0
        #: Arrival number of the last event, breaking ties in the time order...
        self._seq = 0
        #: ... and a number below it for each time key made from a task's fields.
        self._guess = 0
        #: Every task's row, by uuid, in the order tasks were first seen (State evicts the
        #: oldest first, so evicted rows are found at the front).
        self.rows: OrderedDict[str, TaskItem] = OrderedDict()
        #: All rows in time order: the default order, and what other orders are built from.
        self.by_time = TimeIndex()
        #: Indexes for orders and filters other than plain time order, least recently
        #: shown first, by (column, direction if the index holds one, filter terms).
        self._kept: OrderedDict[tuple[Any, ...], _Kept[_Filtered]] = OrderedDict()
        self._types: _Kept[TypeStats] | None = None
        #: The changes what is kept has yet to take, and how many changes ever.
        self._log: list[Change] = []
        self._logged = 0
        #: What Health found as of the last refresh (set by the TUI): rows are shown through it.
        self.trust = Trust()
        #: hostname -> rows not finished there (what reads LOST once it goes
        #: offline), kept by every change, so the lost count costs the workers, not the rows.
        self._unfinished: dict[str, int] = {}
        #: The key of the row the user has selected (set by the TUI; None while the view
        #: follows the newest rows): a filter's pass shows it while it counts (:class:`Counting`).
        self.selected: str | None = None
        #: What was let go of and waits to be freed (by the TUI, a piece at a time).
        self.dropped = Dropped()
        with self._mutex:
            self._base = state.event_count
            self._full = bool(state.tasks.data)  # tasks no event of ours told us about

    # -- the event thread ---------------------------------------------------------------

    def feed(self, event: dict[str, Any]) -> Any:
        """``State.event``, noting the task the event changed and its place in time."""
        with self._mutex:
            self._fed += 1
            try:
                result = self._apply(event)
            except Exception:
                uuid = event.get("uuid")
                if type(uuid) is str:
                    self._pending.setdefault(uuid, None)
                raise
            if result is not None and event["type"][:5] == "task-":
                (task, _), subject = result
                self._seq = seq = self._seq + 1
                clock = event["clock"]
                if clock:  # as State's heap: (clock, origin), the sender's name for task-sent
                    worker = task.worker
                    origin = worker.id if worker is not None and subject != "sent" else event["hostname"]
                    key: TimeKey = (clock, origin, seq)
                else:
                    key = (0, event["timestamp"], seq)
                pending = self._pending
                uuid = task.uuid
                known = pending.get(uuid)
                if known is None or key > known:
                    pending[uuid] = key
                    if len(pending) > self._pending_cap:
                        pending.clear()
                        self._full = True
            return result

    # -- the UI thread ------------------------------------------------------------------

    @property
    def behind(self) -> bool:
        """Whether work waits for a :meth:`sync`: events (a budgeted sync may leave some
        behind; or they went past :meth:`feed`), or an order shown by its first rows only
        (:class:`Partial`)."""
        missed = self.state.event_count - self._base != self._fed
        return bool(self._pending) or self._full or missed or bool(self._partial()) or self.counting

    def _partial(self) -> list[Partial]:
        indexes = (kept.value.index for kept in self._kept.values())
        return [index for index in indexes if _unbuilt(index) and not isinstance(index, Counting)]

    @property
    def counting(self) -> bool:
        """Whether a filter's pass is underway (:class:`Counting`): :meth:`sync` goes on
        with it once the rows are up to date."""
        return any(_underway(kept.value.index) for kept in self._kept.values())

    def sync(self, budget: float = math.inf) -> bool:
        """Bring the rows and indexes up to date with State; True when a row changed.

        ``budget``: seconds to spend at most (roughly: a chunk of rows at a time), so a
        flood between two refreshes delays keys by one chunk, not by the whole flood; what
        is left waits in :attr:`behind` for the next call (however big: an index rebuilt
        at once would hold keys up as long). A full scan is done whole. What the budget
        leaves goes to a filter's pass (:attr:`counting`).
        """
        deadline = time.perf_counter() + budget
        for index in self._partial():  # the order on screen first: it was asked for
            index.whole()
        changed = False
        while True:
            with self._mutex:
                data = self.state.tasks.data
                full = self._full or self.state.event_count - self._base != self._fed
                changes = [] if full else self._collect(None if budget == math.inf else CHUNK)
                unknown = not self._pending and len(self.rows) < len(data)  # came some other way
                if full or unknown:
                    changes += self._rescan()
                done = not self._pending
            if changes:
                changed = True
                self._take(changes)
            if done:
                self._count(deadline)
            if done or time.perf_counter() >= deadline:
                return changed

    def _count(self, deadline: float) -> None:
        """Go on with a filter's pass until ``deadline``; once it is done, its index
        takes the changes that came since the pass began."""
        for kept in reversed(list(self._kept.values())):  # the one shown last first
            index = kept.value.index
            if _underway(index):
                if deadline == math.inf:
                    index.whole()
                elif not index.step(deadline):
                    return
                self._catch_up(kept)
                self._trim_log()

    def count_whole(self) -> None:
        """Finish a filter's pass at once: what needs every row it keeps (moving past its
        first rows, searching or tagging them) cannot wait for it."""
        self._count(math.inf)

    @property
    def lost(self) -> int:
        """Rows that read LOST as of the last sync: :attr:`TaskItem.unfinished
        <evtop.view.tasks.TaskItem.unfinished>` on a worker that :attr:`trust` finds offline."""
        return sum(map(self.lost_on, self.trust.offline))

    def lost_on(self, hostname: str) -> int:
        """The rows of :attr:`lost` on ``hostname``."""
        return self._unfinished.get(hostname, 0) if hostname in self.trust.offline else 0

    def _count_unfinished(self, changes: list[Change]) -> None:
        counts = self._unfinished
        for old, new in changes:
            if old is not None and old.unfinished:
                left = counts[old.worker] - 1
                if left:
                    counts[old.worker] = left
                else:
                    del counts[old.worker]
            if new is not None and new.unfinished:
                counts[new.worker] = counts.get(new.worker, 0) + 1

    def _take(self, changes: list[Change]) -> None:
        """Move the changed rows in the time index; log them for what is kept."""
        self._count_unfinished(changes)
        if len(changes) > REBUILD_SHARE * len(self.rows):
            self._drop(self.by_time, *(kept.value.index for kept in self._kept.values()))
            with collection_paused():
                self.by_time = TimeIndex(self.rows.values())
            self._kept.clear()
            self._types = None
            self._drop_log(len(self._log))
            return
        by_time = self.by_time
        for old, new in changes:
            if old is not None:
                by_time.discard(old)
            if new is not None:
                by_time.add(new)
        if self._kept or self._types is not None:
            self._log += changes
            self._logged += len(changes)
            self._trim_log()

    def _catch_up(self, kept: _Kept[Follower]) -> Follower:
        kept.value.take(self._log[len(self._log) - (self._logged - kept.synced) :])
        kept.synced = self._logged
        return kept.value

    def _trim_log(self) -> None:
        """Forget what is too far behind to be worth bringing up to date (it is built
        afresh if shown again), then the changes all the rest has taken."""
        behind = REBUILD_SHARE * len(self.rows)
        for serves, kept in list(self._kept.items()):
            if self._logged - kept.synced > behind:
                self._drop(self._kept.pop(serves).value.index)
        if self._types is not None and self._logged - self._types.synced > behind:
            self._types = None
        synced = [kept.synced for kept in self._kept.values()]
        if self._types is not None:
            synced.append(self._types.synced)
        self._drop_log(len(self._log) - (self._logged - min(synced, default=self._logged)))

    def _drop(self, *indexes: Index) -> None:
        """Let go of ``indexes``: their blocks are freed between keys (:attr:`dropped`)."""
        self.dropped.add([block for index in indexes for block in index.blocks()], self._dropped_most())

    def _drop_log(self, count: int) -> None:
        """Let go of the oldest ``count`` changes: under a flood, a quarter of the rows
        (a change and the row it replaced each, which only the log may still hold)."""
        if count > PIECE:
            self.dropped.add([self._log[:count]], self._dropped_most())
        del self._log[:count]

    def _dropped_most(self) -> int:
        """Entries that may wait to be freed: :data:`DROPPED_MOST` per row (as the time
        index holds them: before it is rebuilt, as many as before a clear)."""
        return DROPPED_MOST * len(self.by_time)

    def _collect(self, most: int | None) -> list[Change]:
        """The rows of the tasks fed since the last sync (``most`` of them at most), and
        of tasks evicted meanwhile (once no fed task waits)."""
        if most is None or most >= len(self._pending):
            pending, self._pending = self._pending, OrderedDict()
            items: Iterable[tuple[str, TimeKey | None]] = pending.items()
        else:
            items = [self._pending.popitem(last=False) for _ in range(most)]
        data = self.state.tasks.data
        rows = self.rows
        changes: list[Change] = []
        for uuid, when in items:
            task = data.get(uuid)
            old = rows.get(uuid)
            if task is None:  # evicted since
                if old is not None:
                    del rows[uuid]
                    changes.append((old, None))
                continue
            new = rows[uuid] = TaskItem.of(task, self._newest(task, when, old))
            changes.append((old, new))
        if self._pending:  # rows yet to come: the count below would fall short
            while rows and next(iter(rows)) not in data:  # the oldest, evicted
                changes.append((rows.popitem(last=False)[1], None))
            return changes
        excess = len(rows) - len(data)
        while excess > 0:  # evicted without an event since: they are the oldest
            uuid, old = rows.popitem(last=False)
            if uuid in data:
                rows[uuid] = old  # still held (State refreshed it as a parent): to the back
            else:
                changes.append((old, None))
                excess -= 1
        return changes

    def _rescan(self) -> list[Change]:
        """Every row afresh from State; what differs from the rows before."""
        pending, self._pending = self._pending, OrderedDict()
        self._full = False
        self._base, self._fed = self.state.event_count, 0
        previous = dict(self.rows)
        rows = self.rows
        rows.clear()
        changes: list[Change] = []
        for uuid, task in self.state.tasks.data.items():
            old = previous.pop(uuid, None)
            new = TaskItem.of(task, self._newest(task, pending.get(uuid), old, guess=True))
            if new == old:  # keep the very row the indexes hold
                rows[uuid] = old
            else:
                rows[uuid] = new
                changes.append((old, new))
        changes += [(old, None) for old in previous.values()]
        return changes

    def _newest(self, task: Task, fed: TimeKey | None, old: TaskItem | None, guess: bool = False) -> TimeKey:
        """The task's place in time: its newest event's key (a late event leaves the task
        where its newest one put it); from its fields when no event of ours says, or when
        ``guess``ing after events went past :meth:`feed`."""
        keys = [key for key in (fed, None if old is None else old.time) if key is not None]
        if guess or not keys:
            self._guess -= 1
            keys.append(_time_of(task, self._guess))
        return max(keys)

    # -- tables -------------------------------------------------------------------------

    def tasks(self, sheet: TaskSheet, now: float, order: Order, filter_text: str) -> Table[TaskItem]:
        """The task table as of the last :meth:`sync`, from the index of its order and
        filter (built once, when they are new)."""
        column = order.column if order.column in sheet.sort_columns else sheet.default_sort
        query = parse(filter_text, sheet.fields)
        index = self._index(sheet, column, order.descending, query)
        items = Ordered(index, order.descending, self.rows)
        counting = index.counted if _underway(index) else None
        order = Order(column, order.descending)
        return Table(sheet, items, len(self.rows), order, query, now, counting=counting)

    def types(self) -> TypeStats:
        """Per task name statistics as of the last :meth:`sync` (kept up to date only
        while asked for: the screen showing them is not always on)."""
        if self._types is None:
            self._types = _Kept(TypeStats(self.rows.values()), self._logged)
        stats = self._catch_up(self._types)
        self._trim_log()
        return stats

    def _index(self, sheet: TaskSheet, column: str, descending: bool, query: Query) -> Index:
        """The index of an order and filter: kept, else built (a filter's pass over many
        rows begun, the pass of the filter shown before cancelled). Only one pass is
        underway: the filter's of the table shown last."""
        if column == "time" and not query:
            self._cancel_counting(None)
            return self.by_time
        serves = (column, None if holds_both_directions(column) else descending, query.terms)
        self._cancel_counting(serves, descending)
        kept = self._kept.pop(serves, None)
        if kept is None:
            keep = (lambda row: query.matches(sheet.search(row))) if query else None
            synced = self._logged
            kept = _Kept(_Filtered(self._build(sheet, column, descending, query), keep, query), synced)
        self._kept[serves] = kept
        if len(self._kept) > KEPT_INDEXES:
            self._drop(self._kept.popitem(last=False)[1].value.index)
        index = kept.value.index
        if not _underway(index):  # else it takes them once counted
            self._catch_up(kept)
        self._trim_log()
        return index

    def _cancel_counting(self, serves: tuple[Any, ...] | None, descending: bool = False) -> None:
        """Drop a filter's pass underway unless it serves ``serves`` in that direction
        (another order or filter is shown: a pass for it would be wasted)."""
        for key, kept in list(self._kept.items()):
            index = kept.value.index
            if _underway(index) and (key != serves or index.descending != descending):
                del self._kept[key]
                self._drop(index)

    def _build(self, sheet: TaskSheet, column: str, descending: bool, query: Query) -> Index:
        if not query:
            return build_index(column, descending, self.by_time.in_time(), partial=True)
        search = partial(_search, sheet, query)
        source = self._narrowest(query)
        shown = self._shown(column, descending, query) if len(source) > COUNT_AT_ONCE else None
        if shown is None:
            return build_index(column, descending, search(source.in_time()), partial=True)
        rows: list[TaskItem] | Iterator[TaskItem] = shown.display(descending)
        if shown is self.by_time:  # the rows as they are now: every sync changes it
            with collection_paused():  # else the next collection reads every row in it
                rows = list(rows)
        # Else a kept index, read as the pass goes: it takes changes only when shown or
        # narrowed (:meth:`_index`), each of which drops the pass first.
        selected = None if self.selected is None else self.rows.get(self.selected)
        return Counting(column, descending, rows, search, selected)

    def _narrowest(self, query: Query) -> Index:
        """The fewest rows ``query`` is sure to be found among: those of a filter it
        narrows when one is kept (the filter typed one letter further), else all."""
        source: Index = self.by_time
        for kept in list(self._kept.values()):
            filtered = kept.value
            if filtered.query and len(filtered.index) < len(source) and narrows(query, filtered.query):
                source = self._catch_up(kept).index
        return source

    def _shown(self, column: str, descending: bool, query: Query) -> Index | None:
        """The fewest rows in this order ``query`` is sure to be found among: the index
        of the order kept for a filter it narrows (or for none); None where none is
        kept whole."""
        shown: Index | None = self.by_time if column == "time" else None
        for (kind, direction, _), kept in list(self._kept.items()):
            index = kept.value.index
            fits = kind == column and direction in (None, descending) and not _unbuilt(index)
            if fits and (shown is None or len(index) < len(shown)) and narrows(query, kept.value.query):
                shown = self._catch_up(kept).index
        return shown


def _unbuilt(index: Index) -> TypeGuard[Partial]:
    """Whether ``index`` holds its first rows only, so far."""
    return isinstance(index, Partial) and not index.complete


def _underway(index: Index) -> TypeGuard[Counting]:
    """Whether ``index`` is a filter's whose pass is underway."""
    return isinstance(index, Counting) and not index.complete


def _search(sheet: TaskSheet, query: Query, rows: list[TaskItem]) -> list[TaskItem]:
    """The rows ``query`` keeps, in their order: a term at a time, each over the rows the
    terms before kept, in C loops."""
    for term in query.terms:
        found = term.holds_each(sheet.search_texts(term.field, rows))
        rows = list(compress(rows, map(operator.not_, found) if term.negate else found))
    return rows
