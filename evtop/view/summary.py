"""The two summary lines above the table: where the events come from, and how many.

An operator's first question during an incident is "am I even seeing events?", so the
connection phase, the time since the last message, the event rate and every dropped
event are always on screen, never behind a key.
"""

from __future__ import annotations

from dataclasses import dataclass

from evtop.broker.status import Phase, StatusSnapshot
from evtop.events import states
from evtop.events.silence import SHORT_HINT, quiet
from evtop.events.state import State
from evtop.events.stats import IngestStats
from evtop.text.sanitize import sanitize
from evtop.view.cells import duration_text

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


class UnseenWork:
    """Notices workers doing tasks that no task event shows: workers started without ``-E``.

    Workers send heartbeats even without ``-E``, and each heartbeat carries ``processed``,
    the worker's count of finished tasks. A count that rose since evtop first saw the
    worker while no task got past PENDING (a client's ``task-sent`` makes PENDING tasks)
    means the worker runs tasks silently. An idle cluster raises no alarm.
    """

    def __init__(self) -> None:
        self._first: dict[str, int] = {}

    def __call__(self, state: State) -> bool:
        """Call with State frozen; cheap in a healthy cluster (the task scan stops at once)."""
        worked = False
        for hostname, worker in state.workers.data.items():
            processed = worker.processed
            if type(processed) is int:
                worked |= processed > self._first.setdefault(hostname, processed)
        return worked and not any(task.state != states.PENDING for task in state.tasks.data.values())


#: Said after the counts when :class:`UnseenWork` finds work no task event showed.
UNSEEN_WORK_HINT = "no task events: workers without -E? (evtop control enable-events)"


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
