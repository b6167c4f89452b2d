"""From the State to a :class:`~evtop.camera.sinks.snapshot.Snapshot`, in two steps.

:meth:`SnapshotTaker.take` runs in the shutter, with the State's lock held: it copies the
raw values it needs (the changed tasks, every worker, each task's name, state and
runtime) and nothing more, so event ingest waits as little as possible.
:meth:`SnapshotTaker.finish` runs after the lock is released and does the rest: the one
sanitizer and the size caps on every string, numbers checked (a hostile ``retries`` of
10**30 must not fail an SQL insert forever), counts, percentiles, and the ingest,
broker and sink news of the moment.
"""

from __future__ import annotations

import itertools
import math
import time
import uuid as uuids
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from evtop.broker.queues import QueueRow
from evtop.broker.status import ConnectionStatus, Phase
from evtop.camera.changes import ChangeTracker
from evtop.camera.sinks.delivery import Deliveries
from evtop.camera.sinks.snapshot import (
    OTHER,
    TASK_COLUMNS,
    TASK_TIMES,
    Broker,
    Counters,
    GapRow,
    Ingest,
    OutageRow,
    Percentiles,
    Snapshot,
    TaskRow,
    Trust,
    TypeSummary,
    WorkerRow,
)
from evtop.events.health import Health, lost_tasks
from evtop.events.normalize import DEFAULT_CAP, FIELD_CAPS, MAX_ID_LENGTH, truncate_marked
from evtop.events.state import State, Task, Worker
from evtop.events.stats import IngestStats
from evtop.text.sanitize import sanitize

#: TaskRow columns that are the Task attributes of the same name.
_TASK_ATTRIBUTES = tuple(c for c in TASK_COLUMNS if c not in ("worker", "queue", "updated"))
#: Fields whose text keeps its line breaks (tracebacks, reprs of big values).
_MULTILINE = frozenset({"args", "kwargs", "result", "exception", "traceback"})
_INT64 = 2**63 - 1


@dataclass(frozen=True)
class Taken:
    """What the shutter copied under the lock: raw values, converted by ``finish``."""

    time: float
    tasks: list[dict[str, Any]]
    workers: list[tuple[Any, ...]]
    population: list[tuple[Any, str, Any]]
    counters: Counters
    changes_lost: int
    lost: list[str]


#: Lost tasks a snapshot names by uuid at the most (the count is always whole).
MAX_LOST_LISTED = 1000


def trust(health: Health | None, lost: list[str]) -> Trust:
    """The stream's own account of what evtop missed, sanitized for the sinks."""
    if health is None:
        return Trust()
    workers = list(health.workers())
    return Trust(
        missed_tasks={sanitize(w.hostname): w.missed_tasks for w in workers if w.missed_tasks},
        lost_tasks=tuple(sanitize(uuid) for uuid in lost[:MAX_LOST_LISTED]),
        lost_count=len(lost),
        gaps=tuple(GapRow(sanitize(g.hostname), g.before, g.after) for g in list(health.gaps)),
        without_task_events=tuple(sanitize(name) for name in health.without_task_events()),
    )


class SnapshotTaker:
    """Builds the snapshots of one run, numbered from 1."""

    def __init__(
        self,
        tracker: ChangeTracker,
        stats: IngestStats,
        status: ConnectionStatus,
        deliveries: Deliveries,
        clock: Callable[[], float] = time.time,
        health: Health | None = None,
        queues: Callable[[], tuple[QueueRow, ...]] | None = None,
    ) -> None:
        """``queues``: the latest reading of the broker's queues (names sanitized), if read."""
        self.tracker = tracker
        self.queues = queues
        #: Queue names the events named so far (task-sent's queue or routing key).
        self.queue_names: frozenset[str] = frozenset()
        self.health = health
        self.stats = stats
        self.status = status
        self.deliveries = deliveries
        self.clock = clock
        self.run = uuids.uuid4().hex
        self._ids = itertools.count(1)

    def take(self, state: State) -> Taken:
        """Copy what the snapshot needs; call with the State's lock held (the shutter)."""
        changed = self.tracker.take()
        workers = [_worker_values(worker) for worker in state.workers.values()]
        return Taken(
            time=self.clock(),
            tasks=[_task_values(task, received) for task, received in changed.values()],
            workers=workers,
            population=[(task.name, task.state, task.runtime) for task in state.tasks.values()],
            counters=self.tracker.counter.freeze((w[0], w[1], w[3]) for w in workers),
            changes_lost=self.tracker.lost,
            # A scan of every task, but only while some worker is offline: usually free.
            lost=lost_tasks(state.tasks, self.health.offline()) if self.health is not None else [],
        )

    def finish(self, taken: Taken, final: bool = False) -> Snapshot:
        """The snapshot, built outside the lock from what :meth:`take` copied."""
        states, types, runtime = _aggregate(taken.population)
        status = self.status.snapshot()
        self.queue_names = frozenset(key[3] for key in taken.counters.events if key[3] and key[3] != OTHER)
        return Snapshot(
            run=self.run,
            id=next(self._ids),
            time=taken.time,
            tasks=tuple(_task_row(values) for values in taken.tasks),
            workers=tuple(_worker_row(values) for values in taken.workers),
            states=states,
            types=types,
            runtime=runtime,
            ingest=Ingest(self.stats.received, self.stats.applied, dict(self.stats.dropped)),
            broker=Broker(
                url=sanitize(status.url),
                connected=status.phase is Phase.CONNECTED,
                last_event_at=status.last_message_at,
                outages=tuple(OutageRow(o.started, o.ended, sanitize(o.reason)) for o in status.outages),
            ),
            sinks=self.deliveries.health(),
            counters=taken.counters,
            final=final,
            changes_lost=taken.changes_lost,
            trust=trust(self.health, taken.lost),
            queues=self.queues() if self.queues is not None else (),
        )


def _task_values(task: Task, received: float) -> dict[str, Any]:
    """The task's raw values by TaskRow column (under the lock: no conversion here)."""
    values = {column: getattr(task, column, None) for column in _TASK_ATTRIBUTES}
    values["worker"] = task.worker.hostname if task.worker is not None else None
    values["queue"] = getattr(task, "queue", None) or task.routing_key
    values["updated"] = received
    return values


def _task_row(values: dict[str, Any]) -> TaskRow:
    return TaskRow(*(_CONVERT.get(column, _text)(values[column], column) for column in TASK_COLUMNS))


def _worker_values(worker: Worker) -> tuple[Any, ...]:
    return (
        worker.hostname,
        worker.alive,
        worker.last_seen,
        worker.active,
        worker.processed,
        worker.loadavg,
        worker.freq,
        worker.sw_ident,
        worker.sw_ver,
        worker.sw_sys,
        worker.pid,
    )


def _worker_row(values: tuple[Any, ...]) -> WorkerRow:
    hostname, alive, last_seen, active, processed, loadavg, freq, ident, ver, system, pid = values
    return WorkerRow(
        hostname=sanitize(hostname),
        alive=bool(alive),
        last_seen=_real(last_seen),
        active=_int(active),
        processed=_int(processed),
        loadavg=_loadavg(loadavg),
        freq=_real(freq),
        sw_ident=_text(ident, "sw_ident"),
        sw_ver=_text(ver, "sw_ver"),
        sw_sys=_text(system, "sw_sys"),
        pid=_int(pid),
    )


def _loadavg(value: Any) -> tuple[float, ...] | None:
    """Up to three finite numbers (1, 5 and 15 minutes), else None."""
    if not isinstance(value, (list, tuple)) or not 0 < len(value) <= 3:
        return None
    numbers = [_real(v) for v in value]
    return None if None in numbers else tuple(n for n in numbers if n is not None)


def _aggregate(
    population: Iterable[tuple[Any, str, Any]],
) -> tuple[dict[str, int], dict[str, TypeSummary], Percentiles | None]:
    """Tasks per state, per name (with their runtimes), and all runtimes."""
    states: dict[str, int] = {}
    by_name: dict[str, tuple[dict[str, int], list[float]]] = {}
    runtimes = []
    for raw_name, raw_state, raw_runtime in population:
        state = sanitize(raw_state)
        states[state] = states.get(state, 0) + 1
        runtime = _real(raw_runtime)
        if runtime is not None:
            runtimes.append(runtime)
        if raw_name is None:
            continue
        counts, times = by_name.setdefault(_text(raw_name, "name") or "", ({}, []))
        counts[state] = counts.get(state, 0) + 1
        if runtime is not None:
            times.append(runtime)
    types = {
        name: TypeSummary(counts, percentiles(times)) for name, (counts, times) in sorted(by_name.items())
    }
    return dict(sorted(states.items())), types, percentiles(runtimes)


def percentiles(values: Sequence[float]) -> Percentiles | None:
    """Nearest-rank p50, p90 and p99 (None when there is nothing to rank)."""
    if not values:
        return None
    ordered = sorted(values)
    count = len(ordered)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * count) - 1)]

    return Percentiles(count, rank(0.5), rank(0.9), rank(0.99), ordered[-1])


def _text(value: Any, field: str) -> str | None:
    """Sanitized and capped, or None; tracebacks and value reprs keep their lines."""
    if value is None:
        return None
    text = sanitize(value, multiline=field in _MULTILINE)
    cap = FIELD_CAPS.get(field, DEFAULT_CAP if field in _MULTILINE else MAX_ID_LENGTH)
    return truncate_marked(text, cap) if len(text) > cap else text


def _real(value: Any, field: str = "") -> float | None:
    """A finite float, else None (bools are not numbers)."""
    if type(value) not in (int, float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _int(value: Any, field: str = "") -> int | None:
    """An int that fits a 64-bit column, else None."""
    return value if type(value) is int and -_INT64 <= value <= _INT64 else None


def _required(value: Any, field: str) -> str:
    """The uuid (never cut: a cut id could merge two tasks) and the state."""
    return sanitize(value)


#: How each TaskRow column is made from its raw value; the rest are text.
_CONVERT: dict[str, Callable[[Any, str], Any]] = {
    "uuid": _required,
    "state": _required,
    "updated": _real,
    "runtime": _real,
    "retries": _int,
    **dict.fromkeys(TASK_TIMES, _real),
}
