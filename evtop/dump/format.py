"""Event → ``--dump`` line: celery's ``Dumper`` format, with every string made terminal-safe.

Scripts parse ``celery events --dump`` output, so the line is celery ≥ 5.6's to the byte
for benign input (wire spec §4): ``<host> [<UTC time>] <human type>: <task> <k=v, ...>``.
The one deliberate difference: every string from the event passes :func:`sanitize`, so
an escape sequence shows as ``␛[2J`` instead of clearing the screen, and a multi-line
traceback stays on its line with visible ``␊``. Unlike celery's ``Dumper`` the task
string cache is per formatter (not a module global) and the event is never mutated, so
other consumers of the same dict see it intact. Pure functions, no I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from operator import itemgetter
from typing import Any, Final, NamedTuple

from evtop.text.sanitize import sanitize

#: celery's cache size: a task's ``name(uuid) args=... kwargs=...`` is kept for this many uuids.
TASK_CACHE_SIZE: Final = 0xFFF
HUMAN_TYPES: Final = {
    "worker-offline": "shutdown",
    "worker-online": "started",
    "worker-heartbeat": "heartbeat",
}
#: Bounds of the per-second time prefix, per-type and per-layout caches.
_SECONDS_CACHED: Final = 4096
_KINDS_CACHED: Final = 1024
_LAYOUTS_CACHED: Final = 1024
_HOSTS_CACHED: Final = 4096
#: Events that carry the task's name and arguments (and so refresh the cache).
_DESCRIBING: Final = frozenset({"task-received", "task-sent"})
#: Keys shown before the ``key=value`` remainder rather than in it.
_HEAD: Final = frozenset({"timestamp", "type", "hostname"})
_TASK_HEAD: Final = _HEAD | {"uuid"}
_DESCRIBING_HEAD: Final = _TASK_HEAD | {"name", "args", "kwargs"}
#: blessed style of the human type, by event type; anything else is left plain.
STYLES: Final = {
    "task-sent": "blue",
    "task-received": "blue",
    "task-started": "cyan",
    "task-succeeded": "green",
    "task-failed": "bold_red",
    "task-rejected": "red",
    "task-retried": "yellow",
    "task-revoked": "magenta",
    "task-cancelled": "magenta",
    "worker-online": "bold_green",
    "worker-offline": "bold_yellow",
}


def humanize_type(type_: str) -> str:
    return HUMAN_TYPES.get(type_, type_.replace("-", " "))


_seconds: dict[int, str] = {}


def utc_time(timestamp: float) -> str:
    """celery 5.6+'s ``str(datetime.fromtimestamp(ts, timezone.utc))``, about 4x faster.

    Renders ``2026-11-23 07:22:22.329845+00:00``, no ``.ffffff`` at 0 µs. Microseconds are
    rounded half-even from the fraction exactly as ``datetime`` does; the date and time of
    day are formatted once per second. For positive timestamps (the Ingest boundary).
    """
    seconds = int(timestamp)
    micros = round((timestamp - seconds) * 1e6)  # the exact fraction, as math.modf gives it
    if micros >= 1_000_000:
        seconds += 1
        micros -= 1_000_000
    text = _seconds.get(seconds)
    if text is None:
        if len(_seconds) >= _SECONDS_CACHED:
            _seconds.clear()
        text = _seconds[seconds] = str(datetime.fromtimestamp(seconds, timezone.utc))[:19]
    # printf formatting: measurably faster here than an f-string with a format spec
    return "%s.%06d+00:00" % (text, micros) if micros else text + "+00:00"  # noqa: UP031


class _Kind(NamedTuple):
    """What the line of an event type needs, worked out once per type."""

    human: str  # sanitized
    task: bool
    describing: bool
    head: frozenset[str]  # keys shown before the remainder, or not at all


def _kind(type_: str) -> _Kind:
    lowered = type_.lower()
    task = lowered.startswith("task-")
    describing = lowered in _DESCRIBING
    head = _DESCRIBING_HEAD if describing else _TASK_HEAD if task else _HEAD
    return _Kind(sanitize(humanize_type(lowered)), task, describing, head)


class _LastText:
    """``str`` of the last value given, remembered by identity.

    Every event of one message carries the same ``local_received`` float object, and
    ``str(float)`` is the costliest part of a line.
    """

    __slots__ = ("text", "value")

    def __init__(self) -> None:
        self.value: object = _LastText
        self.text = ""

    def __call__(self, value: object) -> str:
        if value is not self.value:
            self.value, self.text = value, str(value)
        return self.text


def _remainder(keys: tuple[str, ...], received: _LastText) -> Callable[[Mapping[str, Any]], str]:
    """``key=value, ...`` for these keys, as one ``%`` template: ``%s`` is ``str(v)``, which
    is what celery's f-string gives for every JSON type."""
    if not keys:
        return lambda event: ""
    template = ", ".join(f"{key.replace('%', '%%')}=%s" for key in keys)
    values = itemgetter(*keys)
    if "local_received" in keys:
        position = keys.index("local_received")

        def render(event: Mapping[str, Any]) -> str:
            listed = list(values(event)) if len(keys) > 1 else [values(event)]
            listed[position] = received(listed[position])
            return template % tuple(listed)

        return render
    if len(keys) == 1:
        return lambda event: template % (values(event),)
    return lambda event: template % values(event)


class TextFormatter:
    """Formats events as ``celery events --dump`` lines; remembers task names by uuid.

    What depends only on the event type, or on its set of keys (the ``key=`` prefixes of
    the sorted remainder), is worked out once and cached: the same few recur in every
    stream. The caches are bounded like the task cache.
    """

    def __init__(self, task_cache_size: int = TASK_CACHE_SIZE) -> None:
        #: ``name(uuid) args=... kwargs=...`` by uuid, sanitized.
        #: Least recently used first; one thread formats, so no lock.
        self._tasks: OrderedDict[str, str] = OrderedDict()
        self._task_cache_size = task_cache_size
        self._kinds: dict[str, _Kind] = {}
        self._hosts: dict[Any, str] = {}
        self._received = _LastText()
        self._layouts: dict[tuple[frozenset[str], tuple[str, ...]], Callable[[Mapping[str, Any]], str]] = {}

    def parts(self, event: Mapping[str, Any]) -> tuple[str, str, str]:
        """``(head, human type, tail)``, each sanitized, whose concatenation is the line.

        Split so that a terminal writer can colour the type alone, wrapping only safe
        text. Each piece (the task's description, the ``key=value`` remainder) is built
        exactly as celery builds it, then sanitized as a whole: the same as sanitizing
        every string in it, since :func:`sanitize` works character by character and the
        separators end any run of combining marks, but one call per piece instead of one
        per field; the task's description is sanitized once and cached.
        """
        type_ = event["type"]  # a str: the Ingest boundary guarantees it
        kind = self._kinds.get(type_)
        if kind is None:
            if len(self._kinds) >= _KINDS_CACHED:
                self._kinds.clear()
            kind = self._kinds[type_] = _kind(type_)
        human, is_task, describing, head_keys = kind  # unpacked: attribute access costs more
        hostname = event.get("hostname")
        host = self._hosts.get(hostname)
        if host is None:  # few hosts, many lines: sanitize each once (the time text is safe)
            if len(self._hosts) >= _HOSTS_CACHED:
                self._hosts.clear()
            host = self._hosts[hostname] = sanitize(f"{hostname} [")
        head = f"{host}{utc_time(event['timestamp'])}] "
        # The ``key=value, ...`` remainder: keys not in the head, sorted, one template per layout.
        layout = (head_keys, tuple(event))
        remainder = self._layouts.get(layout)
        if remainder is None:
            if len(self._layouts) >= _LAYOUTS_CACHED:
                self._layouts.clear()
            keys = tuple(key for key in sorted(event) if key not in head_keys)
            remainder = self._layouts[layout] = _remainder(keys, self._received)
        fields = remainder(event)
        if not is_task:
            return head, human, sanitize(f": {fields}") if fields else " "
        uuid = str(event.get("uuid"))
        tasks = self._tasks
        if describing:
            task = sanitize(
                f"{event.get('name')}({uuid}) args={event.get('args')} kwargs={event.get('kwargs')}"
            )
            if uuid not in tasks and len(tasks) >= self._task_cache_size:
                tasks.popitem(last=False)
            tasks[uuid] = task
            tasks.move_to_end(uuid)
        else:
            task = tasks.get(uuid, "")
            if task:
                tasks.move_to_end(uuid)  # a hit refreshes, as in celery
        if fields:
            return head, human, f": {task} {sanitize(fields)}"
        return head, human, f" {task} "

    def line(self, event: Mapping[str, Any]) -> str:
        return "".join(self.parts(event))
