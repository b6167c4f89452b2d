"""A table screen as data: what its rows are, how they sort, filter and read.

Each screen (tasks, workers, task types) is a :class:`Sheet`, and what a renderer draws is
a :class:`Table`: rows in display order, of which only the drawn ones are ever formatted.
The task table reads its rows from :class:`~evtop.view.taskrows.TaskRows`, which keeps
them in order as events arrive. The workers and task types screens hold a row per
worker or task name, few enough to rebuild whole on each refresh (:class:`ListSheet`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

from evtop.view.columns import Column
from evtop.view.query import Query, parse

if TYPE_CHECKING:
    from evtop.view.taskrows import TaskRows

Item = TypeVar("Item")
ItemT = TypeVar("ItemT", covariant=True)


@dataclass(frozen=True)
class Order:
    column: str
    descending: bool


class Sheet(Protocol[Item]):
    #: Shown in the title bar and the help screen.
    title: str
    columns: tuple[Column, ...]
    #: Field names the filter can name (``state:failure``); all are searched by plain words.
    fields: tuple[str, ...]
    #: Column id sorted by when the user has not chosen, and in which direction.
    default_sort: str
    default_descending: bool
    #: Column ids the sort key cycles through (others fall back to ``default_sort``).
    sort_columns: tuple[str, ...]

    def key(self, item: Item) -> str:
        """Stable identity of a row, so the selection survives a refresh."""

    def search(self, item: Item) -> dict[str, str]:
        """Lower-cased text per field, for the filter."""

    def cells(self, item: Item, now: float) -> tuple[str, ...]:
        """Sanitized cell texts, one per column."""

    def styles(self, item: Item) -> tuple[str | None, ...]:
        """Semantic style name per cell (``state.FAILURE``), ``None`` for plain."""

    def table(self, rows: TaskRows, now: float, order: Order, filter_text: str) -> Table[Item]:
        """The rows to show, filtered and sorted, as of the last ``rows.sync()``."""


#: Titles of the sort orders that are no column (the task table's event order).
ORDER_TITLES = {"time": "LAST EVENT"}


def sort_title(sheet: Sheet[Any], column: str) -> str:
    """What the user reads for a sort column: its title, never an internal name."""
    found = next((c.title for c in sheet.columns if c.id == column), None)
    return found or ORDER_TITLES.get(column, column.upper())


def sort_choices(sheet: Sheet[Any]) -> list[str]:
    """The sort columns left to right as on screen (orders without a column first)."""
    shown = [c.id for c in sheet.columns if c.id in sheet.sort_columns]
    return [c for c in sheet.sort_columns if c not in shown] + shown


def starts_descending(sheet: Sheet[Any], column: str) -> bool:
    """The direction a column sorts in when picked: text A to Z, numbers and times
    highest (newest) first."""
    found = next((c for c in sheet.columns if c.id == column), None)
    if found is not None:
        return found.starts_descending
    return sheet.default_descending if column == sheet.default_sort else True


class Rows(Protocol[ItemT]):
    """A table's rows in display order; positional access need not be O(1)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> ItemT: ...

    def __iter__(self) -> Iterator[ItemT]: ...

    def position(self, key: str) -> int | None:
        """Where the row whose :meth:`Sheet.key` is ``key`` is, or None."""


@dataclass(frozen=True)
class Table(Generic[Item]):
    sheet: Sheet[Item]
    #: The rows after filtering and sorting, in display order.
    items: Rows[Item]
    #: Rows before filtering.
    total: int
    order: Order
    query: Query
    now: float
    #: Keys of the tagged rows: marked by :data:`TAG_MARK` before the first cell.
    tagged: AbstractSet[str] = frozenset()
    #: While the filter's pass over the rows is underway: the rows it kept so far
    #: (``items`` then holds its first rows only); None once every row is searched.
    counting: int | None = None

    def key(self, index: int) -> str:
        return self.sheet.key(self.items[index])

    def index_of(self, key: str | None) -> int | None:
        return None if key is None else self.items.position(key)

    def cells(self, index: int) -> tuple[str, ...]:
        item = self.items[index]
        cells = self.sheet.cells(item, self.now)
        if self.tagged and self.sheet.key(item) in self.tagged:
            return (TAG_MARK + cells[0], *cells[1:])
        return cells

    def styles(self, index: int) -> tuple[str | None, ...]:
        item = self.items[index]
        styles = self.sheet.styles(item)
        if self.tagged and self.sheet.key(item) in self.tagged:
            return (TAGGED, *styles[1:])
        return styles


#: Before the first cell of a tagged row (htop's tag), in the :data:`TAGGED` style.
TAG_MARK = "*"
TAGGED = "row.tagged"


class ListRows(list[Item]):
    """The rows of a small table: a list, searched from the start for a key."""

    def __init__(self, items: list[Item], key: Callable[[Item], str]) -> None:
        super().__init__(items)
        self._key = key

    def position(self, key: str) -> int | None:
        return next((index for index, item in enumerate(self) if self._key(item) == key), None)


def sort_items(items: list[Item], key: Callable[[Item], Any], descending: bool) -> list[Item]:
    """Sort by ``key`` with rows whose key is ``None`` at the end either way (stable)."""
    known = [item for item in items if key(item) is not None]
    unknown = [item for item in items if key(item) is None]
    known.sort(key=key, reverse=descending)
    return known + unknown


class ArrangedSheet(ABC, Generic[Item]):
    """A :class:`Sheet` whose few rows are filtered and sorted whole on each refresh."""

    title: str
    columns: tuple[Column, ...]
    fields: tuple[str, ...]
    default_sort: str
    default_descending: bool
    sort_columns: tuple[str, ...]

    @abstractmethod
    def key(self, item: Item) -> str: ...

    @abstractmethod
    def search(self, item: Item) -> dict[str, str]: ...

    @abstractmethod
    def sort_key(self, column: str) -> Callable[[Item], Any]:
        """Sort key for a column id; ``None`` sorts last in either direction."""

    @abstractmethod
    def cells(self, item: Item, now: float) -> tuple[str, ...]: ...

    @abstractmethod
    def styles(self, item: Item) -> tuple[str | None, ...]: ...

    def arrange(self, items: list[Item], now: float, order: Order, filter_text: str) -> Table[Item]:
        """``items`` filtered and sorted as the user asked."""
        total = len(items)
        query = parse(filter_text, self.fields)
        if query:
            items = [item for item in items if query.matches(self.search(item))]
        column = order.column if order.column in self.sort_columns else self.default_sort
        items = sort_items(items, self.sort_key(column), order.descending)
        sheet = cast(Sheet[Item], self)  # each subclass has its own table(source, ...)
        return Table(sheet, ListRows(items, self.key), total, Order(column, order.descending), query, now)


class ListSheet(ArrangedSheet[Item]):
    """A sheet of State rebuilt whole on each refresh: its rows are few (workers, task names)."""

    @abstractmethod
    def items(self, rows: TaskRows, now: float) -> list[Item]:
        """The rows, taken while State is locked: copy what is needed, quickly."""

    def table(self, rows: TaskRows, now: float, order: Order, filter_text: str) -> Table[Item]:
        return self.arrange(rows.state.freeze_while(self.items, rows, now), now, order, filter_text)
