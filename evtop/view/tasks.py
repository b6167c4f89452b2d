"""The task table: one row per task in memory, newest first by default."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, NamedTuple

from evtop.events import states
from evtop.events.state import State, Task
from evtop.view.cells import NONE, clock_text, duration_text, text
from evtop.view.columns import Align, Column


def _float(value: Any) -> float | None:
    kind = type(value)  # exact types: bool is not a number here, and this runs 10,000 times
    return value if kind is float else float(value) if kind is int else None


def _str(value: Any) -> str:
    return value if type(value) is str else "" if value is None else str(value)


class TaskItem(NamedTuple):
    """What a task row needs, copied out of State so rendering never races the events.

    A named tuple, not a frozen dataclass: 10,000 of these are made under State's lock on
    every refresh, and a tuple is built several times faster.
    """

    uuid: str
    name: str
    state: str
    worker: str
    received: float | None
    started: float | None
    runtime: float | None
    args: str
    kwargs: str
    #: Position in State's clock order, 0 being the newest event.
    order: int

    @classmethod
    def of(cls, task: Task, order: int) -> TaskItem:
        worker = task.worker
        return cls(
            _str(task.uuid),
            _str(task.name),
            _str(task.state),
            _str(worker.hostname) if worker is not None else "",
            _float(task.received) or _float(task.sent),
            _float(task.started),
            _float(task.runtime),
            _str(task.args),
            _str(task.kwargs),
            order,
        )

    def elapsed(self, now: float) -> float | None:
        """Runtime when known; for a running task, how long it has been running."""
        if self.runtime is not None:
            return self.runtime
        if self.state == states.STARTED and self.started is not None:
            return max(now - self.started, 0.0)
        return None


STYLE_BY_STATE = {
    states.SUCCESS: "state.success",
    states.FAILURE: "state.failure",
    states.RETRY: "state.retry",
    states.REVOKED: "state.revoked",
    states.REJECTED: "state.revoked",
    states.STARTED: "state.started",
    states.RECEIVED: "state.waiting",
    states.PENDING: "state.waiting",
}


class TaskSheet:
    title = "Tasks"
    columns = (
        Column("uuid", "UUID", 8, grow=3, drop=2, most=36),
        Column("name", "TASK", 12, grow=3, most=60),
        Column("state", "STATE", 8),
        Column("worker", "WORKER", 10, grow=2, drop=3, most=40),
        Column("received", "RECEIVED", 8, drop=4),
        Column("runtime", "RUNTIME", 7, align=Align.RIGHT, drop=1),
        Column("args", "ARGS", 6, grow=2, drop=5),
    )
    fields = ("uuid", "name", "state", "worker", "args")
    default_sort = "time"
    default_descending = True
    #: Column ids a user can cycle through with the sort key; "time" is clock order.
    sort_columns = ("time", "name", "state", "worker", "received", "runtime")

    def items(self, state: State, now: float) -> list[TaskItem]:
        rows = [TaskItem.of(task, order) for order, (_, task) in enumerate(state.tasks_by_time())]
        if len(rows) < len(state.tasks):  # tasks whose heap entries were trimmed: oldest
            seen = {row.uuid for row in rows}
            rest = [task for task in state.tasks.data.values() if task.uuid not in seen]
            rows += [TaskItem.of(task, len(rows) + i) for i, task in enumerate(rest)]
        return rows

    def key(self, item: TaskItem) -> str:
        return item.uuid

    def search(self, item: TaskItem) -> dict[str, str]:
        return {
            "uuid": item.uuid.lower(),
            "name": item.name.lower(),
            "state": item.state.lower(),
            "worker": item.worker.lower(),
            "args": (item.args + " " + item.kwargs).lower(),
        }

    def sort_key(self, column: str) -> Callable[[TaskItem], Any]:
        if column == "time":
            return lambda item: -item.order  # descending = newest first
        return operator.attrgetter(column)

    def cells(self, item: TaskItem, now: float) -> tuple[str, ...]:
        args = f"{item.args} {item.kwargs}" if item.kwargs not in ("", "{}") else item.args
        return (
            text(item.uuid),
            text(item.name) if item.name else "???",
            text(item.state),
            text(item.worker) if item.worker else "*NONE*",
            clock_text(item.received),
            duration_text(item.elapsed(now)),
            text(args) if args else NONE,
        )

    def styles(self, item: TaskItem) -> tuple[str | None, ...]:
        running = "state.started" if item.runtime is None and item.state == states.STARTED else None
        return (None, None, STYLE_BY_STATE.get(item.state), None, None, running, None)
