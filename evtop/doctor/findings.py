"""From what a short listen (or a recording) showed to findings: facts, then what is wrong.

Pure: it reads the connection's snapshot, the ingest counters, the event layer's
:class:`~evtop.events.health.Health` and the State, and decides nothing about output.
A finding is a problem only when evtop's picture of the cluster is incomplete or wrong
(the broker unreachable, no events, events or tasks missed, tasks lost, a worker's clock
far off); what is merely quiet is not a problem.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from evtop.broker.status import Outage, StatusSnapshot
from evtop.events.health import WITHOUT_TASK_EVENTS, Gap, Health, lost_tasks
from evtop.events.silence import HINT
from evtop.events.state import State
from evtop.events.stats import IngestStats
from evtop.text.sanitize import sanitize

#: A sender clock further off than this (seconds) makes its times misleading (celery warns at 16).
SKEW_LIMIT = 16.0
#: Lost tasks listed by uuid at the most (the count is always whole).
MAX_LOST_LISTED = 1000


@dataclass(frozen=True)
class WorkerFinding:
    hostname: str
    online: bool
    #: Wall-clock time (UTC epoch seconds) of its newest event.
    last_heard: float
    #: Its clock minus evtop's, seconds (median); None before any worker event.
    clock_skew: float | None
    events_per_second: float
    missed_tasks: int
    #: Heartbeat interval, seconds.
    freq: float
    #: Sent task events at all (a worker without ``-E`` sends none).
    task_events: int


@dataclass(frozen=True)
class Findings:
    url: str
    #: The broker was reached (always True for a recording).
    reached: bool
    error: str | None
    listened: float
    received: int
    applied: int
    dropped: dict[str, int]
    silent: bool
    workers: list[WorkerFinding]
    lost_tasks: list[str]
    lost_count: int
    outages: list[dict[str, Any]]
    gaps: list[dict[str, Any]]
    #: How the broker was read (``--reader``: "process" or "thread"); None for a recording.
    reader: str | None = None
    hints: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.hints

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["healthy"] = self.healthy
        return data


def _outage(outage: Outage) -> dict[str, Any]:
    return {"started": outage.started, "ended": outage.ended, "reason": sanitize(outage.reason)}


def _gap(gap: Gap) -> dict[str, Any]:
    return {"hostname": sanitize(gap.hostname), "from": gap.before, "to": gap.after, "seconds": gap.seconds}


def examine(
    status: StatusSnapshot,
    stats: IngestStats,
    health: Health,
    state: State,
    *,
    listened: float,
    replay: bool,
    reader: str | None = None,
    wall: Callable[[], float] = time.time,
) -> Findings:
    """Everything ``evtop doctor`` reports; call once the source has stopped."""
    now = health.now()
    # Receive-clock times become wall-clock times by their distance from now.
    to_wall = (lambda t: t) if replay else (lambda t: wall() - (now - t))
    workers = [
        WorkerFinding(
            hostname=sanitize(sender.hostname),
            online=sender.online(now),
            last_heard=to_wall(sender.last_heard),
            clock_skew=sender.clock_skew,
            events_per_second=round(sender.rate(now), 3),
            missed_tasks=sender.missed_tasks,
            freq=sender.freq,
            task_events=sender.task_events,
        )
        for sender in health.workers()
    ]
    lost = state.freeze_while(lost_tasks, state.tasks, health.offline(now))
    reached = replay or status.connected_since is not None or status.reconnects > 0 or stats.received > 0
    findings = Findings(
        url=sanitize(status.url),
        reached=reached,
        error=sanitize(status.last_error) if status.last_error else None,
        listened=listened,
        received=stats.received,
        applied=stats.applied,
        dropped={reason: n for reason, n in stats.dropped.items() if n},
        silent=stats.received == 0,
        workers=workers,
        lost_tasks=lost[:MAX_LOST_LISTED],
        lost_count=len(lost),
        outages=[_outage(outage) for outage in status.outages],
        gaps=[_gap(gap) for gap in health.gaps],
        reader=reader,
    )
    findings.hints.extend(_hints(findings, without_e=set(map(sanitize, health.without_task_events()))))
    return findings


def _hints(found: Findings, without_e: set[str]) -> list[str]:
    hints = []
    if not found.reached:
        why = f": {found.error}" if found.error else f" within {found.listened:.0f} s (no answer yet)"
        hints.append(f"could not reach the broker at {found.url}{why}")
    elif found.silent:
        hints.append(f"no events in {found.listened:.0f} s on {found.url}: {HINT}")
    for worker in found.workers:
        name = worker.hostname
        if name in without_e:
            hints.append(f"{name} {WITHOUT_TASK_EVENTS}")
        elif worker.missed_tasks:
            hints.append(f"{name}: {worker.missed_tasks} task starts its heartbeats counted were never seen")
        if worker.clock_skew is not None and abs(worker.clock_skew) > SKEW_LIMIT:
            ahead = "ahead of" if worker.clock_skew > 0 else "behind"
            hints.append(f"{name}: its clock is {abs(worker.clock_skew):.0f} s {ahead} evtop's")
    if found.lost_count:
        hints.append(
            f"{found.lost_count} tasks were received or running on a worker that went offline "
            "and never finished"
        )
    for gap in found.gaps:
        seconds = gap["seconds"]
        hints.append(f"{gap['hostname']}: about {seconds:.0f} s of its events were missed after a reconnect")
    if found.outages and not found.gaps:
        count = len(found.outages)
        hints.append(f"the connection was lost {count} time(s): events sent meanwhile were missed")
    if found.dropped:
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(found.dropped.items()))
        hints.append(f"{sum(found.dropped.values())} events failed validation ({reasons})")
    return hints
