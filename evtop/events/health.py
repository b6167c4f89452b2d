"""What the stream did not show: missed events, lost tasks, sender clocks and silent workers.

A monitor is only useful if it says when it does not know. The stream itself says a lot
about what it lost, and this module reads it once for every mode:

* **Missed tasks.** Each worker heartbeat carries ``processed``, the worker's count of
  tasks it has accepted (started). Between a worker's first heartbeat and its latest, the
  rise of that count minus the ``task-started`` events heard from the worker in the same
  stretch of its own clock is the number of tasks that started without evtop seeing it.
  Counting by the sender's timestamps (not by arrival) keeps late ``task.multi`` batches
  from looking like losses; the difference is taken over the whole stretch, so a task
  counted just before a heartbeat and stamped just after it cancels out later.
* **Gaps after an outage.** A reconnect tells when evtop noticed the connection was
  gone, not when events stopped reaching it: Redis drops a subscriber that fell behind
  silently. So after a reconnect, for each worker, the newest time it stamped before and
  the first one after bound what was really missed.
* **Lost tasks.** A task last seen received or running (started, or in a custom state
  such as ``PROGRESS``) on a worker that went offline (``worker-offline``, or no event
  for twice its heartbeat interval) with no final event.
* **Sender clocks.** Sender time minus receive time, per worker: a worker whose clock is
  off shows it here, and times shown from its clock can be corrected.

Times here are on evtop's own receive clock: a monotonic clock when listening live (so a
wall-clock step cannot flip a worker offline), the recorded receive times on a replay.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from evtop.broker.status import Phase, StatusSnapshot
from evtop.events import states

#: Heartbeat interval assumed for a worker whose heartbeats did not say (celery's default).
DEFAULT_FREQ = 2.0
#: A worker is offline after this many heartbeat intervals without an event (celery's rule).
EXPIRE_FACTOR = 2.0
#: A ``task-started`` stamped this little after a heartbeat may have been counted in it.
STAMP_SLACK = 1.0
#: Newest clock-skew samples kept per worker.
SKEW_SAMPLES = 31
#: ``task-started`` stamps kept per worker past its latest heartbeat, at most.
MAX_PENDING = 100_000
#: Seconds over which the event rate per worker is measured.
RATE_WINDOW = 10.0
#: A gap in a worker's own timestamps shorter than this many intervals is no loss.
GAP_FACTOR = 2.0
#: Gaps remembered, newest last.
MAX_GAPS = 100

#: Said of a worker in :meth:`Health.without_task_events` (stderr, doctor).
WITHOUT_TASK_EVENTS = "runs tasks but sends no task events: started without -E? (evtop control enable-events)"
#: The same after the workers' names, short enough for the TUI's header.
SHORT_WITHOUT_TASK_EVENTS = "without -E? (evtop control enable-events)"


@dataclass(frozen=True)
class Gap:
    """Events a worker stamped between ``before`` and ``after`` (its own clock) were missed."""

    hostname: str
    before: float
    after: float

    @property
    def seconds(self) -> float:
        return self.after - self.before


@dataclass
class Sender:
    """What the stream says about one worker (or client) hostname."""

    hostname: str
    #: Receive-clock time of its first and newest event.
    first_heard: float
    last_heard: float
    #: Newest timestamp it put on an event (its own clock).
    last_sent: float | None = None
    freq: float = DEFAULT_FREQ
    #: A ``worker-offline`` was its last word.
    said_offline: bool = False
    #: Ever sent a ``worker-*`` event (clients that only send ``task-sent`` never do).
    is_worker: bool = False
    events: int = 0
    task_events: int = 0
    #: Sender time minus receive time of its recent ``worker-*`` events.
    skews: deque[float] = field(default_factory=lambda: deque(maxlen=SKEW_SAMPLES))
    #: The rate window: when it began, the event count then, and the last full window's rate.
    window: float = 0.0
    window_events: int = 0
    last_rate: float | None = None
    #: (processed, sender time) of the first heartbeat that carried the count, and the newest.
    baseline: tuple[int, float] | None = None
    latest: tuple[int, float] | None = None
    #: ``task-started`` events stamped after ``baseline`` and no later than ``latest`` (+slack).
    started: int = 0
    #: Stamps of ``task-started`` events later than ``latest`` (+slack): the next heartbeat's.
    pending: list[float] = field(default_factory=list)
    #: The newest stamp before the last reconnect, until the first event after it arrives.
    before_outage: float | None = None

    @property
    def missed_tasks(self) -> int:
        """Tasks its heartbeats counted as started that no ``task-started`` event showed."""
        if self.baseline is None or self.latest is None:
            return 0
        return max(0, self.latest[0] - self.baseline[0] - self.started)

    @property
    def clock_skew(self) -> float | None:
        """Its clock minus evtop's (seconds; positive when it runs ahead), median of recent."""
        return _median(self.skews) if self.skews else None

    def online(self, now: float) -> bool:
        return not self.said_offline and now - self.last_heard <= EXPIRE_FACTOR * self.freq

    def rate(self, now: float) -> float:
        """Events per second: over the last full :data:`RATE_WINDOW`, else since first heard."""
        if self.last_rate is not None and now - self.window < RATE_WINDOW:
            return self.last_rate
        span = now - self.window
        return (self.events - self.window_events) / span if span > 0 else 0.0


def _median(values: Iterable[float]) -> float:
    """The median of a few samples (statistics.median, without importing the statistics
    package and its fractions and decimal modules into every mode's start)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


class Health:
    """Reads every event (before the State does) and the connection's transitions."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        #: None on a replay: time then follows the recorded receive times.
        self._clock = clock
        self._last_received = 0.0
        self.senders: dict[str, Sender] = {}
        self.gaps: deque[Gap] = deque(maxlen=MAX_GAPS)
        self._reconnects = 0
        #: Called with each gap when it is found (the modes report it).
        self.on_gap: Callable[[Gap], None] | None = None

    def now(self) -> float:
        return self._clock() if self._clock is not None else self._last_received

    # -- feeding ---------------------------------------------------------------------

    def observe(self, event: dict[str, Any]) -> None:
        """One validated event (``hostname``, ``type``, ``timestamp``, ``local_received``).

        On the hot path of every mode: the common task event costs a few attribute updates.
        """
        received = event["local_received"]
        if received > self._last_received:
            self._last_received = received
        hostname = event.get("hostname")
        if type(hostname) is not str:
            return  # only task and worker events are sure to name their sender
        heard = self._clock() if self._clock is not None else received
        sender = self.senders.get(hostname)
        if sender is None:
            sender = self.senders[hostname] = Sender(hostname, heard, heard, window=heard)
        if heard > sender.last_heard:
            sender.last_heard = heard
        sender.events += 1
        if heard - sender.window >= RATE_WINDOW:
            sender.last_rate = (sender.events - sender.window_events) / (heard - sender.window)
            sender.window, sender.window_events = heard, sender.events
        sent = event.get("timestamp")
        if sent is not None:
            if sender.before_outage is not None:
                self._after_outage(sender, sent)
            if sender.last_sent is None or sent > sender.last_sent:
                sender.last_sent = sent
        kind = event["type"]
        if kind[:5] == "task-":
            sender.task_events += 1
            if kind == "task-started" and sent is not None:
                self._started(sender, sent)
        elif kind[:7] == "worker-":
            if sent is not None:
                sender.skews.append(sent - received)
            self._worker_event(sender, kind, event)

    def _after_outage(self, sender: Sender, sent: float) -> None:
        before, sender.before_outage = sender.before_outage, None
        if before is not None and sent - before > GAP_FACTOR * sender.freq:
            gap = Gap(sender.hostname, before, sent)
            self.gaps.append(gap)
            if self.on_gap is not None:
                self.on_gap(gap)

    def _worker_event(self, sender: Sender, kind: str, event: dict[str, Any]) -> None:
        sender.is_worker = True
        sender.said_offline = kind == "worker-offline"
        freq = event.get("freq")
        if isinstance(freq, float | int) and freq > 0:
            sender.freq = float(freq)
        processed, sent = event.get("processed"), event.get("timestamp")
        if type(processed) is not int or not isinstance(sent, float | int):
            return  # a wake-up heartbeat carries no counts
        if sender.latest is None or processed < sender.latest[0] or kind == "worker-online":
            # First count heard, or the worker restarted (its count began again).
            sender.baseline = sender.latest = (processed, float(sent))
            sender.started = 0
            sender.pending = [stamp for stamp in sender.pending if stamp > sent]
            return
        if sent < sender.latest[1]:
            return  # an older heartbeat delivered late: the newer count already covers it
        sender.latest = (processed, float(sent))
        limit = sent + STAMP_SLACK
        due = [stamp for stamp in sender.pending if stamp <= limit]
        if due:
            sender.started += len(due)
            sender.pending = [stamp for stamp in sender.pending if stamp > limit]

    def _started(self, sender: Sender, sent: float) -> None:
        if sender.baseline is None or sender.latest is None or sent <= sender.baseline[1]:
            return
        if sent <= sender.latest[1] + STAMP_SLACK:
            sender.started += 1
        else:
            sender.pending.append(sent)
            if len(sender.pending) > MAX_PENDING:  # no heartbeat for ages: count, don't hoard
                sender.started += 1
                sender.pending.pop(0)

    def on_status(self, snapshot: StatusSnapshot) -> None:
        """A :class:`~evtop.broker.status.ConnectionStatus` listener: marks reconnects."""
        if snapshot.phase is Phase.CONNECTED and snapshot.reconnects > self._reconnects:
            self._reconnects = snapshot.reconnects
            for sender in self.senders.values():
                if sender.last_sent is not None and sender.before_outage is None:
                    sender.before_outage = sender.last_sent

    # -- findings --------------------------------------------------------------------

    def workers(self) -> Iterator[Sender]:
        """Every hostname that sent ``worker-*`` events, by name."""
        return (self.senders[name] for name in sorted(self.senders) if self.senders[name].is_worker)

    def offline(self, now: float | None = None) -> set[str]:
        """Workers that said goodbye or have been silent for twice their heartbeat interval."""
        now = self.now() if now is None else now
        return {sender.hostname for sender in self.workers() if not sender.online(now)}

    @property
    def missed_tasks(self) -> int:
        return sum(sender.missed_tasks for sender in self.senders.values())

    def without_task_events(self) -> list[str]:
        """Workers whose counts rose while they sent no task event at all: no ``-E``."""
        return [s.hostname for s in self.workers() if s.missed_tasks and not s.task_events]


#: The celery states of a task its worker has yet to finish.
WAITING = frozenset({states.RECEIVED, states.STARTED})


def unfinished(task: Any) -> bool:
    """Whether ``task`` (a Task) is yet to finish on its worker: received, started, or
    in a custom state (``PROGRESS``: events a running task sends). celery ranks a custom
    state above REVOKED and REJECTED, so such a task ended only if it was revoked or
    rejected meanwhile; SUCCESS and FAILURE replace it. A task that never finished on a
    worker that went offline is lost."""
    state = task.state
    return state in WAITING or (state not in states.ALL_STATES and not (task.revoked or task.rejected))


def running(task: Any) -> bool:
    """Whether ``task`` runs on its worker: :func:`unfinished` and no longer only received
    (started, or in a custom state since). A revoke does not stop it; a terminate does."""
    return task.state != states.RECEIVED and unfinished(task)


def lost_tasks(tasks: Any, offline: AbstractSet[str]) -> list[str]:
    """Uuids of the :func:`unfinished` tasks of offline workers, oldest first.

    ``tasks`` is ``State.tasks`` (or any mapping of uuid to Task); call with the State
    frozen. A task that reached a final state, or moved on to another worker, is not lost.
    """
    if not offline:
        return []
    found = []
    for uuid, task in getattr(tasks, "data", tasks).items():  # .data: no LRU refresh
        worker = task.worker
        if worker is not None and worker.hostname in offline and unfinished(task):
            found.append((task.timestamp or 0.0, uuid))
    return [uuid for _, uuid in sorted(found)]
