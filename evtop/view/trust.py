"""What the event layer's Health found, as the TUI shows it: lost tasks, missed events, clocks.

Detection lives in :class:`~evtop.events.health.Health`, once for every mode. Each
refresh takes a :class:`Trust` snapshot of its findings (a few values per worker), and
the task table reads its rows through it:

* a row received or running on a worker that went offline reads ``LOST``: a view-level
  state, while the Task's ``state`` that scripts read stays celery's;
* times a worker stamped (RECEIVED, and the start a running task's RUNTIME counts from)
  are moved onto evtop's receive clock by that worker's clock skew, so a worker an hour
  behind shows 18 s for a task that started 18 s ago, not 1h00m.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from evtop.events.health import Gap, Health

if TYPE_CHECKING:
    from evtop.view.sheet import Rows
    from evtop.view.tasks import TaskItem

#: What a lost task's STATE cell reads.
LOST = "LOST"


@dataclass(frozen=True)
class Trust:
    """Health's findings as of one refresh; the empty default finds nothing."""

    #: Workers that said goodbye or have been silent for twice their heartbeat interval.
    offline: frozenset[str] = frozenset()
    #: Task starts a worker's heartbeats counted that no event showed, by hostname.
    missed: Mapping[str, int] = field(default_factory=dict)
    #: A worker's clock minus evtop's receive clock (seconds), by hostname.
    skew: Mapping[str, float] = field(default_factory=dict)
    #: Stretches of a worker's own clock missed across a reconnect, newest last.
    gaps: tuple[Gap, ...] = ()
    #: Workers whose heartbeats count tasks while no task event arrives: no ``-E``.
    without_task_events: tuple[str, ...] = ()

    @classmethod
    def of(cls, health: Health) -> Trust:
        now = health.now()
        workers = list(health.workers())
        return cls(
            offline=frozenset(w.hostname for w in workers if not w.online(now)),
            missed={w.hostname: w.missed_tasks for w in workers if w.missed_tasks},
            skew={w.hostname: skew for w in workers if (skew := w.clock_skew) is not None},
            gaps=tuple(health.gaps),
            without_task_events=tuple(health.without_task_events()),
        )

    @property
    def missed_tasks(self) -> int:
        return sum(self.missed.values())

    def lost(self, unfinished: bool, hostname: object) -> bool:
        """An ``unfinished`` task of ``hostname`` is lost once that worker is offline."""
        return unfinished and hostname in self.offline

    def on_receive_clock(self, stamp: float, hostname: object) -> float:
        """A time ``hostname`` stamped, as evtop's receive clock read it then."""
        skew = self.skew.get(hostname) if isinstance(hostname, str) else None
        return stamp if skew is None else stamp - skew

    def row(self, item: TaskItem) -> TaskItem:
        """The task row as shown: LOST, and the worker's times on the receive clock."""
        worker = item.worker
        skew = self.skew.get(worker)
        lost = item.unfinished and worker in self.offline
        if skew is None and not lost:
            return item
        received, started = item.received, item.started
        if skew is not None:
            received = None if received is None else received - skew
            started = None if started is None else started - skew
        if lost:  # no longer running: how long it ran is unknown
            return item._replace(state=LOST, received=received, started=started, unfinished=False)
        return item._replace(received=received, started=started)


@dataclass(frozen=True)
class TrustedRows:
    """A task table's rows read through a :class:`Trust` (only the rows drawn are read)."""

    rows: Rows[TaskItem]
    trust: Trust

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> TaskItem:
        return self.trust.row(self.rows[index])

    def __iter__(self) -> Iterator[TaskItem]:
        return map(self.trust.row, self.rows)

    def position(self, key: str) -> int | None:
        return self.rows.position(key)
