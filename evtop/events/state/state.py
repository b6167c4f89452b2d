"""The State: cluster state rebuilt from events, with celery's ``State`` API and semantics.

Existing snapshot cameras and scripts are written against ``celery.events.state``; they
must work unchanged, so names, return shapes, merge rules for out-of-order events and
index quirks follow celery. Where celery lets memory grow with values an event publisher
controls, evtop deliberately differs; each difference is documented where it is made.
This module does no I/O and never imports a UI library.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice
from typing import Any, TypeAlias
from weakref import WeakSet

from evtop.events import states
from evtop.events.lru import LRUCache
from evtop.events.state.index import TaskIndex
from evtop.events.state.order import TimeOrder
from evtop.events.state.task import Task
from evtop.events.state.worker import DRIFT_WARNED, HEARTBEAT_DRIFT_MAX, SKEW_CHECK, Worker, warn_drift

__all__ = ["State"]

_SUBJECTS = {
    t: t.partition("-")
    for t in (
        *(f"task-{subject}" for subject in (*states.TASK_EVENT_TO_STATE, "cancelled")),
        "worker-online",
        "worker-heartbeat",
        "worker-offline",
    )
}

# State has class attributes named Task and Worker (celery's extension hook), which hide
# the classes inside its body; annotations there use these aliases.
_Task: TypeAlias = Task
_Worker: TypeAlias = Worker


class State:
    """Records cluster state: workers, tasks, indexes and time order; celery's ``State`` API."""

    Worker = Worker
    Task = Task
    heap_multiplier = 4

    def __init__(
        self,
        callback: Callable[[State, dict[str, Any]], None] | None = None,
        workers: Mapping[str, _Worker] | None = None,
        tasks: Mapping[str, _Task] | None = None,
        taskheap: object = None,
        max_workers_in_memory: int = 5000,
        max_tasks_in_memory: int = 10000,
        on_node_join: Callable[[_Worker], None] | None = None,
        on_node_leave: Callable[[_Worker], None] | None = None,
        tasks_by_type: Mapping[str, Iterable[str]] | None = None,
        tasks_by_worker: Mapping[str, Iterable[str]] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        max_task_types: int = 10000,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        """``clock``: the wall clock liveness is judged by against receive times (celery's
        rule). ``monotonic``: when listening live, a monotonic clock that liveness follows
        instead (read as each event is applied), so a wall-clock step flips no worker."""
        # ``taskheap`` is accepted for signature compatibility only: celery rebuilds it too.
        for name, limit in (
            ("max_workers_in_memory", max_workers_in_memory),
            ("max_tasks_in_memory", max_tasks_in_memory),
            ("max_task_types", max_task_types),
        ):
            # celery takes anything here and fails later (0 and None break its heap trim);
            # a wrong limit is the caller's mistake, so it is refused where it is made.
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, not {limit!r}")
        self.event_callback = callback
        self.max_workers_in_memory = max_workers_in_memory
        self.max_tasks_in_memory = max_tasks_in_memory
        self.max_task_types = max_task_types
        self.on_node_join = on_node_join
        self.on_node_leave = on_node_leave
        self.event_count = 0
        self.task_count = 0
        #: Distinct task names forgotten because ``max_task_types`` was reached.
        self.task_types_dropped = 0
        #: Reentrant so that code run by :meth:`freeze_while` can iterate the caches.
        self._mutex = threading.RLock()
        self._clock = clock
        self._monotonic = monotonic
        self.workers: LRUCache[str, _Worker] = LRUCache(max_workers_in_memory, lock=self._mutex)
        self.tasks: LRUCache[str, _Task] = LRUCache(
            max_tasks_in_memory, lock=self._mutex, on_evict=self._forget_task
        )
        self.handlers: dict[str, Callable[[str, dict[str, Any]], Any]] = {}
        self._seen_types: dict[str, None] = {}
        self._tasks_to_resolve: LRUCache[str, WeakSet[_Task]] = LRUCache(
            max_tasks_in_memory, lock=self._mutex
        )
        #: Every task event's place in celery's time order, as many as celery keeps.
        self._taskheap = TimeOrder(max_tasks_in_memory * self.heap_multiplier)
        self.tasks_by_type = TaskIndex(self._tasks_by_type)
        self.tasks_by_worker = TaskIndex(self._tasks_by_worker)
        #: hostname -> tasks held whose ``worker`` it is (received or ran them). Unlike
        #: ``tasks_by_worker`` (celery's: the host of a task's first event, the client when
        #: task-sent events are on), this counts a task under the worker that runs it;
        #: kept by each event in O(1), never by a scan.
        self.worker_task_counts: dict[str, int] = {}
        #: root_id -> the other tasks of that workflow (not in celery): a workflow tree is
        #: read from it in the time its own size takes, however many tasks are held. A task
        #: that is its own root (most tasks) is left out: it costs no memory here.
        self.tasks_by_root = TaskIndex(self._tasks_by_root)
        for hostname, worker in (workers or {}).items():
            worker._now = clock
            worker._monotonic = monotonic
            self.workers[hostname] = worker
        for uuid, task in (tasks or {}).items():
            task.cluster_state = self
            self.tasks[uuid] = task
            if task.worker is not None:
                self._count_worker(task.worker.hostname, 1)
            self._index_root(task)
        self._restore_index(self.tasks_by_type, tasks_by_type, 0)
        self._restore_index(self.tasks_by_worker, tasks_by_worker, 1)
        self.rebuild_taskheap()

    def _restore_index(self, index: TaskIndex, saved: Mapping[str, Iterable[str]] | None, slot: int) -> None:
        for key, ids in (saved or {}).items():
            for task_id in ids:
                task = self.tasks.data.get(task_id)
                if task is not None:
                    keys = list(task._index_keys or ("", ""))
                    keys[slot] = key
                    task._index_keys = (keys[0], keys[1])
                    index._add(key, task)

    # -- locking -----------------------------------------------------------------------

    def freeze_while(
        self, fun: Callable[..., Any], *args: Any, clear_after: bool = False, **kwargs: Any
    ) -> Any:
        """Run ``fun`` with event processing blocked (celery semantics, clear included)."""
        with self._mutex:
            try:
                return fun(*args, **kwargs)
            finally:
                if clear_after:
                    self._clear()

    def clear_tasks(self, ready: bool = True) -> None:
        with self._mutex:
            self._clear_tasks(ready)

    def _clear_tasks(self, ready: bool = True) -> None:
        data = self.tasks.data
        for uuid, task in list(data.items()):
            if not ready or task.state in states.READY_STATES:
                del data[uuid]
                self._forget_task(uuid, task)
        self._taskheap.clear()

    def _clear(self, ready: bool = True) -> None:
        self.workers.clear()
        self._clear_tasks(ready)
        self.event_count = 0
        self.task_count = 0

    def clear(self, ready: bool = True) -> None:
        with self._mutex:
            self._clear(ready)

    def _count_worker(self, hostname: str | None, delta: int) -> None:
        if hostname is None:  # never for a worker made from an event
            return
        counts = self.worker_task_counts
        left = counts.get(hostname, 0) + delta
        if left > 0:
            counts[hostname] = left
        else:
            counts.pop(hostname, None)

    def _forget_task(self, uuid: str, task: _Task) -> None:
        worker = task.worker
        if worker is not None:
            self._count_worker(worker.hostname, -1)
        keys = task._index_keys
        if keys is not None:
            task._index_keys = None
            self.tasks_by_type._discard(keys[0], task)
            self.tasks_by_worker._discard(keys[1], task)
        root = task._root_key
        if root is not None:
            task._root_key = None
            self.tasks_by_root._discard(root, task)

    def _index_root(self, task: _Task) -> None:
        """File ``task`` under its root_id unless it is its own root (a str; anything else
        from the wire is not a key). ``_root_key`` is the root_id last seen: each event
        brings its own copy of the string, and the task keeps one (a root's is its uuid's)."""
        root = task.root_id
        old = task._root_key
        if old is not None and root == old:
            task.root_id = old
            return
        key = root if type(root) is str and root else None
        if key is not None and key == task.uuid:
            key = task.root_id = task.uuid
        if old is not None:
            self.tasks_by_root._discard(old, task)
        task._root_key = key
        if key is not None and key != task.uuid:
            self.tasks_by_root._add(key, task)

    # -- creation ----------------------------------------------------------------------

    def _new_worker(self, hostname: str) -> _Worker:
        worker = self.Worker(hostname)
        worker._now = self._clock
        worker._monotonic = self._monotonic
        return worker

    def get_or_create_worker(self, hostname: str, **kwargs: Any) -> tuple[_Worker, bool]:
        with self._mutex:
            try:
                worker = self.workers[hostname]
            except KeyError:
                worker = self._new_worker(hostname)
                if kwargs:
                    worker.update(kwargs)
                self.workers[hostname] = worker
                return worker, True
            if kwargs:
                worker.update(kwargs)
            return worker, False

    def get_or_create_task(self, uuid: str) -> tuple[_Task, bool]:
        with self._mutex:
            try:
                return self.tasks[uuid], False
            except KeyError:
                task = self.tasks[uuid] = self.Task(uuid, cluster_state=self)
                return task, True

    # -- events ------------------------------------------------------------------------

    def event(self, event: dict[str, Any]) -> Any:
        """Apply one event dict; returns celery's ``((obj, created), subject)`` or None."""
        with self._mutex:
            self.event_count += 1
            if self.event_callback is not None:
                self.event_callback(self, event)
            type_ = event["type"]
            group, _, subject = _SUBJECTS.get(type_) or type_.partition("-")
            if self.handlers:
                handler = self.handlers.get(group)
                if handler is not None:
                    return handler(subject, event), subject
            if group == "task":
                return self._task_event(subject, event), subject
            if group == "worker":
                result = self._worker_event(subject, event)
                return None if result is None else (result, subject)
            return None

    def task_event(self, type_: str, fields: Mapping[str, Any]) -> Any:
        """Deprecated in celery; kept for scripts that still call it."""
        result = self.event(dict(fields, type=f"task-{type_}"))
        return None if result is None else result[0]

    def worker_event(self, type_: str, fields: Mapping[str, Any]) -> Any:
        """Deprecated in celery; kept for scripts that still call it."""
        result = self.event(dict(fields, type=f"worker-{type_}"))
        return None if result is None else result[0]

    def _worker_event(self, subject: str, event: dict[str, Any]) -> tuple[_Worker, bool] | None:
        try:
            hostname = event["hostname"]
            timestamp = event["timestamp"]
            local_received = event["local_received"]
        except KeyError:
            return None
        is_offline = subject == "offline"
        worker = self.workers.data.get(hostname)
        created = False
        if worker is None:
            worker = self._new_worker(hostname)
            if not is_offline:  # celery never stores a worker first seen going offline
                self.workers[hostname] = worker
                created = True
        worker.event(subject, timestamp, local_received, event)
        if self.on_node_join is not None and (created or subject == "online"):
            self.on_node_join(worker)
        if self.on_node_leave is not None and is_offline:
            self.on_node_leave(worker)
            self.workers.data.pop(hostname, None)
        return worker, created

    def _task_event(self, subject: str, event: dict[str, Any]) -> tuple[_Task, bool]:
        uuid = event["uuid"]
        hostname = event["hostname"]
        timestamp = event["timestamp"]
        local_received = event["local_received"]
        clock = event["clock"]
        tasks = self.tasks
        data = tasks.data
        task = data.get(uuid)
        created = task is None
        if task is None:
            task = self.Task(uuid, cluster_state=self)
            if tasks.limit and len(data) >= tasks.limit:  # LRU insert, inlined: we hold the lock
                self._forget_task(*data.popitem(last=False))
            data[uuid] = task
        if subject == "sent":  # sent by a client, not a worker
            task.client = hostname
            origin = hostname
        else:
            worker = self.workers.data.get(hostname)
            if worker is None:
                worker = self._new_worker(hostname)
                self.workers[hostname] = worker
            previous = task.worker
            if previous is not worker:
                if previous is None or previous.hostname != hostname:
                    if previous is not None:
                        self._count_worker(previous.hostname, -1)
                    self._count_worker(hostname, 1)
                task.worker = worker
            if local_received and timestamp:
                # celery records the *sender's* time as a heartbeat here; the common case
                # (newer than the last, no drift) is inlined, the rest is Worker._heartbeat.
                heartbeats = worker.heartbeats
                count = len(heartbeats)
                if count and timestamp > heartbeats[-1]:
                    skew = timestamp - local_received  # see Worker._heartbeat
                    if (skew > SKEW_CHECK or skew < -SKEW_CHECK) and (worker._hostname not in DRIFT_WARNED):
                        drift = abs(int(timestamp) - int(local_received))
                        if drift > HEARTBEAT_DRIFT_MAX:
                            warn_drift(worker._hostname, drift)
                    if count >= worker.heartbeat_max:
                        del heartbeats[0]
                    heartbeats.append(timestamp)
                else:
                    worker._heartbeat(timestamp, local_received)
                last_seen = worker._last_seen
                if last_seen is None or local_received > last_seen:
                    worker._last_seen = local_received
                monotonic = worker._monotonic
                if monotonic is not None:
                    worker._heard = monotonic()
            origin = worker._origin
        self._taskheap.add(clock, timestamp, origin, task.uuid, task._serial)
        if subject == "received":
            self.task_count += 1
        task.event(subject, timestamp, local_received, event)
        name = task.name
        if name is not None:
            if name not in self._seen_types:
                self._add_type(name)
            if created:
                task._index_keys = (name, hostname)
                by_type = self.tasks_by_type._sets.get(name)
                if by_type is None:
                    self.tasks_by_type._sets[name] = {uuid: task}
                else:
                    by_type[uuid] = task
                by_worker = self.tasks_by_worker._sets.get(hostname)
                if by_worker is None:
                    self.tasks_by_worker._sets[hostname] = {uuid: task}
                else:
                    by_worker[uuid] = task
        if task.root_id is not task._root_key:
            self._index_root(task)
        parent_id = task.parent_id
        if parent_id:
            parent = tasks.data.get(parent_id)
            if parent is None:
                self._add_pending_child(parent_id, task)
            else:
                tasks.data.move_to_end(parent_id)  # celery's lookup refreshes the parent
                parent.children.add(task)
        waiting = self._tasks_to_resolve.data
        if waiting:
            pending = waiting.pop(uuid, None)
            if pending is not None:
                task.children.update(pending)
        return task, created

    def _add_type(self, name: str) -> None:
        seen = self._seen_types
        if name not in seen:
            seen[name] = None
            if len(seen) > self.max_task_types:
                del seen[next(iter(seen))]
                self.task_types_dropped += 1

    def _add_pending_child(self, parent_id: str, task: _Task) -> None:
        pending = self._tasks_to_resolve.data.get(parent_id)
        if pending is None:
            pending = WeakSet()
            self._tasks_to_resolve[parent_id] = pending
        pending.add(task)

    # -- queries -----------------------------------------------------------------------

    def rebuild_taskheap(self) -> None:
        with self._mutex:
            tasks = self.tasks.data
            ordered: list[Any] = []
            if tasks:  # every State is built through here: an empty one needs no kombu
                from kombu.clocks import timetuple

                # Sorted with kombu's own comparison, as celery does: it is intransitive
                # when some tasks have no clock, and then only the same sort gives the
                # same order. tuple.__new__ takes the fields as they are: a task may have
                # no clock or time.
                new = tuple.__new__
                ordered = sorted(
                    new(timetuple, (t.clock, t.timestamp, t.origin, (uuid, t._serial)))
                    for uuid, t in tasks.items()
                )
            self._taskheap = TimeOrder(
                self._taskheap.limit,
                ((clock, origin, stamp, *task) for clock, stamp, origin, task in ordered),
            )

    def itertasks(self, limit: int | None = None) -> Iterator[tuple[str, _Task]]:
        """``(uuid, task)`` in least-recently-used order."""
        for index, row in enumerate(self.tasks.items()):
            yield row
            if limit and index + 1 >= limit:
                break

    def tasks_by_time(self, limit: int | None = None, reverse: bool = True) -> Iterator[tuple[str, _Task]]:
        """``(uuid, task)`` newest first; ``limit`` counts events, as in celery.

        celery's heap holds weak references, so it also yields a task it has forgotten
        for as long as something else keeps that task alive; evtop's names each task by
        uuid and serial, and yields only tasks the State still holds.
        """
        with self._mutex:
            entries = self._taskheap.entries(limit, reverse)
        known = self.tasks.data
        seen: set[str] = set()
        for entry in islice(entries, 0, limit):
            task = known.get(entry[3])
            if task is not None and task._serial == entry[4]:
                uuid = entry[3]
                if uuid not in seen:
                    seen.add(uuid)
                    yield uuid, task

    tasks_by_timestamp = tasks_by_time

    def _tasks_by_type(
        self, name: str, limit: int | None = None, reverse: bool = True
    ) -> Iterator[tuple[str, _Task]]:
        return islice(
            ((uuid, task) for uuid, task in self.tasks_by_time(reverse=reverse) if task.name == name),
            0,
            limit,
        )

    def _tasks_by_worker(
        self, hostname: str, limit: int | None = None, reverse: bool = True
    ) -> Iterator[tuple[str, _Task]]:
        # celery raises AttributeError here for client-only tasks; they are skipped instead.
        return islice(
            (
                (uuid, task)
                for uuid, task in self.tasks_by_time(reverse=reverse)
                if task.worker is not None and task.worker.hostname == hostname
            ),
            0,
            limit,
        )

    def _tasks_by_root(
        self, root_id: str, limit: int | None = None, reverse: bool = True
    ) -> Iterator[tuple[str, _Task]]:
        return islice(
            ((uuid, task) for uuid, task in self.tasks_by_time(reverse=reverse) if task.root_id == root_id),
            0,
            limit,
        )

    def task_types(self) -> list[str]:
        """Sorted task names seen (bounded by ``max_task_types``, oldest forgotten first)."""
        with self._mutex:
            return sorted(self._seen_types)

    def alive_workers(self) -> Iterator[_Worker]:
        return (worker for worker in self.workers.values() if worker.alive)

    def __repr__(self) -> str:
        return f"<State: events={self.event_count} tasks={self.task_count}>"
