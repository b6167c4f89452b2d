"""A task as events describe it: celery's fields, precedence and merge rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import count
from typing import Any, ClassVar, Protocol
from weakref import WeakSet

from evtop.events import states
from evtop.events.lru import LRUCache
from evtop.events.state.fields import FieldSetter, reserved_names
from evtop.events.state.worker import Worker

__all__ = ["TASK_FIELDS", "Cluster", "Task"]

_RETRY = states.RETRY
_EVENT_TO_STATE = states.TASK_EVENT_TO_STATE
_rank = states.RANKS.get  # inlined states.precedence(): this runs for every task event
_CUSTOM = states.CUSTOM_RANK
#: Numbers each Task object: the time order names a task by uuid and serial (see order.py).
_SERIALS = count()


class Cluster(Protocol):
    """What a task reads of the State holding it: the other tasks, to find its relatives."""

    @property
    def tasks(self) -> LRUCache[str, Task]: ...


class Task:
    """One task, identified by uuid; fields as celery names them."""

    #: How to merge an event that logically happened before the current state: only
    #: these fields are taken from a late task-received (celery's rule).
    merge_rules: ClassVar[dict[str, tuple[str, ...]]] = {
        states.RECEIVED: ("name", "args", "kwargs", "parent_id", "root_id", "retries", "eta", "expires"),
    }
    _fields: ClassVar[tuple[str, ...]] = tuple(
        (
            "uuid name state received sent started rejected succeeded failed retried revoked args "
            "kwargs eta expires retries worker result exception timestamp runtime traceback "
            "exchange routing_key clock client root root_id parent parent_id children"
        ).split()
    )
    _info_fields: ClassVar[tuple[str, ...]] = tuple(
        (
            "args kwargs retries result eta runtime expires exception exchange routing_key root_id parent_id"
        ).split()
    )
    # Fields celery gives a class-level default are always set; fields every event carries
    # but celery has no default for (hostname, pid, ...) stay unset until an event brings
    # them, so reading them early raises AttributeError exactly as in celery.
    __slots__ = tuple(
        (
            "__dict__ __weakref__ _children _index_keys _parent _root _root_key _serial args client clock "
            "cluster_state eta exception exchange expired expires failed hostname kwargs "
            "local_received name parent_id pid queue received rejected requeue result retried "
            "retries revoked root_id routing_key runtime sent signum started state succeeded "
            "terminated timestamp traceback type utcoffset uuid worker"
        ).split()
    )

    # Types of the always-set fields (values are assigned in __init__; slots hold them).
    uuid: str | None
    cluster_state: Cluster | None
    name: str | None
    state: str
    clock: int
    worker: Worker | None
    client: str | None
    parent_id: str | None
    root_id: str | None
    timestamp: float | None
    received: float | None
    sent: float | None
    started: float | None
    succeeded: float | None
    failed: float | None
    retried: float | None
    revoked: float | None
    rejected: float | None
    runtime: float | None
    retries: int | None
    args: Any
    kwargs: Any
    result: Any
    exception: Any
    traceback: Any
    eta: Any
    expires: Any
    exchange: Any
    routing_key: Any
    _parent: Task | None
    _root: Task | None

    def __init__(
        self,
        uuid: str | None = None,
        cluster_state: Cluster | None = None,
        children: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        # celery's class-level defaults, each set on its slot (a slot costs its memory
        # set or not). Not served by a __getattr__: a class defining one has every
        # attribute read take the slow generic path, never the interpreter's specialised
        # one, and the State reads a dozen attributes of a task per event.
        self.uuid = uuid
        self._serial = next(_SERIALS)
        self.cluster_state = cluster_state
        self.name = self.parent_id = self.root_id = self.worker = self.client = None
        self.received = self.sent = self.started = self.rejected = self.succeeded = None
        self.failed = self.retried = self.revoked = self.timestamp = self.runtime = None
        self.args = self.kwargs = self.result = self.exception = self.traceback = None
        self.eta = self.expires = self.retries = self.exchange = self.routing_key = None
        self.state = states.PENDING
        self.clock = 0
        self._children: WeakSet[Task] | None = None
        self._index_keys: tuple[str, str] | None = None  # (task name, hostname) it is indexed under
        self._root_key: str | None = None  # the root_id State last filed it under (tasks_by_root)
        if children:
            known = cluster_state.tasks.data if cluster_state is not None else {}
            self._children = WeakSet(known[i] for i in children if i in known)
        if kwargs:
            TASK_FIELDS.apply(self, kwargs)

    def event(
        self,
        type_: str,
        timestamp: float | None = None,
        local_received: float | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        """Apply a ``task-<type_>`` event with celery's precedence and merge rules."""
        fields = fields or {}
        state = _EVENT_TO_STATE.get(type_)
        if state is not None:
            setattr(self, type_, timestamp)  # e.g. task.succeeded = timestamp
        else:
            state = type_.upper()  # custom state, e.g. task-progress → PROGRESS
        current = self.state
        if state != _RETRY and current != _RETRY and _rank(state, _CUSTOM) > _rank(current, _CUSTOM):
            # This event logically happened before the current state: keep the state.
            keep = self.merge_rules.get(state)
            if keep is not None:
                TASK_FIELDS.apply_only(self, fields, keep)
            else:
                TASK_FIELDS.apply(self, fields)
        else:
            TASK_FIELDS.apply(self, fields)
            self.state = state
            self.timestamp = timestamp

    @property
    def children(self) -> WeakSet[Task]:
        if self._children is None:
            self._children = WeakSet()
        return self._children

    def info(self, fields: Iterable[str] | None = None, extra: Iterable[str] | None = None) -> dict[str, Any]:
        """Non-None fields worth showing on screen (celery's ``_info_fields`` by default)."""
        names = list(self._info_fields if fields is None else fields) + list(extra or ())
        result: dict[str, Any] = {}
        for key in names:
            value = getattr(self, key, None)
            if value is not None:
                result[key] = value
        return result

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in self._fields:
            if key == "children":
                out[key] = [task.uuid for task in (self._children or ())]
            elif key == "root":
                out[key] = self.root_id
            elif key == "parent":
                out[key] = self.parent_id
            else:
                out[key] = getattr(self, key)
        return out

    @property
    def id(self) -> str | None:
        return self.uuid

    @property
    def origin(self) -> str | None:
        return self.client if self.worker is None else self.worker.id

    @property
    def ready(self) -> bool:
        return self.state in states.READY_STATES

    # celery caches parent/root after the first lookup (None included); so does evtop.
    @property
    def parent(self) -> Task | None:
        try:
            return self._parent
        except AttributeError:
            self._parent = self._lookup(self.parent_id)
            return self._parent

    @property
    def root(self) -> Task | None:
        try:
            return self._root
        except AttributeError:
            self._root = self._lookup(self.root_id)
            return self._root

    def _lookup(self, task_id: str | None) -> Task | None:
        if not task_id or self.cluster_state is None:
            return None
        return self.cluster_state.tasks.data.get(task_id)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Task):
            return self.uuid == other.uuid
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.uuid)

    def __repr__(self) -> str:
        return f"<Task: {self.name}({self.uuid}) {self.state} clock:{self.clock}>"


#: Event fields that may be copied onto a Task slot. ``state`` and ``worker`` are set by
#: the State itself; an event carrying such keys must not overwrite them. Every event of
#: a task carries its uuid: keeping the first copy lets the time order share that string.
_TASK_SETTABLE = frozenset(Task.__slots__) - {
    "__dict__",
    "__weakref__",
    "_children",
    "_index_keys",
    "_parent",
    "_root",
    "_root_key",
    "_serial",
    "cluster_state",
    "state",
    "uuid",
    "worker",
}
TASK_FIELDS = FieldSetter(_TASK_SETTABLE, reserved_names(Task, _TASK_SETTABLE))
