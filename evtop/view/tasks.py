"""The task table: one row per task in memory, newest first by default."""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

from evtop.events import states
from evtop.events.health import unfinished
from evtop.events.state import Task
from evtop.view.cells import NONE, clock_text, duration_text, percent_text, progress, text
from evtop.view.columns import Align, Column
from evtop.view.sheet import Order, Table
from evtop.view.trust import LOST, TrustedRows
from evtop.zones import UTC, Zone

if TYPE_CHECKING:
    from evtop.view.taskrows import TaskRows


def _float(value: Any) -> float | None:
    """A finite number, else None: NaN would make every order over the column undefined."""
    kind = type(value)  # exact types: bool is not a number here, and this runs per changed task
    number = value if kind is float else float(value) if kind is int else None
    return number if number is not None and math.isfinite(number) else None


def _str(value: Any) -> str:
    return value if type(value) is str else "" if value is None else str(value)


def _progress(task: Task, extra: dict[str, Any]) -> float | None:
    """Its custom events' progress while it runs. Ended is also revoked or rejected in a
    custom state: celery ranks a custom state above those, so a task terminated after a
    ``task-progress`` event stays ``PROGRESS``, but its last percentage is no longer news."""
    done = progress(extra)
    if done is None or task.state in states.READY_STATES or task.revoked or task.rejected:
        return None
    return done


#: Where a task stands in time: ``(clock, origin, seq)`` of its newest event, ``origin``
#: being the sender as State orders its heap, ``seq`` the arrival number breaking ties as
#: State's insort does. An event without a Lamport clock gives ``(0, timestamp, seq)``.
TimeKey = tuple[int, Any, int]


_new = tuple.__new__


class TaskItem(NamedTuple):
    """What a task row needs, copied out of State so rendering never races the events.

    A named tuple, not a frozen dataclass: one is made under State's lock for every task
    that changed since the last refresh, and a tuple is built several times faster.
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
    #: Sorts as State's clock order (``tasks_by_time``): the newest event sorts last.
    time: TimeKey
    #: ``current / total`` from the task's custom events while it is unfinished, else None.
    progress: float | None = None
    #: Its worker has yet to finish it (:func:`~evtop.events.health.unfinished`).
    unfinished: bool = False

    @classmethod
    def of(cls, task: Task, time: TimeKey) -> TaskItem:
        # The common types are tested inline: this runs for every task changed between
        # two refreshes, and a call per field was half its cost.
        worker = task.worker
        host = "" if worker is None else worker.hostname
        uuid, name, state, args, kwargs = task.uuid, task.name, task.state, task.args, task.kwargs
        started, runtime = task.started, task.runtime
        extra = task.__dict__  # fields no celery event has: a custom event's (task-progress)
        return _new(
            cls,
            (
                uuid if type(uuid) is str else _str(uuid),
                name if type(name) is str else _str(name),
                state if type(state) is str else _str(state),
                host if type(host) is str else _str(host),
                _float(task.received) or _float(task.sent),
                None if started is None else _float(started),
                None if runtime is None else _float(runtime),
                args if type(args) is str else _str(args),
                kwargs if type(kwargs) is str else _str(kwargs),
                time,
                _progress(task, extra) if extra else None,
                unfinished(task),
            ),
        )

    @property
    def running(self) -> bool:
        """As :func:`~evtop.events.health.running`: started, or in a custom state since
        (``PROGRESS``), and not finished."""
        return self.unfinished and self.state != states.RECEIVED

    @property
    def stopped(self) -> bool:
        """Revoked or rejected in a custom state, which celery keeps (it ranks above
        REVOKED and REJECTED): ended all the same."""
        return not self.unfinished and self.state not in states.ALL_STATES

    def elapsed(self, now: float) -> float | None:
        """Runtime when known; for a running task, how long it has been running."""
        if self.runtime is not None:
            return self.runtime
        started = self.started
        return max(now - started, 0.0) if started is not None and self.running else None


#: What the filter searches, per field: these attributes, a space between them.
_SEARCHED: dict[str, tuple[str, ...]] = {
    "uuid": ("uuid",),
    "name": ("name",),
    "state": ("state",),
    "worker": ("worker",),
    "args": ("args", "kwargs"),
}
_EVERY = tuple(name for names in _SEARCHED.values() for name in names)
STYLE_BY_STATE = {
    states.SUCCESS: "state.success",
    states.FAILURE: "state.failure",
    states.RETRY: "state.retry",
    states.REVOKED: "state.revoked",
    states.REJECTED: "state.revoked",
    states.STARTED: "state.started",
    states.RECEIVED: "state.waiting",
    states.PENDING: "state.waiting",
    LOST: "state.lost",
}


class TaskSheet:
    title = "Tasks"
    columns: tuple[Column, ...] = (
        Column("uuid", "UUID", 8, grow=4, drop=2, most=36),
        Column("name", "TASK", 12, grow=3, most=60),
        Column("state", "STATE", 8),
        #: Tasks that report progress: custom events with current and total (Flower's PROGRESS).
        Column("progress", "DONE", 4, align=Align.RIGHT, drop=6),
        Column("worker", "WORKER", 10, grow=2, drop=3, most=40),
        Column("received", "RECEIVED", 8, drop=4, descending_first=True),
        Column("runtime", "RUNTIME", 7, align=Align.RIGHT, drop=1),
        Column("args", "ARGS", 6, grow=2, drop=5),
    )
    fields: tuple[str, ...] = ("uuid", "name", "state", "worker", "args")
    default_sort = "time"
    default_descending = True
    #: Column ids a user can cycle through with the sort key; "time" is clock order. Rows
    #: come from :class:`~evtop.view.taskrows.TaskRows`, which keeps each order up to date.
    sort_columns: tuple[str, ...] = ("time", "name", "state", "worker", "received", "runtime")

    def __init__(self, zone: Zone = UTC) -> None:
        #: The zone the RECEIVED column is shown in.
        self.zone = zone

    def key(self, item: TaskItem) -> str:
        return item.uuid

    def search(self, item: TaskItem) -> dict[str, str]:
        return {
            field: " ".join(getattr(item, name) for name in names).lower()
            for field, names in _SEARCHED.items()
        }

    def search_texts(self, field: str | None, items: Iterable[TaskItem]) -> Iterator[str]:
        """Per item, the lower-cased text :meth:`search` gives for ``field``, or for a
        word that may be in any field, every field's text with a newline between them
        (a word holds no white space: it is in one of them or in none). In C loops: a
        filter typed at a million rows reads them all."""
        names, between = (_SEARCHED[field], " ") if field is not None else (_EVERY, "\n")
        if len(names) == 1:
            return map(str.lower, map(operator.attrgetter(names[0]), items))
        return map(str.lower, map(between.join, map(operator.attrgetter(*names), items)))

    def cells(self, item: TaskItem, now: float) -> tuple[str, ...]:
        args = f"{item.args} {item.kwargs}" if item.kwargs not in ("", "{}") else item.args
        return (
            text(item.uuid),
            text(item.name) if item.name else "???",
            text(item.state),
            percent_text(item.progress) if item.progress is not None else "",
            text(item.worker) if item.worker else "*NONE*",
            clock_text(item.received, self.zone),
            duration_text(item.elapsed(now)),
            text(args) if args else NONE,
        )

    def table(self, rows: TaskRows, now: float, order: Order, filter_text: str) -> Table[TaskItem]:
        """Rows read through what Health found (:mod:`evtop.view.trust`): LOST, and the
        workers' times on the receive clock. Sorting and filtering see celery's values."""
        table = rows.tasks(self, now, order, filter_text)
        return replace(table, items=TrustedRows(table.items, rows.trust))

    def styles(self, item: TaskItem) -> tuple[str | None, ...]:
        running = "state.started" if item.running and item.runtime is None else None
        style = STYLE_BY_STATE.get(item.state, "state.custom")
        return (None, None, style, style if item.progress is not None else None, None, None, running, None)
