"""The task table's sort orders as indexes kept up to date row by row.

An index takes the rows that changed (old row out, new row in) at a few binary searches
each, however many tasks are held (:class:`~evtop.view.taskrows.TaskRows` decides when).
It is built once, when the user picks its order or filter, from the rows already in
time order, in C loops (sorting by one value keeps time order among equal values): first
only the rows a screen shows, by selection (:class:`Partial`), then whole. A filter over
many rows is searched a chunk at a time between frames (:class:`Counting`), its first
rows found first among the rows of an order already built.

Every order breaks ties newest first, in either direction, as a stable sort of the
newest-first list does, and puts rows without a value (a task not yet received or
finished) last in either direction. Each index reads plain ascending storage:

* time: ascending time, read backwards for newest first;
* text columns (name, state, worker), few distinct values: one time-ordered group per
  value, groups read in either order, each group backwards; reversing costs nothing;
* number columns (received, runtime): ``(value, time)`` read backwards gives highest
  first, ``(-value, time)`` read backwards gives lowest first; so the direction is part of
  the index, and reversing builds a new one.
"""

from __future__ import annotations

import gc
import heapq
import operator
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from itertools import chain, compress, islice, repeat
from typing import Any, Protocol, cast

from sortedcontainers import SortedKeyList, SortedList

from evtop.view.tasks import TaskItem, TimeKey

TIME = operator.attrgetter("time")
FIRST = operator.itemgetter(0)
THIRD = operator.itemgetter(2)
#: Sort columns holding text with few distinct values (the rest hold numbers).
TEXT_COLUMNS = frozenset({"name", "state", "worker"})


class Index(Protocol):
    """Rows in an order; ``descending`` picks the direction where the index holds both."""

    def __len__(self) -> int: ...

    def add(self, row: TaskItem) -> None: ...

    def discard(self, row: TaskItem) -> None:
        """Remove ``row`` if it is here (a filtered index may never have taken it)."""

    def at(self, index: int, descending: bool) -> TaskItem: ...

    def locate(self, row: TaskItem, descending: bool) -> int | None:
        """Display position of ``row``, or None when it is not here."""

    def in_time(self) -> list[TaskItem]:
        """Every row here, in ascending time."""

    def display(self, descending: bool) -> Iterator[TaskItem]:
        """Every row here in display order, lazily (the first ones cost no more than they)."""


@contextmanager
def collection_paused() -> Iterator[None]:
    """No garbage collection while building an index: the new entries would trigger
    full collections over every object not yet frozen (measured: a tenfold slower build
    of an order over 100,000 rows). What was built is frozen, as the TUI does with
    what survives each refresh: a reference cycle among frozen objects is never
    collected, and an index makes none."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()  # else the first allocation after would collect them all the same
        if enabled:
            gc.enable()


def _presorted(items: list[Any], key: Callable[[Any], Any] | None = None) -> SortedList:
    """A sorted list of ``items``, which are in its order already, without sorting them.

    Sorting a sorted list again still compares every neighbour (tuples, here: a third of
    building an order's index); this fills the list's blocks as its own ``update`` does
    after its sort (:func:`_filled`).
    """
    made: SortedList = SortedList() if key is None else SortedKeyList(key=key)
    load = made._load
    lists = [items[start : start + load] for start in range(0, len(items), load)]
    return _filled(made, lists, None if key is None else [list(map(key, part)) for part in lists])


def _filled(made: SortedList, lists: list[list[Any]], keys: list[list[Any]] | None) -> SortedList:
    """``made``, empty, holding ``lists``: blocks of items in its order, each of its load
    but the last (``keys``: theirs, for a key list). sortedcontainers 2.4's layout,
    checked by the tests (``_check``); the dependency is pinned below 2.5 for it."""
    made._lists = lists
    if keys is None:
        made._maxes = [part[-1] for part in lists]
    else:
        made._keys = keys
        made._maxes = [part[-1] for part in keys]
    made._len = sum(map(len, lists))
    return made


def _find(rows: SortedKeyList, row: TaskItem) -> int | None:
    """Position of ``row`` in a time-keyed list: times are unique, one bisection finds it."""
    index = rows.bisect_key_left(row.time)
    return index if index < len(rows) and rows[index] is row else None


class TimeIndex:
    """Rows in time order, read forwards (oldest first) or backwards (newest first)."""

    def __init__(self, rows: Iterable[TaskItem] = (), *, ordered: bool = False) -> None:
        """``ordered``: ``rows`` is a list in ascending time already."""
        if ordered:
            assert isinstance(rows, list)
            self._rows = _presorted(rows, TIME)
        else:
            self._rows = SortedKeyList(rows, key=TIME)

    @classmethod
    def of_blocks(cls, blocks: list[list[TaskItem]], times: list[list[TimeKey]]) -> TimeIndex:
        """From rows in ascending time in blocks of the index's load (and their times)."""
        made = cls()
        made._rows = _filled(made._rows, blocks, times)
        return made

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[TaskItem]:
        return iter(self._rows)

    def add(self, row: TaskItem) -> None:
        self._rows.add(row)

    def discard(self, row: TaskItem) -> None:
        self._rows.discard(row)  # by key, then equality: no positional lookup

    def at(self, index: int, descending: bool) -> TaskItem:
        row: TaskItem = self._rows[-1 - index if descending else index]
        return row

    def locate(self, row: TaskItem, descending: bool) -> int | None:
        index = _find(self._rows, row)
        if index is None:
            return None
        return len(self._rows) - 1 - index if descending else index

    def in_time(self) -> list[TaskItem]:
        return list(self._rows)

    def display(self, descending: bool) -> Iterator[TaskItem]:
        return reversed(self._rows) if descending else iter(self._rows)


class GroupIndex:
    """Rows grouped by a text column, the groups in value order, newest first in each."""

    def __init__(self, column: str, rows: Iterable[TaskItem]) -> None:
        self._value: Callable[[TaskItem], str] = operator.attrgetter(column)
        # A stable sort by value keeps each group in time order: C loops all the way.
        ordered = sorted(rows, key=self._value)
        values = list(map(self._value, ordered))
        self._groups: dict[str, SortedKeyList] = {}
        start = 0
        while start < len(values):
            end = bisect_right(values, values[start], start)
            self._groups[values[start]] = _presorted(ordered[start:end], TIME)
            start = end
        self._values = SortedList(self._groups)
        self._size = len(values)
        #: Per direction: where each group starts on screen; dropped when a group changes.
        self._starts: dict[bool, list[int]] = {}

    def __len__(self) -> int:
        return self._size

    def add(self, row: TaskItem) -> None:
        value = self._value(row)
        group = self._groups.get(value)
        if group is None:
            group = self._groups[value] = SortedKeyList(key=TIME)
            self._values.add(value)
        group.add(row)
        self._size += 1
        self._starts.clear()

    def discard(self, row: TaskItem) -> None:
        value = self._value(row)
        group = self._groups.get(value)
        if group is None:
            return
        size = len(group)
        group.discard(row)
        if len(group) == size:  # a filtered index may never have taken it
            return
        if not group:
            del self._groups[value]
            self._values.remove(value)
        self._size -= 1
        self._starts.clear()

    def _layout(self, descending: bool) -> list[int]:
        starts = self._starts.get(descending)
        if starts is None:
            starts, offset = [], 0
            for value in reversed(self._values) if descending else self._values:
                starts.append(offset)
                offset += len(self._groups[value])
            self._starts[descending] = starts
        return starts

    def _value_at(self, group: int, descending: bool) -> str:
        value: str = self._values[len(self._values) - 1 - group if descending else group]
        return value

    def at(self, index: int, descending: bool) -> TaskItem:
        starts = self._layout(descending)
        group = bisect_right(starts, index) - 1
        rows = self._groups[self._value_at(group, descending)]
        row: TaskItem = rows[len(rows) - 1 - (index - starts[group])]
        return row

    def locate(self, row: TaskItem, descending: bool) -> int | None:
        value = self._value(row)
        rows = self._groups.get(value)
        index = None if rows is None else _find(rows, row)
        if rows is None or index is None:
            return None
        group = self._values.index(value)
        if descending:
            group = len(self._values) - 1 - group
        return self._layout(descending)[group] + len(rows) - 1 - index

    def in_time(self) -> list[TaskItem]:
        return sorted(chain.from_iterable(self._groups.values()), key=TIME)

    def display(self, descending: bool) -> Iterator[TaskItem]:
        values = reversed(self._values) if descending else iter(self._values)
        return chain.from_iterable(reversed(self._groups[value]) for value in values)


class ValueIndex:
    """Rows by a number column in one direction (``descending`` is fixed when it is built),
    then the rows without a number, newest first."""

    def __init__(self, column: str, descending: bool, rows: Iterable[TaskItem]) -> None:
        self._value: Callable[[TaskItem], float | None] = operator.attrgetter(column)
        self._sign = 1.0 if descending else -1.0
        # In C loops: split off the rows without a number, make the entries in time order
        # (rows near each other in memory), then a stable sort by number alone keeps
        # equal numbers in time order, which is the entries' order.
        rows = rows if isinstance(rows, list) else list(rows)
        values = list(map(self._value, rows))
        known = list(compress(rows, map(operator.is_not, values, repeat(None))))
        numbers = map(self._value, known)
        keys = numbers if descending else map(operator.neg, numbers)
        entries = list(zip(keys, map(TIME, known), known, strict=True))
        entries.sort(key=FIRST)
        self._known = _presorted(entries)
        unknown = list(compress(rows, map(operator.is_, values, repeat(None))))
        self._unknown = TimeIndex(unknown, ordered=True)

    def _entry(self, row: TaskItem) -> tuple[float, Any, TaskItem]:
        value = self._value(row)
        assert value is not None
        return (self._sign * value, row.time, row)

    def __len__(self) -> int:
        return len(self._known) + len(self._unknown)

    def add(self, row: TaskItem) -> None:
        if self._value(row) is None:
            self._unknown.add(row)
        else:
            self._known.add(self._entry(row))

    def discard(self, row: TaskItem) -> None:
        if self._value(row) is None:
            self._unknown.discard(row)
        else:
            self._known.discard(self._entry(row))

    def at(self, index: int, descending: bool) -> TaskItem:
        known = len(self._known)
        if index < known:
            row: TaskItem = self._known[known - 1 - index][2]
            return row
        return self._unknown.at(index - known, True)

    def locate(self, row: TaskItem, descending: bool) -> int | None:
        known = len(self._known)
        if self._value(row) is None:
            index = self._unknown.locate(row, True)
            return None if index is None else known + index
        index = self._known.bisect_left(self._entry(row))
        if index < known and self._known[index][2] is row:
            return known - 1 - index
        return None

    def in_time(self) -> list[TaskItem]:
        return sorted(chain(map(THIRD, self._known), self._unknown.in_time()), key=TIME)

    def display(self, descending: bool) -> Iterator[TaskItem]:
        return chain(map(THIRD, reversed(self._known)), self._unknown.display(True))


#: Rows of a new order found before its index is built whole: more than a screen shows.
FIRST_ROWS = 200
#: Groups of a text column looked through for the first rows (a pass over the rows
#: each) before it is sorted whole instead.
FIRST_GROUPS = 8


def first_rows(column: str, descending: bool, rows: list[TaskItem], count: int) -> list[TaskItem] | None:
    """The first ``count`` rows of an order, in display order, from ``rows`` in ascending
    time, by a selection in a few C loops instead of a sort of every row; None where
    that would not be quicker (a text column of many values)."""
    value: Callable[[TaskItem], Any] = operator.attrgetter(column)
    values = list(map(value, rows))
    if column in TEXT_COLUMNS:  # the first groups, each newest first
        newest, newest_values = rows[::-1], values[::-1]
        chosen: list[TaskItem] = []
        for passes, each in enumerate(sorted(set(values), reverse=descending)):
            if len(chosen) >= count:
                break
            if passes == FIRST_GROUPS:  # many small groups: a pass over the rows each
                return None
            group = compress(newest, map(operator.eq, newest_values, repeat(each)))
            chosen += islice(group, count - len(chosen))
        return chosen
    known = list(map(operator.is_not, values, repeat(None)))
    numbers = list(compress(values, known))
    candidates = list(compress(rows, known))
    if len(numbers) > count:  # only the rows up to the count-th number (with its ties)
        # Newest first for the highest: numbers that grow with time (received) then
        # seldom displace one already chosen.
        if descending:
            last, beyond = heapq.nlargest(count, reversed(numbers))[-1], operator.ge
        else:
            last, beyond = heapq.nsmallest(count, numbers)[-1], operator.le
        candidates = list(compress(candidates, map(beyond, numbers, repeat(last))))
    sign = 1.0 if descending else -1.0
    candidates.sort(key=lambda row: (sign * value(row), row.time), reverse=True)
    unknown = compress(reversed(rows), map(operator.is_, reversed(values), repeat(None)))
    return candidates[:count] + list(islice(unknown, max(count - len(candidates), 0)))


class Partial:
    """An order's index before it is built: its first rows (:func:`first_rows`), so a
    sort order shown for the first time is on screen without waiting for the sort of
    every row. The whole index is built when something beyond those rows is asked for,
    or by :meth:`whole` (:meth:`TaskRows.sync <evtop.view.taskrows.TaskRows.sync>`,
    which the TUI calls just after drawing the key's effect)."""

    def __init__(self, column: str, descending: bool, rows: list[TaskItem], first: list[TaskItem]) -> None:
        self._column, self.descending = column, descending
        self._rows: list[TaskItem] = rows
        self._first = first
        self._whole: Index | None = None

    @property
    def complete(self) -> bool:
        return self._whole is not None

    def whole(self) -> Index:
        """The index built whole (once)."""
        if self._whole is None:
            self._whole = self._build()
            self._rows, self._first = [], []
        return self._whole

    def _build(self) -> Index:
        return build_index(self._column, self.descending, self._rows)

    def __len__(self) -> int:
        return len(self._rows) if self._whole is None else len(self._whole)

    def add(self, row: TaskItem) -> None:
        self.whole().add(row)

    def discard(self, row: TaskItem) -> None:
        self.whole().discard(row)

    def at(self, index: int, descending: bool) -> TaskItem:
        if self._whole is None and descending == self.descending and index < len(self._first):
            return self._first[index]
        return self.whole().at(index, descending)

    def locate(self, row: TaskItem, descending: bool) -> int | None:
        return self.whole().locate(row, descending)

    def in_time(self) -> list[TaskItem]:
        return self._rows[:] if self._whole is None else self._whole.in_time()

    def display(self, descending: bool) -> Iterator[TaskItem]:
        return self.whole().display(descending)


#: Rows a filter's pass searches between two looks at the clock: a few ms for a word
#: looked for in every column.
COUNT_CHUNK = 4096
#: The first rows of a filter are looked for among this many rows of the order shown,
#: this many at a time: fewer matching (under one in forty) and a pass over every row at
#: once costs little more than one between frames, so none is begun.
FIRST_SCAN = 8192
FIRST_CHUNK = 1024


def first_kept(
    rows: Iterator[TaskItem], keep: Callable[[list[TaskItem]], list[TaskItem]]
) -> list[TaskItem] | None:
    """The first :data:`FIRST_ROWS` of ``rows`` (in display order) that ``keep`` keeps,
    when they are among the first :data:`FIRST_SCAN`; else None."""
    first: list[TaskItem] = []
    for _ in range(max(FIRST_SCAN // FIRST_CHUNK, 1)):
        chunk = list(islice(rows, FIRST_CHUNK))
        first += keep(chunk)
        if len(first) >= FIRST_ROWS or len(chunk) < FIRST_CHUNK:
            break
    return first[:FIRST_ROWS] if len(first) >= FIRST_ROWS else None


class Counting(Partial):
    """The index of a filter while its pass over the rows is underway: the rows it keeps
    that a screen shows first (found among the rows of an order already built), then,
    a chunk at a time between frames (:meth:`step`), every row it keeps among ``rows``,
    from which the index is built whole. Until then it holds only those first rows, and
    :attr:`counted` says how many it kept so far.

    ``rows`` (ascending time) are the rows as they were when the pass began: the changes
    since are taken once it is done (:meth:`TaskRows.sync
    <evtop.view.taskrows.TaskRows.sync>`), so an event that came meanwhile is not lost.
    ``keep`` gives the rows of a list that the filter keeps, in their order.

    At a million rows, reading each row once more after the pass (to build the index,
    or only to drop a reference to it) is a pause of a tenth of a second: the rows sit
    all over memory. So each row is done with while the pass has just read it: let go
    of in ``rows``, and, in time order, put in the blocks the index is made of."""

    def __init__(
        self,
        column: str,
        descending: bool,
        rows: list[TaskItem],
        first: list[TaskItem],
        keep: Callable[[list[TaskItem]], list[TaskItem]],
    ) -> None:
        super().__init__(column, descending, [], first)
        self._keep = keep
        #: The rows to search, each set to None once searched.
        self._unsearched = cast(list[TaskItem | None], rows)
        self._searched = 0
        #: The rows kept: in time order, blocks of a time index and their times; else
        #: one list (:func:`build_index` sorts it).
        self._blocks: list[list[TaskItem]] = []
        self._times: list[list[TimeKey]] = []
        self._kept: list[TaskItem] = []
        self._counted = 0
        self._positions = {row.uuid: position for position, row in enumerate(first)}

    @property
    def counted(self) -> int:
        """Rows the filter keeps, as far as the pass has come."""
        return self._counted if self._whole is None else len(self._whole)

    def step(self, deadline: float) -> bool:
        """Search the rows a chunk at a time while another chunk, as long as the last,
        still ends before ``deadline`` (``time.perf_counter``), then build the index;
        True once it is built."""
        while self._whole is None:
            started = time.perf_counter()
            if self._searched < len(self._unsearched):
                self._search_chunk()
            else:
                self.whole()
            now = time.perf_counter()
            if 2 * now - started >= deadline or self._searched == len(self._unsearched):
                break  # building the index is a step of its own
        return self._whole is not None

    def _search_chunk(self) -> None:
        start, end = self._searched, self._searched + COUNT_CHUNK
        chunk = cast(list[TaskItem], self._unsearched[start:end])
        self._unsearched[start:end] = repeat(None, len(chunk))
        kept = self._keep(chunk)
        self._searched += len(chunk)
        self._counted += len(kept)
        if self._column != "time":
            self._kept += kept
            return
        times = list(map(TIME, kept))
        load = SortedList.DEFAULT_LOAD_FACTOR
        while kept:
            if not self._blocks or len(self._blocks[-1]) >= load:
                self._blocks.append([])
                self._times.append([])
            room = load - len(self._blocks[-1])
            self._blocks[-1] += kept[:room]
            self._times[-1] += times[:room]
            kept, times = kept[room:], times[room:]

    def _build(self) -> Index:
        while self._searched < len(self._unsearched):  # the rest of the pass at once
            self._search_chunk()
        blocks, times, kept = self._blocks, self._times, self._kept
        self._blocks, self._times, self._kept, self._unsearched, self._positions = [], [], [], [], {}
        if self._column != "time":
            return build_index(self._column, self.descending, kept)
        with collection_paused():
            return TimeIndex.of_blocks(blocks, times)

    def __len__(self) -> int:
        return len(self._first) if self._whole is None else len(self._whole)

    def locate(self, row: TaskItem, descending: bool) -> int | None:
        if self._whole is None and descending == self.descending:
            return self._positions.get(row.uuid)
        return self.whole().locate(row, descending)

    def in_time(self) -> list[TaskItem]:
        return self.whole().in_time()


class Ordered:
    """An index read in one direction: the rows of the task table, as a sequence.

    Live: it changes when :meth:`TaskRows.sync <evtop.view.taskrows.TaskRows.sync>` runs,
    which only the UI thread does, between two draws.
    """

    def __init__(self, index: Index, descending: bool, rows: Mapping[str, TaskItem]) -> None:
        self._index = index
        self._descending = descending
        self._rows = rows

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, index: int) -> TaskItem:
        size = len(self._index)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError(index)
        return self._index.at(index, self._descending)

    def __iter__(self) -> Iterator[TaskItem]:
        for index in range(len(self._index)):
            yield self._index.at(index, self._descending)

    def position(self, key: str) -> int | None:
        row = self._rows.get(key)
        return None if row is None else self._index.locate(row, self._descending)


def holds_both_directions(column: str) -> bool:
    """Whether the index for ``column`` serves both directions (reversing costs nothing)."""
    return column == "time" or column in TEXT_COLUMNS


def build_index(column: str, descending: bool, rows: Iterable[TaskItem], *, partial: bool = False) -> Index:
    """The index for a sort column, from rows in ascending time; ``partial``: a
    :class:`Partial` one where its first rows are found quicker than it is built."""
    with collection_paused():
        if partial and column != "time":
            rows = rows if isinstance(rows, list) else list(rows)
            first = first_rows(column, descending, rows, FIRST_ROWS)
            if first is not None:
                return Partial(column, descending, rows, first)
        if column == "time":
            return TimeIndex(rows if isinstance(rows, list) else list(rows), ordered=True)
        if column in TEXT_COLUMNS:
            return GroupIndex(column, rows)
        return ValueIndex(column, descending, rows)
