"""In-memory cluster state rebuilt from events, with celery's ``State`` API and semantics.

Existing snapshot cameras and scripts are written against ``celery.events.state``; they
must work unchanged on :class:`State`, so names, return shapes, merge rules for
out-of-order events and index quirks follow celery (see the wire spec §2). Where celery
lets memory grow with values an event publisher controls, or lets a hostile field name
overwrite a method, evtop deliberately differs; each difference is documented where it
is made. This module does no I/O and never imports a UI library.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from itertools import islice, pairwise
from typing import Any, ClassVar, TypeAlias
from weakref import WeakSet, ref

from kombu.clocks import timetuple

from evtop.events import states
from evtop.events.lru import LRUCache

__all__ = ["HEARTBEAT_DRIFT_MAX", "HEARTBEAT_EXPIRE_WINDOW", "State", "Task", "Worker", "heartbeat_expires"]

logger = logging.getLogger(__name__)

#: Percent of a worker's heartbeat frequency after which it counts as offline.
HEARTBEAT_EXPIRE_WINDOW = 200
#: Seconds of sender/receiver clock difference worth one warning per worker.
HEARTBEAT_DRIFT_MAX = 16
#: How many hostnames the drift warning remembers (celery memoizes 1000 too).
_DRIFT_MEMORY = 1000

W_DRIFT = "Substantial drift from %s may mean clocks are out of sync. Current drift is %s seconds."

_RECEIVED = states.RECEIVED
_RETRY = states.RETRY
_EVENT_TO_STATE = states.TASK_EVENT_TO_STATE
_SKEW_CHECK = HEARTBEAT_DRIFT_MAX - 1
_rank = states.RANKS.get  # inlined states.precedence(): this runs for every task event
_CUSTOM = states.CUSTOM_RANK
_SUBJECTS = {
    t: t.partition("-")
    for t in (
        *(f"task-{subject}" for subject in (*states.TASK_EVENT_TO_STATE, "cancelled")),
        "worker-online",
        "worker-heartbeat",
        "worker-offline",
    )
}


def heartbeat_expires(
    timestamp: float, freq: float = 60, expire_window: float = HEARTBEAT_EXPIRE_WINDOW
) -> float:
    """Time at which a worker last seen at ``timestamp`` stops counting as alive."""
    return timestamp + freq * (expire_window / 1e2)


class _FieldSetter:
    """Copies event fields onto a Task/Worker without letting a field name hijack the object.

    celery does ``obj.__dict__.update(event)``, so an event key named ``info`` or
    ``heartbeats`` replaces a method or an internal list. Here known fields go to their
    slot, unknown ones to the instance ``__dict__`` (still readable as attributes, as in
    celery), and names of methods/properties/internal slots are skipped.

    A stream only ever has a handful of key layouts, so each layout is compiled once into
    a straight-line function: the copy is on the hot path of every event. Attribute names
    in the generated code come only from the class's own slot names; event keys appear
    only as string literals (``repr``), so no event can inject code.
    """

    __slots__ = ("_appliers", "_reserved", "_slots")

    _MAX_LAYOUTS = 512

    def __init__(self, slots: Iterable[str], reserved: Iterable[str]) -> None:
        self._slots = frozenset(slots)
        self._reserved = frozenset(reserved) - self._slots
        self._appliers: dict[tuple[str, ...], Callable[[object, Mapping[str, Any]], None]] = {}

    def _compile(self, keys: tuple[str, ...]) -> Callable[[object, Mapping[str, Any]], None]:
        lines = ["def apply(obj, f):"]
        extra = [
            k
            for k in keys
            if k not in self._slots and k not in self._reserved and isinstance(k, str) and k[:1] != "_"
        ]
        lines += [f"    obj.{k} = f[{k!r}]" for k in keys if k in self._slots]
        if extra:
            lines.append("    d = obj.__dict__")
            lines += [f"    d[{k!r}] = f[{k!r}]" for k in extra]
        lines.append("    return None")
        namespace: dict[str, Any] = {}
        exec(compile("\n".join(lines), "<evtop field setter>", "exec"), namespace)
        applier: Callable[[object, Mapping[str, Any]], None] = namespace["apply"]
        return applier

    def apply(self, obj: object, fields: Mapping[str, Any]) -> None:
        keys = tuple(fields)
        applier = self._appliers.get(keys)
        if applier is None:
            applier = self._compile(keys)
            if len(self._appliers) < self._MAX_LAYOUTS:
                self._appliers[keys] = applier
        applier(obj, fields)

    def apply_only(self, obj: object, fields: Mapping[str, Any], keep: Iterable[str]) -> None:
        """Apply the subset of ``fields`` named in ``keep`` (celery's merge rules)."""
        self.apply(obj, {key: fields[key] for key in keep if key in fields})


class Worker:
    """One worker node, identified by hostname.

    ``heartbeats`` keeps celery's exact contents (for cameras that read it), but
    :attr:`alive` is decided from when evtop *received* the worker's last event, never
    from the sender's clock: a worker whose clock runs two hours fast is still alive.
    """

    heartbeat_max = 4
    expire_window = HEARTBEAT_EXPIRE_WINDOW

    _fields: ClassVar[tuple[str, ...]] = tuple(
        ("hostname pid freq heartbeats clock active processed loadavg sw_ident sw_ver sw_sys").split()
    )
    __slots__ = tuple(
        (
            "__dict__ __weakref__ _hostname _last_seen _now _origin _pid active clock freq "
            "heartbeats loadavg local_received processed sw_ident sw_sys sw_ver timestamp type "
            "utcoffset"
        ).split()
    )

    def __init__(
        self,
        hostname: str | None = None,
        pid: int | None = None,
        freq: float = 60,
        heartbeats: list[float] | None = None,
        clock: int = 0,
        active: int | None = None,
        processed: int | None = None,
        loadavg: list[float] | None = None,
        sw_ident: str | None = None,
        sw_ver: str | None = None,
        sw_sys: str | None = None,
    ) -> None:
        self._hostname = hostname
        self._pid = pid
        self._origin = f"{hostname}.{pid}"
        self.freq = freq
        self.heartbeats: list[float] = [] if heartbeats is None else heartbeats
        self.clock = clock or 0
        self.active = active
        self.processed = processed
        self.loadavg = loadavg
        self.sw_ident = sw_ident
        self.sw_ver = sw_ver
        self.sw_sys = sw_sys
        self._last_seen: float | None = self.heartbeats[-1] if self.heartbeats else None
        self._now: Callable[[], float] = time.time

    # hostname and pid feed the task-heap origin, so keep the cached id in step.
    @property
    def hostname(self) -> str | None:
        return self._hostname

    @hostname.setter
    def hostname(self, value: str | None) -> None:
        self._hostname = value
        self._origin = f"{value}.{self._pid}"

    @property
    def pid(self) -> int | None:
        return self._pid

    @pid.setter
    def pid(self, value: int | None) -> None:
        self._pid = value
        self._origin = f"{self._hostname}.{value}"

    def event(
        self,
        type_: str | None,
        timestamp: float | None = None,
        local_received: float | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        """Apply a ``worker-<type_>`` event: copy its fields, then record the heartbeat."""
        if fields:
            _WORKER_FIELDS.apply(self, fields)
        if type_ == "offline":
            self.heartbeats[:] = []
            self._last_seen = None
            return
        if not local_received or not timestamp:
            return
        self._heartbeat(local_received, timestamp)
        last = self._last_seen
        if last is None or local_received > last:
            self._last_seen = local_received

    def _heartbeat(self, value: float, other: float) -> None:
        """Insert ``value`` into the heartbeat list exactly as celery does (max 4, sorted)."""
        # int() is off by less than 1 either way, so a drift over the maximum needs a skew
        # over the maximum minus 1: the common case skips the int() conversions.
        skew = value - other
        if (skew > _SKEW_CHECK or skew < -_SKEW_CHECK) and self._hostname not in _drift_warned:
            drift = abs(int(value) - int(other))
            if drift > HEARTBEAT_DRIFT_MAX:
                _warn_drift(self._hostname, drift)
        heartbeats = self.heartbeats
        count = len(heartbeats)
        if count > self.heartbeat_max - 1:
            heartbeats.pop(0)
        if count and value > heartbeats[-1]:
            heartbeats.append(value)
        else:
            bisect.insort(heartbeats, value)

    def update(self, f: Mapping[str, Any], **kw: Any) -> None:
        _WORKER_FIELDS.apply(self, dict(f, **kw) if kw else f)

    @property
    def status_string(self) -> str:
        return "ONLINE" if self.alive else "OFFLINE"

    @property
    def heartbeat_expires(self) -> float:
        last = self._last_seen if self._last_seen is not None else self.heartbeats[-1]
        return heartbeat_expires(last, self.freq, self.expire_window)

    @property
    def alive(self) -> bool:
        return self._last_seen is not None and self._now() < self.heartbeat_expires

    @property
    def last_seen(self) -> float | None:
        """Local time the worker's last event arrived (``None`` after worker-offline)."""
        return self._last_seen

    @property
    def id(self) -> str:
        return self._origin

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Worker):
            return self._hostname == other._hostname
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._hostname)

    def __repr__(self) -> str:
        return f"<Worker: {self._hostname} ({self.status_string} clock:{self.clock})"


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
            "__dict__ __weakref__ _children _index_keys _parent _root args client clock "
            "cluster_state eta exception exchange expired expires failed hostname kwargs "
            "local_received name parent_id pid queue received rejected requeue result retried "
            "retries revoked root_id routing_key runtime sent signum started state succeeded "
            "terminated timestamp traceback type utcoffset uuid worker"
        ).split()
    )

    # Types of the always-set fields (values are assigned in __init__; slots hold them).
    uuid: str | None
    cluster_state: State | None
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
        cluster_state: State | None = None,
        children: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        # Only what the State reads on every event is set here; the other celery
        # defaults come from __getattr__ until an event sets them (cheaper per task).
        self.uuid = uuid
        self.cluster_state = cluster_state
        self.name = self.parent_id = self.worker = self.client = None
        self.state = states.PENDING
        self._children: WeakSet[Task] | None = None
        self._index_keys: tuple[str, str] | None = None  # (task name, hostname) it is indexed under
        if children:
            known = cluster_state.tasks.data if cluster_state is not None else {}
            self._children = WeakSet(known[i] for i in children if i in known)
        if kwargs:
            _TASK_FIELDS.apply(self, kwargs)

    def __getattr__(self, name: str) -> Any:
        """celery's class-level defaults for fields no event has set yet."""
        try:
            return _TASK_DEFAULTS[name]
        except KeyError:
            raise AttributeError(name) from None

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
                _TASK_FIELDS.apply_only(self, fields, keep)
            else:
                _TASK_FIELDS.apply(self, fields)
        else:
            _TASK_FIELDS.apply(self, fields)
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


#: What celery's Task has as class attributes: every field of ``_fields`` defaults to
#: None except ``state`` and ``clock``.
_TASK_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(set(Task._fields) - {"root", "parent", "children"}, None),
    "state": states.PENDING,
    "clock": 0,
}


def _reserved_names(cls: type, settable: Iterable[str]) -> set[str]:
    names = {name for klass in cls.__mro__ for name in vars(klass)}
    return names - set(settable)


#: Event fields that may be copied onto a Task slot. ``state`` and ``worker`` are set by
#: the State itself; an event carrying such keys must not overwrite them.
_TASK_SETTABLE = frozenset(Task.__slots__) - {
    "__dict__",
    "__weakref__",
    "_children",
    "_index_keys",
    "_parent",
    "_root",
    "cluster_state",
    "state",
    "worker",
}
_TASK_FIELDS = _FieldSetter(_TASK_SETTABLE, _reserved_names(Task, _TASK_SETTABLE))
_WORKER_SETTABLE = (frozenset(Worker.__slots__) | {"hostname", "pid"}) - {
    "__dict__",
    "__weakref__",
    "_hostname",
    "_last_seen",
    "_now",
    "_origin",
    "_pid",
    "heartbeats",
}
_WORKER_FIELDS = _FieldSetter(_WORKER_SETTABLE, _reserved_names(Worker, _WORKER_SETTABLE))

_drift_warned: OrderedDict[str | None, None] = OrderedDict()
_drift_lock = threading.Lock()


def _warn_drift(hostname: str | None, drift: int) -> None:
    """Warn once per hostname (bounded memory), as celery does."""
    with _drift_lock:
        if hostname in _drift_warned:
            return
        _drift_warned[hostname] = None
        if len(_drift_warned) > _DRIFT_MEMORY:
            _drift_warned.popitem(last=False)
    logger.warning(W_DRIFT, hostname, drift)


class TaskSet(AbstractSet["Task"]):
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
    """``tasks_by_type`` / ``tasks_by_worker``: key → live set of tasks, also callable.

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


_new_timetuple = tuple.__new__


def _in_clock_order(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """``a`` may precede ``b`` in a heap ordered by (clock, origin) alone."""
    return bool(a[0] and b[0]) and (a[0], a[2]) <= (b[0], b[2])


def _clocked_position(heap: deque[tuple[Any, ...]], clock: int, origin: str, hint: int) -> int:
    """Where ``bisect.insort`` of a timetuple with ``clock`` and ``origin`` puts it.

    Only for a heap in plain ``(clock, origin)`` order (every entry has a clock): kombu's
    timetuple order is then that total order, so the position does not depend on how it
    is searched. Late events come in runs (a worker's batch, in clock order), so the
    position after the previous one, ``hint``, is tried first; otherwise the search
    gallops back from the newest end, where late events land. Comparisons are inlined
    (no ``timetuple.__lt__`` calls) and the middle of the deque, O(n) to index, is avoided.
    """
    size = len(heap)
    if 0 < hint <= size:
        probe = heap[hint - 1]
        if probe[0] < clock or (probe[0] == clock and probe[2] <= origin):
            if hint == size:
                return hint
            probe = heap[hint]
            if clock < probe[0] or (clock == probe[0] and origin < probe[2]):
                return hint
    low, high, step = 0, size, 1
    while step <= size:
        probe = heap[size - step]
        if probe[0] < clock or (probe[0] == clock and probe[2] <= origin):
            low = size - step + 1
            break
        high = size - step
        step *= 2
    while low < high:  # bisect_right in [low, high): the entries there straddle the key
        middle = (low + high) // 2
        probe = heap[middle]
        if clock < probe[0] or (clock == probe[0] and origin < probe[2]):
            high = middle
        else:
            low = middle + 1
    return low


# State has class attributes named Task and Worker (celery's extension hook), which hide
# the classes inside its body; annotations there use these aliases.
_Task: TypeAlias = Task
_Worker: TypeAlias = Worker


class State:
    """Records cluster state; celery's ``State`` API (see the wire spec §2.4)."""

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
    ) -> None:
        # ``taskheap`` is accepted for signature compatibility only: celery rebuilds it too.
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
        self.workers: LRUCache[str, _Worker] = LRUCache(max_workers_in_memory, lock=self._mutex)
        self.tasks: LRUCache[str, _Task] = LRUCache(
            max_tasks_in_memory, lock=self._mutex, on_evict=self._forget_task
        )
        self.handlers: dict[str, Callable[[str, dict[str, Any]], Any]] = {}
        self._seen_types: dict[str, None] = {}
        self._tasks_to_resolve: LRUCache[str, WeakSet[_Task]] = LRUCache(
            max_tasks_in_memory, lock=self._mutex
        )
        heap_limit = max_tasks_in_memory * self.heap_multiplier
        self._heap_limit = heap_limit or None
        #: (clock, timestamp, origin, ref(task)) entries in kombu timetuple order; a full
        #: deque drops its oldest entry on append, as celery trims its heap.
        self._taskheap: deque[tuple[Any, ...]] = deque(maxlen=self._heap_limit)
        #: Adjacent heap entries not in plain (clock, origin) order (or without a clock):
        #: while there are none, late events are placed by :func:`_clocked_position`.
        self._bad_pairs = 0
        #: Just after the last late insert: the next late event is likely to go there.
        self._late_hint = 0
        self.tasks_by_type = TaskIndex(self._tasks_by_type)
        self.tasks_by_worker = TaskIndex(self._tasks_by_worker)
        for hostname, worker in (workers or {}).items():
            worker._now = clock
            self.workers[hostname] = worker
        for uuid, task in (tasks or {}).items():
            task.cluster_state = self
            self.tasks[uuid] = task
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
        self._bad_pairs = 0

    def _clear(self, ready: bool = True) -> None:
        self.workers.clear()
        self._clear_tasks(ready)
        self.event_count = 0
        self.task_count = 0

    def clear(self, ready: bool = True) -> None:
        with self._mutex:
            self._clear(ready)

    def _forget_task(self, uuid: str, task: _Task) -> None:
        keys = task._index_keys
        if keys is not None:
            task._index_keys = None
            self.tasks_by_type._discard(keys[0], task)
            self.tasks_by_worker._discard(keys[1], task)

    # -- creation ----------------------------------------------------------------------

    def _new_worker(self, hostname: str) -> _Worker:
        worker = self.Worker(hostname)
        worker._now = self._clock
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
            task.worker = worker
            if local_received and timestamp:
                # celery records the *sender's* time as a heartbeat here; the common case
                # (newer than the last, no drift) is inlined, the rest is Worker._heartbeat.
                heartbeats = worker.heartbeats
                count = len(heartbeats)
                if count and timestamp > heartbeats[-1]:
                    skew = timestamp - local_received  # see Worker._heartbeat
                    if (skew > _SKEW_CHECK or skew < -_SKEW_CHECK) and (
                        worker._hostname not in _drift_warned
                    ):
                        drift = abs(int(timestamp) - int(local_received))
                        if drift > HEARTBEAT_DRIFT_MAX:
                            _warn_drift(worker._hostname, drift)
                    if count >= worker.heartbeat_max:
                        del heartbeats[0]
                    heartbeats.append(timestamp)
                else:
                    worker._heartbeat(timestamp, local_received)
                last_seen = worker._last_seen
                if last_seen is None or local_received > last_seen:
                    worker._last_seen = local_received
            origin = worker._origin
        heap = self._taskheap
        last = heap[-1] if heap else None
        # Inline of ``entry > heap[-1]`` with kombu's timetuple ordering: most events are
        # newer than the last one, and for those a plain tuple appended is enough.
        if last is not None and (
            (last[2] < origin if clock == last[0] else last[0] < clock)
            if clock and last[0]
            else last[1] < timestamp
        ):
            if self._bad_pairs and len(heap) == heap.maxlen:
                self._leaving(heap)  # the append below pushes the oldest entry out
            heap.append((clock, timestamp, origin, ref(task)))
            if not (clock and last[0]):
                self._bad_pairs += 1
        else:  # out of order: where kombu's timetuple ordering puts it, as celery does
            self._insert_late(heap, (clock, timestamp, origin, ref(task)))
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

    def _leaving(self, heap: deque[tuple[Any, ...]]) -> None:
        """The oldest heap entry is about to be dropped: forget its pair with the next."""
        if len(heap) > 1 and not _in_clock_order(heap[0], heap[1]):
            self._bad_pairs -= 1

    def _insert_late(self, heap: deque[tuple[Any, ...]], entry: tuple[Any, ...]) -> None:
        """Insert an entry not newer than the newest where celery's ``insort`` puts it."""
        if len(heap) == heap.maxlen:  # celery drops the oldest first; a full deque must too
            if self._bad_pairs:
                self._leaving(heap)
            heap.popleft()
        if entry[0] and not self._bad_pairs and (not heap or heap[0][0]):
            index = _clocked_position(heap, entry[0], entry[2], self._late_hint)
            heap.insert(index, entry)  # the heap stays in (clock, origin) order
            self._late_hint = index + 1
            return
        entry = _new_timetuple(timetuple, entry)
        index = bisect.bisect_right(heap, entry)
        before = heap[index - 1] if index else None
        after = heap[index] if index < len(heap) else None
        if before is not None and after is not None and not _in_clock_order(before, after):
            self._bad_pairs -= 1
        if before is not None and not _in_clock_order(before, entry):
            self._bad_pairs += 1
        if after is not None and not _in_clock_order(entry, after):
            self._bad_pairs += 1
        heap.insert(index, entry)

    def rebuild_taskheap(self) -> None:
        with self._mutex:
            entries = sorted(
                _new_timetuple(timetuple, (t.clock, t.timestamp, t.origin, ref(t)))
                for t in self.tasks.data.values()
            )
            heap: deque[tuple[Any, ...]] = deque(entries, maxlen=self._heap_limit)
            self._taskheap = heap
            self._bad_pairs = sum(not _in_clock_order(a, b) for a, b in pairwise(heap))

    def itertasks(self, limit: int | None = None) -> Iterator[tuple[str, _Task]]:
        """``(uuid, task)`` in least-recently-used order."""
        for index, row in enumerate(self.tasks.items()):
            yield row
            if limit and index + 1 >= limit:
                break

    def tasks_by_time(self, limit: int | None = None, reverse: bool = True) -> Iterator[tuple[str, _Task]]:
        """``(uuid, task)`` newest first; ``limit`` counts events, as in celery."""
        with self._mutex:
            entries = list(self._taskheap)
        if reverse:
            entries.reverse()
        seen: set[str] = set()
        for entry in islice(entries, 0, limit):
            task = entry[3]()
            if task is not None:
                uuid = task.uuid
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

    def task_types(self) -> list[str]:
        """Sorted task names seen (bounded by ``max_task_types``, oldest forgotten first)."""
        with self._mutex:
            return sorted(self._seen_types)

    def alive_workers(self) -> Iterator[_Worker]:
        return (worker for worker in self.workers.values() if worker.alive)

    def __repr__(self) -> str:
        return f"<State: events={self.event_count} tasks={self.task_count}>"
