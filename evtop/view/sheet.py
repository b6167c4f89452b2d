"""A table screen as data: what its rows are, how they sort, filter and read.

Each screen (tasks, workers, task types) is a :class:`Sheet`. :func:`build` takes the
rows out of State under its lock as small immutable items (so the event thread is held
up only for that copy), then filters and sorts them outside it. Cells are formatted
only for the rows a renderer actually draws, which keeps a 10,000-task refresh cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from evtop.events.state import State
from evtop.view.columns import Column
from evtop.view.query import Query, parse

Item = TypeVar("Item")
ItemT = TypeVar("ItemT", contravariant=True)


class Sheet(Protocol[Item]):
    #: Shown in the title bar and the help screen.
    title: str
    columns: tuple[Column, ...]
    #: Field names the filter can name (``state:failure``); all are searched by plain words.
    fields: tuple[str, ...]
    #: Column id sorted by when the user has not chosen, and in which direction.
    default_sort: str
    default_descending: bool

    def items(self, state: State, now: float) -> list[Item]:
        """The rows, taken while ``state`` is locked: copy what is needed, quickly."""

    def key(self, item: Item) -> str:
        """Stable identity of a row, so the selection survives a refresh."""

    def search(self, item: Item) -> dict[str, str]:
        """Lower-cased text per field, for the filter."""

    def sort_key(self, column: str) -> Callable[[Item], Any]:
        """Sort key for a column id; ``None`` sorts last in either direction."""

    def cells(self, item: Item, now: float) -> tuple[str, ...]:
        """Sanitized cell texts, one per column."""

    def styles(self, item: Item) -> tuple[str | None, ...]:
        """Semantic style name per cell (``state.FAILURE``), ``None`` for plain."""


@dataclass(frozen=True)
class Order:
    column: str
    descending: bool


@dataclass(frozen=True)
class Table(Generic[Item]):
    sheet: Sheet[Item]
    #: The rows after filtering and sorting, in display order.
    items: Sequence[Item]
    #: Rows before filtering.
    total: int
    order: Order
    query: Query
    now: float

    def key(self, index: int) -> str:
        return self.sheet.key(self.items[index])

    def index_of(self, key: str | None) -> int | None:
        if key is None:
            return None
        for index, item in enumerate(self.items):
            if self.sheet.key(item) == key:
                return index
        return None

    def cells(self, index: int) -> tuple[str, ...]:
        return self.sheet.cells(self.items[index], self.now)

    def styles(self, index: int) -> tuple[str | None, ...]:
        return self.sheet.styles(self.items[index])


def sort_items(items: list[Item], key: Callable[[Item], Any], descending: bool) -> list[Item]:
    """Sort by ``key`` with rows whose key is ``None`` at the end either way (stable)."""
    known = [item for item in items if key(item) is not None]
    unknown = [item for item in items if key(item) is None]
    known.sort(key=key, reverse=descending)
    return known + unknown


def build(sheet: Sheet[Item], state: State, now: float, order: Order, filter_text: str) -> Table[Item]:
    items: list[Item] = state.freeze_while(sheet.items, state, now)
    total = len(items)
    query = parse(filter_text, sheet.fields)
    if query:
        items = [item for item in items if query.matches(sheet.search(item))]
    column = order.column if any(c.id == order.column for c in sheet.columns) else sheet.default_sort
    items = sort_items(items, sheet.sort_key(column), order.descending)
    return Table(sheet, items, total, Order(column, order.descending), query, now)
