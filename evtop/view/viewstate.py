"""What the user is looking at: screen, sort, filter, selection, pause. Pure data.

Kept apart from the widgets so every key's effect is a plain function of this state,
testable without a terminal, and so a refresh can rebuild the screen from it alone.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from evtop.view.queues import QueueSheet
from evtop.view.sheet import Order, Sheet, sort_choices, starts_descending
from evtop.view.tasks import TaskSheet
from evtop.view.tasktypes import TypeSheet
from evtop.view.workers import WorkerSheet
from evtop.zones import UTC, Zone


class Screen(str, Enum):
    TASKS = "tasks"
    WORKERS = "workers"
    TYPES = "types"
    QUEUES = "queues"


SHEETS: dict[Screen, Any] = {
    Screen.TASKS: TaskSheet(),
    Screen.WORKERS: WorkerSheet(),
    Screen.TYPES: TypeSheet(),
    Screen.QUEUES: QueueSheet(),
}


@functools.cache
def sheet_for(screen: Screen, zone: Zone = UTC) -> Sheet[Any]:
    """The sheet of ``screen`` showing times in ``zone`` (one per zone: a table's rows are
    kept while its sheet stays the same object)."""
    return TaskSheet(zone) if screen is Screen.TASKS else SHEETS[screen]


def _default_orders() -> dict[Screen, Order]:
    return {screen: Order(sheet.default_sort, sheet.default_descending) for screen, sheet in SHEETS.items()}


@dataclass(frozen=True)
class ViewState:
    screen: Screen = Screen.TASKS
    orders: dict[Screen, Order] = field(default_factory=_default_orders)
    filters: dict[Screen, str] = field(default_factory=lambda: dict.fromkeys(Screen, ""))
    #: Selected row key per screen (uuid, hostname, task name).
    selected: dict[Screen, str | None] = field(default_factory=lambda: dict.fromkeys(Screen))
    #: While paused the screen keeps its rows; events are still consumed and counted.
    paused: bool = False

    @property
    def order(self) -> Order:
        return self.orders[self.screen]

    @property
    def filter_text(self) -> str:
        return self.filters[self.screen]

    @property
    def selection(self) -> str | None:
        return self.selected[self.screen]

    def show(self, screen: Screen) -> ViewState:
        return replace(self, screen=screen)

    def next_screen(self) -> ViewState:
        screens = list(Screen)
        return self.show(screens[(screens.index(self.screen) + 1) % len(screens)])

    def select(self, key: str | None) -> ViewState:
        return replace(self, selected={**self.selected, self.screen: key})

    def with_filter(self, text: str, screen: Screen | None = None) -> ViewState:
        return replace(self, filters={**self.filters, (screen or self.screen): text.strip()})

    def sort_by(self, column: str) -> ViewState:
        """Sort by ``column`` in its first direction (text A to Z, numbers highest first)."""
        return self._order(Order(column, starts_descending(SHEETS[self.screen], column)))

    def pick_sort(self, column: str) -> ViewState:
        """A sort column chosen (a menu, a click on its title): the current one reverses."""
        return self.reverse_sort() if column == self.order.column else self.sort_by(column)

    def move_sort(self, step: int) -> ViewState:
        """The sort column ``step`` places right (left when negative) of the current one
        on screen, wrapping around."""
        columns = sort_choices(SHEETS[self.screen])
        current = self.order.column
        index = columns.index(current) if current in columns else -1 if step > 0 else 0
        return self.sort_by(columns[(index + step) % len(columns)])

    def reverse_sort(self) -> ViewState:
        return self._order(Order(self.order.column, not self.order.descending))

    def _order(self, order: Order) -> ViewState:
        return replace(self, orders={**self.orders, self.screen: order})

    def toggle_pause(self) -> ViewState:
        return replace(self, paused=not self.paused)
