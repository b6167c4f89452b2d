"""The task table's sort orders as indexes kept up to date row by row.

An index takes the rows that changed (old row out, new row in) at a few binary searches
each, however many tasks are held (:class:`~evtop.view.taskrows.TaskRows` decides when).
It is built once, when the user picks its order or filter, from the rows already in
time order, in C loops (sorting by one value keeps time order among equal values): first
only the rows a screen shows, by selection (:class:`Partial`), then whole. A filter over
many rows is searched a chunk at a time between frames (:class:`Counting`), in the order
shown, read from that order's index: the rows it keeps come in display order, a screen
that fills as they are found, and go straight into the blocks of the new index.

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

from evtop.view.tasks import TaskItem

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

    def blocks(self) -> list[list[Any]]:
        """The blocks of the sorted lists this index is made of, for freeing a few at a
        time once it is dropped (:class:`~evtop.view.dropped.Dropped`)."""


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
    """``made``, empty, holding ``lists``: blocks of items in its order, each of half its
    load to twice it but the last (``keys``: theirs, for a key list). sortedcontainers
    2.4's layout, checked by the tests (``_check``); the dependency is pinned below 2.5
    for it."""
    made._lists = lists
    if keys is None:
        made._maxes = [part[-1] for part in lists]
    else:
        made._keys = keys
        made._maxes = [part[-1] for part in keys]
    made._len = sum(map(len, lists))
    return made


def _blocks(made: SortedList) -> list[list[Any]]:
    """The blocks of ``made`` (and of its keys, for a key list)."""
    if isinstance(made, SortedKeyList):
        return [*made._lists, *made._keys]
    return list(made._lists)


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
    def holding(cls, rows: SortedKeyList) -> TimeIndex:
        """Holding ``rows``, a list keyed by time (made from blocks: :class:`_Blocks`)."""
        made = cls()
        made._rows = rows
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

    def blocks(self) -> list[list[Any]]:
        return _blocks(self._rows)


class GroupIndex:
    """Rows grouped by a text column, the groups in value order, newest first in each."""

    def __init__(self, column: str, groups: dict[str, SortedKeyList]) -> None:
        """``groups``: the rows of each value in time order (none empty)."""
        self._value: Callable[[TaskItem], str] = operator.attrgetter(column)
        self._groups = groups
        self._values = SortedList(groups)
        self._size = sum(map(len, groups.values()))
        #: Per direction: where each group starts on screen; dropped when a group changes.
        self._starts: dict[bool, list[int]] = {}

    @classmethod
    def of_rows(cls, column: str, rows: Iterable[TaskItem]) -> GroupIndex:
        """From rows in ascending time."""
        # A stable sort by value keeps each group in time order: C loops all the way.
        ordered = sorted(rows, key=operator.attrgetter(column))
        values = list(map(operator.attrgetter(column), ordered))
        groups: dict[str, SortedKeyList] = {}
        start = 0
        while start < len(values):
            end = bisect_right(values, values[start], start)
            groups[values[start]] = _presorted(ordered[start:end], TIME)
            start = end
        return cls(column, groups)

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

    def blocks(self) -> list[list[Any]]:
        return [block for group in self._groups.values() for block in _blocks(group)]


def _numbered(
    value: Callable[[TaskItem], float | None], descending: bool, rows: list[TaskItem]
) -> tuple[list[tuple[float, Any, TaskItem]], list[TaskItem]]:
    """:class:`ValueIndex` entries ``(number, time, row)`` of the rows with a number (the
    number negated for lowest first), and the rows without one, each in the order of
    ``rows``: in C loops."""
    values = list(map(value, rows))
    has = list(map(operator.is_not, values, repeat(None)))
    known = list(compress(rows, has))
    numbers = cast(Iterator[float], compress(values, has))  # the Nones left out
    keys = numbers if descending else map(operator.neg, numbers)
    unknown = list(compress(rows, map(operator.not_, has)))
    return list(zip(keys, map(TIME, known), known, strict=True)), unknown


class ValueIndex:
    """Rows by a number column in one direction (``descending`` is fixed when it is built),
    then the rows without a number, newest first."""

    def __init__(self, column: str, descending: bool, known: SortedList, unknown: TimeIndex) -> None:
        """``known``: ``(number, time, row)`` entries, the number negated for lowest
        first; ``unknown``: the rows without a number."""
        self._value: Callable[[TaskItem], float | None] = operator.attrgetter(column)
        self._sign = 1.0 if descending else -1.0
        self._known = known
        self._unknown = unknown

    @classmethod
    def of_rows(cls, column: str, descending: bool, rows: Iterable[TaskItem]) -> ValueIndex:
        """From rows in ascending time."""
        # Entries made in time order (rows near each other in memory), then a stable
        # sort by number alone keeps equal numbers in time order, the entries' order.
        rows = rows if isinstance(rows, list) else list(rows)
        entries, unknown = _numbered(operator.attrgetter(column), descending, rows)
        entries.sort(key=FIRST)
        return cls(column, descending, _presorted(entries), TimeIndex(unknown, ordered=True))

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

    def blocks(self) -> list[list[Any]]:
        return [*_blocks(self._known), *self._unknown.blocks()]


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

    def blocks(self) -> list[list[Any]]:
        """Before it is built, none: the rows it holds are a list of references to rows
        the time index holds (a million let go of in 3 ms)."""
        return [] if self._whole is None else self._whole.blocks()


#: Rows a filter's pass searches between two looks at the clock: a few ms for a word
#: looked for in every column.
COUNT_CHUNK = 4096
#: The first rows of a filter are looked for among this many rows of the order shown
#: when it is typed, this many at a time (a screen at once when many match); the rest
#: is searched between frames.
FIRST_SCAN = 8192
FIRST_CHUNK = 1024
UUID = operator.attrgetter("uuid")


class _Blocks:
    """The items of a sorted list taken in display order, a chunk at a time, and put
    straight in the blocks the list is made of (:func:`_filled`). ``backwards``: the
    display reads the list backwards (newest or highest first), so the blocks are turned
    round in place once all are taken, which reads no row again."""

    def __init__(self, backwards: bool, key: Callable[[Any], Any] | None = None) -> None:
        self._backwards = backwards
        self._key = key
        self._load = SortedList.DEFAULT_LOAD_FACTOR
        self._lists: list[list[Any]] = []
        self._keys: list[list[Any]] = []

    def extend(self, items: list[Any]) -> None:
        keys = None if self._key is None else list(map(self._key, items))
        start = 0
        while start < len(items):
            if not self._lists or len(self._lists[-1]) >= self._load:
                self._lists.append([])
                self._keys.append([])
            end = start + self._load - len(self._lists[-1])
            self._lists[-1] += items[start:end]
            if keys is not None:
                self._keys[-1] += keys[start:end]
            start = end

    def blocks(self) -> list[list[Any]]:
        """The blocks filled so far (and their keys)."""
        return [*self._lists, *self._keys]

    def sorted_list(self) -> SortedList:
        """The list of every item taken (taking them from here)."""
        lists, keys = self._lists, self._keys
        self._lists, self._keys = [], []
        if self._backwards:
            for blocks in (lists, keys):
                blocks.reverse()
                for block in blocks:
                    block.reverse()
            # The block filled last comes first now: it may hold less than the half load
            # a sorted list keeps in every block but its last.
            if len(lists) > 1 and 2 * len(lists[0]) < self._load:
                lists[:2] = [lists[0] + lists[1]]
                keys[:2] = [keys[0] + keys[1]]
        made = SortedList() if self._key is None else SortedKeyList(key=self._key)
        return _filled(made, lists, None if self._key is None else keys)


class _Parts(Protocol):
    """An index of one order made from its rows taken in display order (:class:`Counting`)."""

    def take(self, rows: list[TaskItem]) -> None:
        """The next rows in display order."""

    def index(self) -> Index:
        """The index of every row taken."""

    def blocks(self) -> list[list[Any]]:
        """The blocks filled so far (:meth:`Index.blocks`)."""


class _TimeParts:
    def __init__(self, descending: bool) -> None:
        self._rows = _Blocks(descending, TIME)

    def take(self, rows: list[TaskItem]) -> None:
        self._rows.extend(rows)

    def index(self) -> Index:
        return TimeIndex.holding(self._rows.sorted_list())

    def blocks(self) -> list[list[Any]]:
        return self._rows.blocks()


class _GroupParts:
    def __init__(self, column: str) -> None:
        self._column = column
        self._value: Callable[[TaskItem], str] = operator.attrgetter(column)
        self._groups: dict[str, _Blocks] = {}

    def take(self, rows: list[TaskItem]) -> None:
        values = list(map(self._value, rows))
        start = 0
        while start < len(values):  # a group's rows are together in display order
            value = values[start]
            end = start + values.count(value)
            group = self._groups.get(value)
            if group is None:
                group = self._groups[value] = _Blocks(True, TIME)  # newest first in each
            group.extend(rows[start:end])
            start = end

    def index(self) -> Index:
        groups = {value: group.sorted_list() for value, group in self._groups.items()}
        return GroupIndex(self._column, groups)

    def blocks(self) -> list[list[Any]]:
        return [block for group in self._groups.values() for block in group.blocks()]


class _ValueParts:
    def __init__(self, column: str, descending: bool) -> None:
        self._column, self._descending = column, descending
        self._value: Callable[[TaskItem], float | None] = operator.attrgetter(column)
        self._known = _Blocks(True)  # entries read backwards, as ValueIndex reads them
        self._unknown = _Blocks(True, TIME)

    def take(self, rows: list[TaskItem]) -> None:
        entries, unknown = _numbered(self._value, self._descending, rows)
        self._known.extend(entries)
        self._unknown.extend(unknown)

    def index(self) -> Index:
        unknown = TimeIndex.holding(self._unknown.sorted_list())
        return ValueIndex(self._column, self._descending, self._known.sorted_list(), unknown)

    def blocks(self) -> list[list[Any]]:
        return [*self._known.blocks(), *self._unknown.blocks()]


def _parts(column: str, descending: bool) -> _Parts:
    if column == "time":
        return _TimeParts(descending)
    if column in TEXT_COLUMNS:
        return _GroupParts(column)
    return _ValueParts(column, descending)


class Counting(Partial):
    """The index of a filter while its pass over the rows is underway, and once done.

    The pass reads ``rows``, the rows of an index of the same order as they were when it
    began, in display order; so the rows it keeps come in display order, final: the
    first :data:`FIRST_ROWS` of them are the table's rows while it counts (the screen
    fills as they are found, none ever moves), and each one goes straight into the blocks
    of the index of that order (:class:`_Parts`), which is whole once the last row is
    searched, without a sort. It searches up to :data:`FIRST_SCAN` rows when made (a
    screen at once where many match), the rest a chunk at a time between frames
    (:meth:`step`); :attr:`counted` says how many rows it kept so far.

    The changes since the pass began are taken once it is done (:meth:`TaskRows.sync
    <evtop.view.taskrows.TaskRows.sync>`), so an event that came meanwhile is not lost.
    ``keep`` gives the rows of a list that the filter keeps, in their order.

    ``selected``: the row the user has selected, as the pass began. While the filter
    keeps it and it is not among the first rows, it is shown just after them (where it
    comes in display order: the pass has not reached it, or it is further down), so the
    selection stays on it while the rest is counted.

    At a million rows, reading each row once more after the pass (to build the index,
    or only to drop a reference to it) is a pause of a tenth of a second: the rows sit
    all over memory. So each row is done with while the pass has just read it: let go
    of in ``rows`` (when a list), and put in the blocks the index is made of."""

    def __init__(
        self,
        column: str,
        descending: bool,
        rows: list[TaskItem] | Iterator[TaskItem],
        keep: Callable[[list[TaskItem]], list[TaskItem]],
        selected: TaskItem | None = None,
    ) -> None:
        super().__init__(column, descending, [], [])
        self._keep = keep
        #: The rows to search: a list of them, each set to None once searched; or read
        #: from an index as the pass goes.
        self._list = cast(list[TaskItem | None], rows) if isinstance(rows, list) else None
        self._reading = None if isinstance(rows, list) else rows
        self._searched = 0
        self._exhausted = False
        self._parts = _parts(column, descending)
        self._counted = 0
        self._positions: dict[str, int] = {}
        self._selected = selected if selected is not None and keep([selected]) else None
        while not self._exhausted and self._searched < FIRST_SCAN and len(self._first) < FIRST_ROWS:
            self._search_chunk(FIRST_CHUNK)

    @property
    def counted(self) -> int:
        """Rows the filter keeps, as far as the pass has come."""
        return self._counted if self._whole is None else len(self._whole)

    def step(self, deadline: float) -> bool:
        """Search the rows a chunk at a time while another chunk, as long as the last,
        still ends before ``deadline`` (``time.perf_counter``); True once every row is
        searched (the index then whole)."""
        while self._whole is None:
            started = time.perf_counter()
            self._search_chunk(COUNT_CHUNK)
            if self._exhausted:
                self.whole()
            elif 2 * time.perf_counter() - started >= deadline:
                break
        return self._whole is not None

    def _search_chunk(self, size: int) -> None:
        start = self._searched
        if self._list is not None:
            chunk = cast(list[TaskItem], self._list[start : start + size])
            self._list[start : start + size] = repeat(None, len(chunk))
            self._exhausted = start + len(chunk) == len(self._list)
        else:
            assert self._reading is not None
            chunk = list(islice(self._reading, size))
            self._exhausted = len(chunk) < size
        kept = self._keep(chunk)
        self._searched += len(chunk)
        self._counted += len(kept)
        shown = len(self._first)
        if shown < FIRST_ROWS:
            first = kept[: FIRST_ROWS - shown]
            self._positions.update(zip(map(UUID, first), range(shown, shown + len(first)), strict=True))
            self._first += first
        self._parts.take(kept)

    def _build(self) -> Index:
        while not self._exhausted:  # the rest of the pass at once
            self._search_chunk(COUNT_CHUNK)
        self._list, self._reading, self._positions, self._selected = None, None, {}, None
        with collection_paused():
            return self._parts.index()

    def _after_first(self) -> TaskItem | None:
        """The selected row, where it is shown after the first rows."""
        selected = self._selected
        return None if selected is None or selected.uuid in self._positions else selected

    def __len__(self) -> int:
        if self._whole is not None:
            return len(self._whole)
        return len(self._first) + (self._after_first() is not None)

    def at(self, index: int, descending: bool) -> TaskItem:
        if self._whole is None and descending == self.descending:
            if index < len(self._first):
                return self._first[index]
            selected = self._after_first()
            if selected is not None and index == len(self._first):
                return selected
        return self.whole().at(index, descending)

    def locate(self, row: TaskItem, descending: bool) -> int | None:
        if self._whole is None and descending == self.descending:
            position = self._positions.get(row.uuid)
            selected = self._after_first()
            if position is None and selected is not None and selected.uuid == row.uuid:
                return len(self._first)
            return position
        return self.whole().locate(row, descending)

    def in_time(self) -> list[TaskItem]:
        return self.whole().in_time()

    def blocks(self) -> list[list[Any]]:
        """Underway, the blocks filled so far (the rows it reads are references to rows
        held elsewhere, or None where searched: a million let go of in 3 ms)."""
        return self._parts.blocks() if self._whole is None else self._whole.blocks()


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
            return GroupIndex.of_rows(column, rows)
        return ValueIndex.of_rows(column, descending, rows)
