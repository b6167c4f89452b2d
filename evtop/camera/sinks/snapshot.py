"""What the sink camera hands every sink: one snapshot of the cluster, as immutable data.

``evtop.camera.snapshots`` builds it from the State under the State's lock; sinks read
this and never the State, so a slow or failing sink cannot hold up event ingest. Every
string in it has already passed the one sanitizer (:mod:`evtop.text.sanitize`) and its
size cap, so a sink stores it as it is: the same text in every sink, and nothing in it
that a terminal would act on when someone prints a row.

A snapshot carries the tasks *changed* since the previous one (each with its whole
current state), not every task in memory: sinks upsert them by uuid, which is what makes
delivery idempotent (a snapshot written twice, or an older one after a newer, changes
nothing; see :mod:`evtop.camera.sinks.sql` for the rule that keeps a task from moving
back to an earlier state).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evtop.broker.queues import QueueRow
from evtop.events.states import READY_STATES, precedence

#: The task fields that hold the time of one state, as celery names them.
TASK_TIMES = ("sent", "received", "started", "succeeded", "failed", "retried", "revoked", "rejected")


@dataclass(frozen=True, slots=True)
class TaskRow:
    """One task's whole state as the State held it when the snapshot was taken."""

    uuid: str
    name: str | None
    state: str
    #: Hostname of the worker that last reported the task.
    worker: str | None
    sent: float | None
    received: float | None
    started: float | None
    succeeded: float | None
    failed: float | None
    retried: float | None
    revoked: float | None
    rejected: float | None
    #: When evtop received the last event about the task: the row's version, so that a
    #: row from an older snapshot never overwrites newer information.
    updated: float
    runtime: float | None
    retries: int | None
    args: str | None
    kwargs: str | None
    result: str | None
    exception: str | None
    traceback: str | None
    root_id: str | None
    parent_id: str | None
    eta: str | None
    expires: str | None
    queue: str | None

    @property
    def rank(self) -> int:
        """celery's state precedence: lower is further along (SUCCESS is 0)."""
        return precedence(self.state)

    @property
    def final(self) -> bool:
        """A ready state (SUCCESS, FAILURE, REVOKED): nothing may move the task back."""
        return self.state in READY_STATES

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in TASK_COLUMNS}


TASK_COLUMNS = tuple(f.name for f in dataclasses.fields(TaskRow))


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """One worker as the State held it."""

    hostname: str
    alive: bool
    #: When evtop received the worker's last event (None after worker-offline).
    last_seen: float | None
    active: int | None
    processed: int | None
    loadavg: tuple[float, ...] | None
    freq: float | None
    sw_ident: str | None
    sw_ver: str | None
    sw_sys: str | None
    pid: int | None

    def as_dict(self) -> dict[str, Any]:
        row = {name: getattr(self, name) for name in WORKER_COLUMNS}
        row["loadavg"] = list(self.loadavg) if self.loadavg is not None else None
        return row


WORKER_COLUMNS = tuple(f.name for f in dataclasses.fields(WorkerRow))


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Task runtimes in seconds, nearest-rank percentiles."""

    count: int
    p50: float
    p90: float
    p99: float
    max: float


@dataclass(frozen=True, slots=True)
class TypeSummary:
    """One task name: its tasks in memory per state, and their runtimes."""

    states: Mapping[str, int]
    runtime: Percentiles | None


@dataclass(frozen=True, slots=True)
class OutageRow:
    """A window in which the event stream was down, so events may have been missed."""

    started: float
    ended: float | None
    reason: str


@dataclass(frozen=True, slots=True)
class Ingest:
    """The ingest boundary's counters: received == applied + sum(dropped)."""

    received: int
    applied: int
    dropped: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Broker:
    """The event stream's connection, as of the snapshot."""

    #: Masked: never holds a password.
    url: str
    connected: bool
    #: When the last message arrived (local clock), or None.
    last_event_at: float | None
    outages: tuple[OutageRow, ...]


@dataclass(frozen=True, slots=True)
class SinkHealth:
    """One sink's delivery, as the camera saw it when it took the snapshot."""

    #: The sink's URL, masked.
    name: str
    up: bool
    #: Snapshots waiting in its spool.
    depth: int
    #: Snapshots folded into later ones because the spool was full (their task changes
    #: were kept, latest state winning; their own snapshot rows are gone).
    merged: int
    #: Task changes lost: the spool was full even after merging.
    lost: int


@dataclass(frozen=True, slots=True)
class Histogram:
    """Cumulative observations per upper bound (the last bound is +Inf)."""

    counts: tuple[int, ...]
    total: float


#: The label value that stands for every value past a label's cap.
OTHER = "<other>"

#: Label values of the per-event counters: (event type, task name, hostname, queue).
EventKey = tuple[str, str, str, str]
#: Label values of the histograms: (task name, hostname).
TimingKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Counters:
    """Running totals since evtop started, for exporters: they never go down.

    A snapshot-to-snapshot difference cannot see every event (a task may go from
    received to succeeded between two snapshots, and its started still counts), so the
    camera counts each event as it is applied; this is a copy of those counts. Label
    values are sanitized and bounded: past the caps they fold into ``OTHER``, and
    ``folded`` says how many events were folded, per label.
    """

    events: Mapping[EventKey, int] = field(default_factory=dict)
    runtime: Mapping[TimingKey, Histogram] = field(default_factory=dict)
    queue_wait: Mapping[TimingKey, Histogram] = field(default_factory=dict)
    #: Per hostname label: (workers alive, tasks active).
    workers: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    folded: Mapping[str, int] = field(default_factory=dict)
    buckets: tuple[float, ...] = ()

    def by_type(self) -> dict[str, int]:
        """Events per type, every label folded: the small summary JSON readers get."""
        totals: dict[str, int] = {}
        for (type_, _, _, _), count in self.events.items():
            totals[type_] = totals.get(type_, 0) + count
        return dict(sorted(totals.items()))


@dataclass(frozen=True, slots=True)
class GapRow:
    """Events a worker stamped between ``before`` and ``after`` (its clock) that never arrived."""

    hostname: str
    before: float
    after: float


@dataclass(frozen=True, slots=True)
class Trust:
    """What the stream itself shows evtop missed (see :mod:`evtop.events.health`)."""

    #: Task starts a worker's heartbeats counted that no event showed, per worker (non-zero).
    missed_tasks: Mapping[str, int] = field(default_factory=dict)
    #: Tasks last seen received or running on a worker that went offline (uuids, capped).
    lost_tasks: tuple[str, ...] = ()
    lost_count: int = 0
    gaps: tuple[GapRow, ...] = ()
    #: Workers whose counts rose while they sent no task event at all (no ``-E``).
    without_task_events: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "missed_tasks": dict(self.missed_tasks),
            "lost_tasks": list(self.lost_tasks),
            "lost_count": self.lost_count,
            "gaps": [dataclasses.asdict(gap) for gap in self.gaps],
            "without_task_events": list(self.without_task_events),
        }


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One shot of the cluster, what every sink is given."""

    #: Identifies the evtop process that took it: ``(run, id)`` is unique.
    run: str
    #: 1, 2, 3... within the run.
    id: int
    #: Wall-clock time it was taken.
    time: float
    #: Every task changed since the previous snapshot, with its whole current state.
    tasks: tuple[TaskRow, ...]
    #: Every worker in memory.
    workers: tuple[WorkerRow, ...]
    #: Tasks in memory per state, and per task name.
    states: Mapping[str, int]
    types: Mapping[str, TypeSummary]
    #: Runtimes of the tasks in memory that have one.
    runtime: Percentiles | None
    ingest: Ingest
    broker: Broker
    sinks: tuple[SinkHealth, ...]
    counters: Counters
    #: The last snapshot of the run (taken at Ctrl-C, SIGTERM or the end of a replay).
    final: bool = False
    #: Earlier snapshots folded into this one by a full spool.
    merged: int = 0
    #: Task changes the camera forgot before a snapshot took them, since the start.
    changes_lost: int = 0
    trust: Trust = field(default_factory=Trust)
    #: Every task queue of the latest reading of the broker (names sanitized), for the
    #: sinks that want them (:attr:`Sink.wants_queues`); empty otherwise.
    queues: tuple[QueueRow, ...] = ()

    def summary(self) -> dict[str, Any]:
        """Everything but the task and worker rows, as JSON-ready data (the SQL
        ``snapshots`` row, and the head of a JSON line)."""
        return {
            "run": self.run,
            "id": self.id,
            "time": self.time,
            "final": self.final,
            "merged": self.merged,
            "changes_lost": self.changes_lost,
            "states": dict(self.states),
            "types": {
                name: {"states": dict(t.states), "runtime": _percentiles(t.runtime)}
                for name, t in self.types.items()
            },
            "runtime": _percentiles(self.runtime),
            "ingest": {
                "received": self.ingest.received,
                "applied": self.ingest.applied,
                "dropped": dict(self.ingest.dropped),
            },
            "broker": {
                "url": self.broker.url,
                "connected": self.broker.connected,
                "last_event_at": self.broker.last_event_at,
                "outages": [dataclasses.asdict(outage) for outage in self.broker.outages],
            },
            "sinks": [dataclasses.asdict(sink) for sink in self.sinks],
            "events": self.counters.by_type(),
            "trust": self.trust.as_dict(),
        }

    def as_dict(self) -> dict[str, Any]:
        """The whole snapshot as JSON-ready data (one JSON line)."""
        return {
            **self.summary(),
            "tasks": [task.as_dict() for task in self.tasks],
            "workers": [worker.as_dict() for worker in self.workers],
        }


def _percentiles(value: Percentiles | None) -> dict[str, float] | None:
    return None if value is None else dataclasses.asdict(value)
