"""The two summary lines above the table: where the events come from, and how many.

An operator's first question during an incident is "am I even seeing events?", so the
connection phase, the time since the last message, the event rate, every dropped
event and what the stream shows was missed are always on screen, never behind a key.
"""

from __future__ import annotations

from dataclasses import dataclass

from evtop.broker.status import Phase, StatusSnapshot
from evtop.events.health import SHORT_WITHOUT_TASK_EVENTS, Gap
from evtop.events.silence import SHORT_HINT, quiet
from evtop.events.stats import IngestStats
from evtop.text.sanitize import sanitize
from evtop.view.cells import clock_text, duration_text
from evtop.view.trust import Trust

#: Without a message for this long on a live connection, the top line says so (sooner
#: than the stderr line of dump and camera modes: the screen can take it back at once).
QUIET_AFTER = 10.0


@dataclass(frozen=True)
class Counts:
    events: int
    tasks: int
    #: The most tasks State keeps (the oldest go first); 0 or None: no limit.
    max_tasks: int | None
    workers_online: int
    workers: int
    #: Events per second over the last refresh interval.
    rate: float


def source_text(status: StatusSnapshot, now: float, *, replay: bool, ended: bool) -> str:
    """``connected to redis://h:6379/0``, ``reconnecting ... in 3.2s (error)``, ``replaying f``."""
    url = sanitize(status.url)
    if replay:
        path = url.removeprefix("replay of ")
        return f"replay finished, showing the final state: {path}" if ended else f"replaying {path}"
    phase = status.phase
    if phase is Phase.CONNECTED:
        found = quiet(status, now, QUIET_AFTER)
        if found is None:
            return f"connected to {url}"
        if found.heard_before:
            return f"connected to {url}; no events for {duration_text(found.seconds)}"
        return f"connected to {url}; no events yet ({SHORT_HINT})"
    if phase is Phase.STOPPED:
        return f"stopped: {url}"
    error = f" ({sanitize(status.last_error)})" if status.last_error else ""
    retry = status.retry_in(now)
    when = f" in {duration_text(retry)}" if retry is not None else ""
    verb = "reconnecting" if phase is Phase.RECONNECTING else "connecting"
    return f"{verb} to {url}{when}{error}"


def trust_text(trust: Trust, lost: int = 0) -> str:
    """What the stream shows evtop missed, for the counts line ("" when nothing): the
    tasks ``lost`` on workers gone offline (a few among a million rows are found here,
    not by scrolling), the newest outage window by the worker's own clock, task starts no
    event showed, and workers that send no task events at all (the same finding and hint
    in every mode)."""
    parts = [f"{lost:,} lost on offline workers"] if lost else []
    if trust.gaps:
        gap = trust.gaps[-1]
        more = f" (+{len(trust.gaps) - 1} more)" if len(trust.gaps) > 1 else ""
        parts.append(f"missed {duration_text(gap.seconds)} of {sanitize(gap.hostname)}'s events{more}")
    silent = set(trust.without_task_events)
    unseen = sum(n for hostname, n in trust.missed.items() if hostname not in silent)
    if unseen:
        parts.append(f"{unseen:,} task starts never seen")
    if silent:
        names = ", ".join(sanitize(name) for name in trust.without_task_events[:2])
        others = f" +{len(silent) - 2}" if len(silent) > 2 else ""
        parts.append(f"no task events from {names}{others}: {SHORT_WITHOUT_TASK_EVENTS}")
    return "  ".join(parts)


def gap_message(gap: Gap) -> str:
    """The message line when a gap is found (the counts line keeps the newest)."""
    return (
        f"events were missed: about {gap.seconds:.0f} s of {sanitize(gap.hostname)}'s after a reconnect "
        f"({clock_text(gap.before)} to {clock_text(gap.after)} UTC by its clock)"
    )


def counts_text(counts: Counts, stats: IngestStats) -> str:
    """``events 3,200,000 (12,000/s)  tasks 100,000/100,000  workers 8/8 online ...``: the
    tasks held out of the most kept, so a full table says that older tasks are gone."""
    kept = f"/{counts.max_tasks:,}" if counts.max_tasks else ""
    text = (
        f"events {counts.events:,} ({counts.rate:,.0f}/s)  tasks {counts.tasks:,}{kept}  "
        f"workers {counts.workers_online}/{counts.workers} online"
    )
    dropped = stats.dropped_total
    if dropped:
        reasons = ", ".join(f"{reason} {n}" for reason, n in stats.dropped.items() if n)
        text += f"  dropped {dropped} ({reasons})"
    return text
