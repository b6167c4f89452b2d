"""Per-task-type statistics over the tasks in memory: where the failures and slow tasks are."""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evtop.events import states
from evtop.events.state import State
from evtop.view.cells import NONE, duration_text, text
from evtop.view.columns import Align, Column

WAITING = frozenset({states.PENDING, states.RECEIVED})


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


def _percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of an ascending list (the value a user can find in the data)."""
    rank = max(int(-(-share * len(ordered) // 1)), 1)
    return ordered[rank - 1]


def summarize(name: str, counts: Counter[str], runtimes: list[float]) -> TypeItem:
    finished = counts[states.SUCCESS] + counts[states.FAILURE]
    runtimes.sort()
    return TypeItem(
        name=name,
        total=sum(counts.values()),
        waiting=sum(counts[s] for s in WAITING),
        running=counts[states.STARTED],
        succeeded=counts[states.SUCCESS],
        failed=counts[states.FAILURE],
        retried=counts[states.RETRY],
        revoked=counts[states.REVOKED] + counts[states.REJECTED],
        failure_rate=counts[states.FAILURE] / finished if finished else None,
        mean=sum(runtimes) / len(runtimes) if runtimes else None,
        p95=_percentile(runtimes, 0.95) if runtimes else None,
        max=runtimes[-1] if runtimes else None,
    )


class TypeSheet:
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

    def items(self, state: State, now: float) -> list[TypeItem]:
        counts: dict[str, Counter[str]] = {}
        runtimes: dict[str, list[float]] = {}
        for task in state.tasks.data.values():
            name = task.name
            if not isinstance(name, str):
                continue
            counts.setdefault(name, Counter())[task.state] += 1
            runtime = task.runtime
            if (
                task.state == states.SUCCESS
                and isinstance(runtime, (int, float))
                and math.isfinite(runtime)
                and runtime >= 0
            ):
                runtimes.setdefault(name, []).append(float(runtime))
        return [summarize(name, counter, runtimes.get(name, [])) for name, counter in counts.items()]

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
