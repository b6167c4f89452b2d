"""The task table's sort orders as indexes kept up to date row by row.

An index takes the rows that changed (old row out, new row in) at a few binary searches
each, however many tasks are held (:class:`~evtop.view.taskrows.TaskRows` decides when).
It is built once, when the user picks its order or filter, from the rows already in
time order.

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

import operator
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from sortedcontainers import SortedKeyList, SortedList

from evtop.view.tasks import TaskItem

TIME = operator.attrgetter("time")
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


def _find(rows: SortedKeyList, row: TaskItem) -> int | None:
    """Position of ``row`` in a time-keyed list: times are unique, one bisection finds it."""
    index = rows.bisect_key_left(row.time)
    return index if index < len(rows) and rows[index] is row else None


class TimeIndex:
    """Rows in time order, read forwards (oldest first) or backwards (newest first)."""

    def __init__(self, rows: Iterable[TaskItem] = ()) -> None:
        self._rows = SortedKeyList(rows, key=TIME)

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


class GroupIndex:
    """Rows grouped by a text column, the groups in value order, newest first in each."""

    def __init__(self, column: str, rows: Iterable[TaskItem]) -> None:
        self._value: Callable[[TaskItem], str] = operator.attrgetter(column)
        grouped: defaultdict[str, list[TaskItem]] = defaultdict(list)
        for row in rows:  # in ascending time, so each group comes out sorted
            grouped[self._value(row)].append(row)
        self._groups = {value: SortedKeyList(group, key=TIME) for value, group in grouped.items()}
        self._values = SortedList(self._groups)
        self._size = sum(len(group) for group in self._groups.values())
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


class ValueIndex:
    """Rows by a number column in one direction (``descending`` is fixed when it is built),
    then the rows without a number, newest first."""

    def __init__(self, column: str, descending: bool, rows: Iterable[TaskItem]) -> None:
        self._value: Callable[[TaskItem], float | None] = operator.attrgetter(column)
        self._sign = sign = 1.0 if descending else -1.0
        entries: list[tuple[float, Any, TaskItem]] = []
        unknown: list[TaskItem] = []
        for row in rows:  # made in time order (rows near each other in memory), sorted after
            value = self._value(row)
            if value is None:
                unknown.append(row)
            else:
                entries.append((sign * value, row.time, row))
        self._known = SortedList(entries)
        self._unknown = TimeIndex(unknown)

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


def build_index(column: str, descending: bool, rows: Iterable[TaskItem]) -> Index:
    """The index for a sort column, from rows in ascending time."""
    if column == "time":
        return TimeIndex(rows)
    if column in TEXT_COLUMNS:
        return GroupIndex(column, rows)
    return ValueIndex(column, descending, rows)
