"""The snapshots a sink has not taken yet: bounded, merged rather than dropped when full.

Each sink has one spool. The camera puts every snapshot in (never blocking), the sink's
delivery thread takes the oldest out, and gives it back when the write failed. While a
sink is down the spool grows up to :attr:`Spool.max_snapshots` snapshots and
:attr:`Spool.max_tasks` task rows. Past either bound the two oldest snapshots are merged
into one: task rows per uuid, the later row winning (it is the later view of the same
task), and the later snapshot's everything else. So a long outage costs snapshot rows,
never a task's final state. Only when a single merged snapshot still holds more task
rows than the bound are the rows least recently updated dropped; every one is counted
in :attr:`Spool.lost`.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, replace

from evtop.camera.sinks.snapshot import Snapshot, TaskRow

#: Defaults: ten minutes of snapshots at one a second, and ten times celery's State.
MAX_SNAPSHOTS = 600
MAX_TASKS = 100_000


@dataclass
class _Entry:
    """A pending snapshot; ``tasks`` grows when later snapshots are merged into it."""

    snapshot: Snapshot
    tasks: dict[str, TaskRow]
    merged: int

    def take(self) -> Snapshot:
        return replace(self.snapshot, tasks=tuple(self.tasks.values()), merged=self.merged)


class Spool:
    """Pending snapshots of one sink, oldest first; thread-safe."""

    def __init__(self, max_snapshots: int = MAX_SNAPSHOTS, max_tasks: int = MAX_TASKS) -> None:
        if max_snapshots < 1 or max_tasks < 1:
            raise ValueError("a spool holds at least one snapshot and one task row")
        self.max_snapshots = max_snapshots
        self.max_tasks = max_tasks
        self._lock = threading.Lock()
        self._entries: deque[_Entry] = deque()
        self._rows = 0
        #: Snapshots folded into a later one (their task changes kept).
        self.merged = 0
        #: Task changes dropped because even a merged snapshot was over the bound.
        self.lost = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def rows(self) -> int:
        """Task rows pending, over all snapshots."""
        with self._lock:
            return self._rows

    def put(self, snapshot: Snapshot) -> None:
        """Append ``snapshot``, merging the oldest ones when a bound is passed."""
        entry = _Entry(snapshot, {row.uuid: row for row in snapshot.tasks}, snapshot.merged)
        with self._lock:
            self._entries.append(entry)
            self._rows += len(entry.tasks)
            self._fit()

    def take(self) -> Snapshot | None:
        """Remove and return the oldest snapshot (None when empty); give it back on failure."""
        with self._lock:
            if not self._entries:
                return None
            entry = self._entries.popleft()
            self._rows -= len(entry.tasks)
        return entry.take()

    def give_back(self, snapshot: Snapshot) -> None:
        """Put a snapshot that could not be delivered back in front."""
        entry = _Entry(snapshot, {row.uuid: row for row in snapshot.tasks}, snapshot.merged)
        with self._lock:
            self._entries.appendleft(entry)
            self._rows += len(entry.tasks)
            self._fit()

    def _fit(self) -> None:
        entries = self._entries
        while len(entries) > 1 and (len(entries) > self.max_snapshots or self._rows > self.max_tasks):
            older = entries.popleft()
            newer = entries[0]
            before = len(older.tasks) + len(newer.tasks)
            older.tasks.update(newer.tasks)  # the later row of a task wins ...
            entries[0] = _Entry(newer.snapshot, older.tasks, older.merged + newer.merged + 1)
            self._rows -= before - len(older.tasks)  # ... and a task is one row again
            self.merged += 1
        if self._rows > self.max_tasks:  # one snapshot left, and still too many tasks
            self._drop_oldest_rows(entries[0], self._rows - self.max_tasks)

    def _drop_oldest_rows(self, entry: _Entry, excess: int) -> None:
        oldest = sorted(entry.tasks.values(), key=lambda row: row.updated)[:excess]
        for row in oldest:
            del entry.tasks[row.uuid]
        self._rows -= excess
        self.lost += excess
