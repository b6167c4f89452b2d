"""Differential testing against celery's own State (the oracle)."""

from __future__ import annotations

import copy
from typing import Any

from celery.events.state import State as _CeleryState
from celery.events.state import Task as _CeleryTask

#: Fields events carry that celery stores as attributes without a class default.
EXTRA_TASK_FIELDS = (
    "hostname",
    "pid",
    "utcoffset",
    "type",
    "local_received",
    "queue",
    "terminated",
    "signum",
    "expired",
    "requeue",
    "custom_field",
    "current",
    "total",
)
WORKER_FIELDS = (
    "hostname",
    "pid",
    "freq",
    "heartbeats",
    "clock",
    "active",
    "processed",
    "loadavg",
    "sw_ident",
    "sw_ver",
    "sw_sys",
    "type",
    "timestamp",
    "utcoffset",
    "local_received",
)


class CycleFreeTask(_CeleryTask):
    """celery's Task minus its per-instance dict of bound methods.

    That dict puts every celery Task in a reference cycle, so an evicted task survives
    until the cyclic GC runs, stays in WeakSets meanwhile and shadows a re-created task
    with the same uuid: the oracle's answer would depend on GC timing. Without the cycle
    celery behaves as if the GC ran at once, which is what evtop does.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.__dict__["_serializer_handlers"]

    def as_dict(self) -> dict[str, Any]:
        out = {key: getattr(self, key) for key in self._fields}
        out["children"] = [task.id for task in self.children]
        out["root"], out["parent"] = self.root_id, self.parent_id
        return out


class OracleState(_CeleryState):
    Task = CycleFreeTask


def _plain(value: Any) -> Any:
    if hasattr(value, "heartbeats") and hasattr(value, "hostname"):
        return ("worker", value.hostname)
    return value


def task_view(task: Any) -> dict[str, Any]:
    view = {key: _plain(value) for key, value in task.as_dict().items()}
    view["children"] = sorted(view["children"])
    for key in EXTRA_TASK_FIELDS:
        view[f"extra:{key}"] = getattr(task, key, "<unset>")
    return view


def worker_view(worker: Any) -> dict[str, Any]:
    return {key: getattr(worker, key, "<unset>") for key in WORKER_FIELDS}


def state_view(state: Any, *, lru_order: bool = True) -> dict[str, Any]:
    """Everything observable through celery's public State API, as plain data."""

    tasks = list(state.tasks.items())
    view = {
        "tasks": {uuid: task_view(task) for uuid, task in tasks},
        "workers": {host: worker_view(worker) for host, worker in list(state.workers.items())},
        "by_time": [uuid for uuid, _ in state.tasks_by_time()],
        "by_time_limited": [uuid for uuid, _ in state.tasks_by_time(limit=7)],
        "by_time_oldest": [uuid for uuid, _ in state.tasks_by_time(reverse=False)],
        "event_count": state.event_count,
        "task_count": state.task_count,
        "task_types": state.task_types(),
        "by_type": {k: sorted(t.uuid for t in v) for k, v in state.tasks_by_type.items() if len(v)},
        "by_worker": {k: sorted(t.uuid for t in v) for k, v in state.tasks_by_worker.items() if len(v)},
    }
    if lru_order:
        view["lru"] = [uuid for uuid, _ in tasks]
        view["worker_lru"] = [host for host, _ in list(state.workers.items())]
    return view


def result_view(result: Any) -> Any:
    """The return value of ``State.event`` with objects replaced by their ids."""
    if result is None:
        return None
    (obj, created), subject = result
    ident = getattr(obj, "uuid", None) or getattr(obj, "hostname", None)
    return (type(obj).__name__.replace("CycleFree", ""), ident, created, subject)


def feed_both(events: list[dict[str, Any]], oracle: Any, state: Any) -> list[tuple[Any, Any]]:
    """Apply the same events to both (each gets its own copies); returns paired results."""
    results = []
    for event in events:
        results.append(
            (result_view(oracle.event(copy.deepcopy(event))), result_view(state.event(copy.deepcopy(event))))
        )
    return results
