"""Per-task-type statistics over the tasks in memory: where the failures and slow tasks are.

The statistics are kept up to date row by row (:class:`TypeStats`), as the task rows
change, so the screen costs the number of task names, not the number of tasks.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sortedcontainers import SortedList

from evtop.events import states
from evtop.view.cells import NONE, duration_text, text
from evtop.view.columns import Align, Column
from evtop.view.sheet import ListSheet
from evtop.view.tasks import TaskItem

if TYPE_CHECKING:
    from evtop.view.taskrows import TaskRows

WAITING = frozenset({states.PENDING, states.RECEIVED})
#: Any finite float times 2**_SCALE is an integer: runtimes are summed exactly, so a huge
#: runtime that leaves the window takes all of itself out of the mean, no rounding left.
_SCALE = 1074


@dataclass(frozen=True, slots=True)
class TypeItem:
    name: str
    total: int
    waiting: int
    running: int
    succeeded: int
    failed: int
    retried: int
    revoked: int
    #: Failed share of the finished (succeeded + failed) tasks, 0..1; None before any finished.
    failure_rate: float | None
    mean: float | None
    p95: float | None
    max: float | None


def _runtime(row: TaskItem) -> float | None:
    """The runtime the statistics count: a succeeded task's, when known and not negative."""
    runtime = row.runtime
    return runtime if row.state == states.SUCCESS and runtime is not None and runtime >= 0 else None


def _exact(value: float) -> int:
    numerator, denominator = value.as_integer_ratio()
    return numerator << (_SCALE + 1 - denominator.bit_length())


class _Type:
    """The tasks of one name: how many in each state, and the sorted runtimes."""

    __slots__ = ("counts", "running", "runtimes", "stopped", "sum", "total")

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.total = 0
        #: Started or in a custom state since (``PROGRESS``), not finished.
        self.running = 0
        #: Revoked or rejected in a custom state (counted with the revoked).
        self.stopped = 0
        self.runtimes = SortedList()
        #: Sum of ``runtimes`` times 2**_SCALE.
        self.sum = 0


def _percentile(ordered: SortedList, share: float) -> float:
    """Nearest-rank percentile of ascending values (the value a user can find in the data)."""
    rank = max(int(-(-share * len(ordered) // 1)), 1)
    value: float = ordered[rank - 1]
    return value


def summarize(name: str, kind: _Type) -> TypeItem:
    counts, runtimes = kind.counts, kind.runtimes
    finished = counts[states.SUCCESS] + counts[states.FAILURE]
    return TypeItem(
        name=name,
        total=kind.total,
        waiting=sum(counts[s] for s in WAITING),
        running=kind.running,
        succeeded=counts[states.SUCCESS],
        failed=counts[states.FAILURE],
        retried=counts[states.RETRY],
        revoked=counts[states.REVOKED] + counts[states.REJECTED] + kind.stopped,
        failure_rate=counts[states.FAILURE] / finished if finished else None,
        mean=kind.sum / (len(runtimes) << _SCALE) if runtimes else None,
        p95=_percentile(runtimes, 0.95) if runtimes else None,
        max=runtimes[-1] if runtimes else None,
    )


class TypeStats:
    """Per task name statistics, kept as the rows are: a row out, a row in."""

    def __init__(self, rows: Iterable[TaskItem] = ()) -> None:
        self._types: dict[str, _Type] = {}
        for row in rows:
            self.add(row)

    def add(self, row: TaskItem) -> None:
        name = row.name
        if not name:  # a task known only by uuid so far
            return
        kind = self._types.get(name)
        if kind is None:
            kind = self._types[name] = _Type()
        kind.counts[row.state] += 1
        kind.total += 1
        kind.running += row.running
        kind.stopped += row.stopped
        runtime = _runtime(row)
        if runtime is not None:
            kind.runtimes.add(runtime)
            kind.sum += _exact(runtime)

    def discard(self, row: TaskItem) -> None:
        """Take out a row :meth:`add` took in (the same row: its fields decide what goes)."""
        kind = self._types.get(row.name)
        if kind is None:
            return
        kind.counts[row.state] -= 1
        kind.total -= 1
        kind.running -= row.running
        kind.stopped -= row.stopped
        runtime = _runtime(row)
        if runtime is not None:
            kind.runtimes.remove(runtime)
            kind.sum -= _exact(runtime)
        if not kind.total:
            del self._types[row.name]

    def take(self, changes: Iterable[tuple[TaskItem | None, TaskItem | None]]) -> None:
        """Rows changed: each old row out, each new row in."""
        for old, new in changes:
            if old is not None:
                self.discard(old)
            if new is not None:
                self.add(new)

    def items(self) -> list[TypeItem]:
        return [summarize(name, kind) for name, kind in self._types.items()]


class TypeSheet(ListSheet[TypeItem]):
    title = "Task types"
    columns = (
        Column("name", "TASK", 16, grow=1),
        Column("total", "TOTAL", 6, align=Align.RIGHT),
        Column("waiting", "WAIT", 5, align=Align.RIGHT, drop=4),
        Column("running", "RUN", 5, align=Align.RIGHT, drop=3),
        Column("succeeded", "OK", 6, align=Align.RIGHT),
        Column("failed", "FAIL", 6, align=Align.RIGHT),
        Column("retried", "RETRY", 5, align=Align.RIGHT, drop=6),
        Column("revoked", "REVOKE", 6, align=Align.RIGHT, drop=5),
        Column("failure_rate", "FAIL%", 6, align=Align.RIGHT),
        Column("mean", "MEAN", 7, align=Align.RIGHT, drop=2),
        Column("p95", "P95", 7, align=Align.RIGHT, drop=1),
        Column("max", "MAX", 7, align=Align.RIGHT, drop=7),
    )
    fields = ("name",)
    default_sort = "total"
    default_descending = True
    sort_columns = ("total", "name", "failed", "failure_rate", "mean", "p95", "max", "running", "waiting")

    def items(self, rows: TaskRows, now: float) -> list[TypeItem]:
        return rows.types().items()

    def key(self, item: TypeItem) -> str:
        return item.name

    def search(self, item: TypeItem) -> dict[str, str]:
        return {"name": item.name.lower()}

    def sort_key(self, column: str) -> Callable[[TypeItem], Any]:
        return operator.attrgetter(column)

    def cells(self, item: TypeItem, now: float) -> tuple[str, ...]:
        rate = NONE if item.failure_rate is None else f"{item.failure_rate * 100:.1f}"
        return (
            text(item.name),
            str(item.total),
            str(item.waiting),
            str(item.running),
            str(item.succeeded),
            str(item.failed),
            str(item.retried),
            str(item.revoked),
            rate,
            duration_text(item.mean),
            duration_text(item.p95),
            duration_text(item.max),
        )

    def styles(self, item: TypeItem) -> tuple[str | None, ...]:
        failing = "state.failure" if item.failed else None
        return (None, None, None, None, None, failing, None, None, failing, None, None, None)
