"""Cluster state rebuilt from events, with celery's ``State`` API and semantics.

Existing snapshot cameras and scripts are written against ``celery.events.state``; they
import these names from here instead. One concern per module: :mod:`.fields` copies
event fields onto objects, :mod:`.worker` and :mod:`.task` are the objects,
:mod:`.index` groups tasks by type and worker, :mod:`.order` keeps celery's time order,
and :mod:`.state` ties them together as the ``State``.
"""

from evtop.events.state.index import TaskIndex, TaskSet
from evtop.events.state.state import State
from evtop.events.state.task import Task
from evtop.events.state.worker import (
    HEARTBEAT_DRIFT_MAX,
    HEARTBEAT_EXPIRE_WINDOW,
    Worker,
    heartbeat_expires,
)

__all__ = [
    "HEARTBEAT_DRIFT_MAX",
    "HEARTBEAT_EXPIRE_WINDOW",
    "State",
    "Task",
    "TaskIndex",
    "TaskSet",
    "Worker",
    "heartbeat_expires",
]
