"""The worker table: every worker State knows, online ones first."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evtop.events.state import Worker
from evtop.view.cells import NONE, count_text, duration_text, load_text, text
from evtop.view.columns import Align, Column
from evtop.view.sheet import ListSheet

if TYPE_CHECKING:
    from evtop.view.taskrows import TaskRows


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class WorkerItem:
    hostname: str
    online: bool
    active: int | None
    processed: int | None
    #: Tasks State still holds that this worker received or ran.
    tasks: int
    #: Task starts its heartbeats counted that no event showed (:mod:`evtop.events.health`).
    missed: int
    loadavg: tuple[float, ...]
    last_seen: float | None
    freq: float | None
    software: str
    pid: int | None

    @classmethod
    def of(cls, worker: Worker, tasks: int, missed: int = 0) -> WorkerItem:
        load = worker.loadavg if isinstance(worker.loadavg, (list, tuple)) else ()
        freq = (
            worker.freq
            if isinstance(worker.freq, (int, float)) and not isinstance(worker.freq, bool)
            else None
        )
        software = " ".join(str(part) for part in (worker.sw_ident, worker.sw_ver) if part)
        return cls(
            hostname=str(worker.hostname or ""),
            online=worker.alive,
            active=_int(worker.active),
            processed=_int(worker.processed),
            tasks=tasks,
            missed=missed,
            loadavg=tuple(x for x in load if isinstance(x, (int, float))),
            last_seen=worker.last_seen,
            freq=float(freq) if freq is not None else None,
            software=software,
            pid=worker.pid if isinstance(worker.pid, int) else None,
        )


class WorkerSheet(ListSheet[WorkerItem]):
    title = "Workers"
    columns = (
        Column("hostname", "WORKER", 16, grow=3),
        Column("status", "STATUS", 7),
        Column("active", "ACTIVE", 6, align=Align.RIGHT),
        Column("processed", "PROCESSED", 9, align=Align.RIGHT, drop=2),
        Column("missed", "MISSED", 6, align=Align.RIGHT, drop=1),
        Column("tasks", "TASKS", 6, align=Align.RIGHT, drop=4),
        Column("load", "LOAD", 14, drop=3),
        Column("seen", "SEEN", 7, align=Align.RIGHT, drop=1),
        Column("software", "SOFTWARE", 10, grow=1, drop=5),
    )
    fields = ("hostname", "status", "software")
    default_sort = "status"
    default_descending = False
    sort_columns = ("status", "hostname", "active", "processed", "missed", "tasks", "seen")

    def items(self, rows: TaskRows, now: float) -> list[WorkerItem]:
        state = rows.state
        counts = state.worker_task_counts
        missed = rows.trust.missed
        return [
            WorkerItem.of(worker, counts.get(name, 0), missed.get(name, 0))
            for name, worker in state.workers.items()
        ]

    def key(self, item: WorkerItem) -> str:
        return item.hostname

    def search(self, item: WorkerItem) -> dict[str, str]:
        return {
            "hostname": item.hostname.lower(),
            "status": "online" if item.online else "offline",
            "software": item.software.lower(),
        }

    def sort_key(self, column: str) -> Callable[[WorkerItem], Any]:
        if column == "status":  # online first, then by name
            return lambda item: (not item.online, item.hostname)
        if column == "seen":
            return operator.attrgetter("last_seen")
        return operator.attrgetter(column)

    def cells(self, item: WorkerItem, now: float) -> tuple[str, ...]:
        seen = NONE if item.last_seen is None else duration_text(max(now - item.last_seen, 0.0))
        return (
            text(item.hostname),
            "online" if item.online else "offline",
            count_text(item.active),
            count_text(item.processed),
            str(item.missed),
            str(item.tasks),
            load_text(item.loadavg),
            seen,
            text(item.software),
        )

    def styles(self, item: WorkerItem) -> tuple[str | None, ...]:
        status = "worker.online" if item.online else "worker.offline"
        missed = "worker.missed" if item.missed else None
        return (None, status, None, None, missed, None, None, None, None)
