"""``tasks_by_type`` and ``tasks_by_worker``: tasks grouped by a key, bounded by the State."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from evtop.events.state.task import Task

__all__ = ["TaskIndex", "TaskSet"]


class TaskSet(AbstractSet[Task]):
    """The tasks under one index key: a live, read-only set (celery hands out a WeakSet).

    Live until its key empties and is deleted; index the State again after that. Backed
    by a dict keyed by uuid, so indexing a task never calls ``Task.__hash__`` (a
    Python method) on the hot path. Membership is by uuid, like Task equality.
    """

    __slots__ = ("_tasks",)

    def __init__(self, tasks: dict[str, Task]) -> None:
        self._tasks = tasks

    def __contains__(self, task: object) -> bool:
        return isinstance(task, Task) and task.uuid in self._tasks

    def __iter__(self) -> Iterator[Task]:
        return iter(list(self._tasks.values()))  # a snapshot: the receiver keeps changing it

    def __len__(self) -> int:
        return len(self._tasks)

    def __repr__(self) -> str:
        return f"<TaskSet {len(self._tasks)} tasks>"


class TaskIndex(Mapping[str, TaskSet]):
    """key → live set of tasks, also callable (celery's ``tasks_by_type(name)``).

    celery uses a defaultdict of WeakSets whose keys are never removed, so a stream of
    distinct task names or hostnames grows it without bound. Here a task leaves its set
    when the State forgets it and empty keys are deleted, so the index never holds more
    keys than there are tasks. Indexing a missing key returns an empty set (celery's
    defaultdict behaviour) without inserting it.
    """

    __slots__ = ("_query", "_sets")

    def __init__(self, query: Callable[..., Iterator[tuple[str, Task]]]) -> None:
        #: key → {uuid: task}; the State adds to it directly on its hot path.
        self._sets: dict[str, dict[str, Task]] = {}
        self._query = query

    def __call__(
        self, key: str, limit: int | None = None, reverse: bool = True
    ) -> Iterator[tuple[str, Task]]:
        return self._query(key, limit=limit, reverse=reverse)

    def __getitem__(self, key: str) -> TaskSet:
        return TaskSet(self._sets.get(key) or {})

    def get(self, key: str, default: Any = None) -> Any:
        found = self._sets.get(key)
        return default if found is None else TaskSet(found)

    def __contains__(self, key: object) -> bool:
        return key in self._sets

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._sets))

    def __len__(self) -> int:
        return len(self._sets)

    def _add(self, key: str, task: Task) -> None:
        uuid = task.uuid
        if uuid is None:  # never in a State: it keys tasks by uuid
            return
        found = self._sets.get(key)
        if found is None:
            self._sets[key] = {uuid: task}
        else:
            found[uuid] = task

    def _discard(self, key: str, task: Task) -> None:
        found = self._sets.get(key)
        uuid = task.uuid
        if found is not None and uuid is not None and found.get(uuid) is task:
            del found[uuid]
            if not found:
                del self._sets[key]

    def __repr__(self) -> str:
        return f"<TaskIndex keys={len(self._sets)}>"
