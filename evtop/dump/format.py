"""Event → ``--dump`` line: celery's ``Dumper`` format, with every string made terminal-safe.

Scripts parse ``celery events --dump`` output, so the line is celery ≥ 5.6's to the byte
for benign input: ``<host> [<UTC time>] <human type>: <task> <k=v, ...>``. Given a zone
(``--tz``), the time is the same rendering in that zone (``08:22:22.329845+01:00``).
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
from evtop.zones import Zone

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
#: ``"000"`` to ``"999"``: the fraction of a second as two table lookups, no number formatting.
_THOUSANDTHS: Final = tuple(f"{n:03d}" for n in range(1000))
_MILLIS: Final = tuple(f".{n:03d}" for n in range(1000))


def _date_time(seconds: int) -> str:
    """``YYYY-MM-DD HH:MM:SS`` of a whole second (cached: many lines share each second)."""
    text = _seconds.get(seconds)
    if text is None:
        if len(_seconds) >= _SECONDS_CACHED:
            _seconds.clear()
        text = _seconds[seconds] = str(datetime.fromtimestamp(seconds, timezone.utc))[:19]
    return text


#: The date and time of a whole second, and its UTC offset (``+00:00``).
Wall = Callable[[int], tuple[str, str]]


def _utc_wall(seconds: int) -> tuple[str, str]:
    return _date_time(seconds), "+00:00"


def _zone_wall(zone: Zone) -> Wall:
    """:data:`Wall` in ``zone``: ``str(datetime)`` there, cut at the offset (cached per
    formatter, bounded: many lines share each second)."""
    walls: dict[int, tuple[str, str]] = {}

    def wall(seconds: int) -> tuple[str, str]:
        found = walls.get(seconds)
        if found is None:
            if len(walls) >= _SECONDS_CACHED:
                walls.clear()
            text = str(zone.at(seconds))
            found = walls[seconds] = (text[:19], text[19:])
        return found

    return wall


def _fraction(micros: int) -> str:
    """``.ffffff`` of a microsecond count below a million, "" for 0."""
    if micros > 0:
        return _MILLIS[micros // 1000] + _THOUSANDTHS[micros % 1000]
    return ".%06d" % micros if micros else ""  # noqa: UP031 - negative: what printf made of it


def _split(timestamp: float) -> tuple[int, int]:
    """Whole seconds and microseconds, rounded half-even from the exact fraction (what
    ``math.modf`` gives) as ``datetime`` rounds them."""
    seconds = int(timestamp)
    micros = round((timestamp - seconds) * 1e6)
    if micros >= 1_000_000:
        seconds += 1
        micros -= 1_000_000
    return seconds, micros


def utc_time(timestamp: float) -> str:
    """celery 5.6+'s ``str(datetime.fromtimestamp(ts, timezone.utc))``, about 4x faster.

    Renders ``2026-11-23 07:22:22.329845+00:00``, no ``.ffffff`` at 0 µs. Microseconds are
    rounded half-even from the fraction exactly as ``datetime`` does; the date and time of
    day are formatted once per second, the fraction comes from a table. For positive
    timestamps (the Ingest boundary); other numbers render as they always did (a negative
    fraction as printf prints it). :meth:`TextFormatter.line` has a faster path for
    timestamps in the second of the line before: keep the two alike.
    """
    seconds, micros = _split(timestamp)
    return f"{_date_time(seconds)}{_fraction(micros)}+00:00"


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


Remainder = Callable[[Mapping[str, Any]], str]


def _template(keys: tuple[str, ...]) -> str:
    """``key=%s, ...``: ``%s`` is ``str(v)``, which is what celery's f-string gives for
    every JSON type."""
    return ", ".join(f"{key.replace('%', '%%')}=%s" for key in keys)


def _remainder(keys: tuple[str, ...], received: _LastText) -> Remainder:
    """``key=value, ...`` for these keys, as one ``%`` template."""
    if "local_received" not in keys:
        template = _template(keys)
        if not keys:
            return lambda event: ""
        values = itemgetter(*keys)
        if len(keys) == 1:
            return lambda event: template % (values(event),)
        return lambda event: template % values(event)
    # ``local_received`` is one float object per message: its text goes into the
    # template, once per message and layout, instead of into every line's values.
    position = keys.index("local_received")
    before = _template(keys[: position + 1])[:-2]  # up to ``local_received=``
    after = _template(("", *keys[position + 1 :]))[3:]  # ``, key=%s...`` (or "")
    others = keys[:position] + keys[position + 1 :]
    get = itemgetter(*others) if len(others) > 1 else lambda event: (event[others[0]],) if others else ()
    seen: object = _LastText
    template = ""

    def render(event: Mapping[str, Any]) -> str:
        nonlocal seen, template
        value = event["local_received"]
        if value is not seen:
            seen, template = value, f"{before}{received(value).replace('%', '%%')}{after}"
        return template % get(event)

    return render


class _Layouts(dict[tuple[str, ...], Remainder]):
    """The remainder of each key layout (the event's keys in their order), built on first
    sight, for events whose head shows ``head``; bounded."""

    __slots__ = ("head", "received")

    def __init__(self, head: frozenset[str], received: _LastText) -> None:
        super().__init__()
        self.head = head
        self.received = received

    def __missing__(self, keys: tuple[str, ...]) -> Remainder:
        if len(self) >= _LAYOUTS_CACHED:
            self.clear()
        shown = tuple(key for key in sorted(keys) if key not in self.head)
        remainder = self[keys] = _remainder(shown, self.received)
        return remainder


class _Kind(NamedTuple):
    """What the line of an event type needs, worked out once per type."""

    human: str  # sanitized, and styled when there are styles
    task: bool
    describing: bool
    layouts: _Layouts  # of events whose head shows these keys


class TextFormatter:
    """Formats events as ``celery events --dump`` lines; remembers task names by uuid.

    ``styles`` (blessed formatters by event type) colour the human type, wrapping only
    sanitized text. What depends only on the event type, or on its set of keys (the
    ``key=`` prefixes of the sorted remainder), is worked out once and cached: the same
    few recur in every stream. The caches are bounded like the task cache.
    """

    def __init__(
        self,
        task_cache_size: int = TASK_CACHE_SIZE,
        styles: Mapping[str, Callable[[str], str]] | None = None,
        zone: Zone | None = None,
    ) -> None:
        """``zone``: show times there (``--tz``); None: in UTC, as celery does."""
        #: ``name(uuid) args=... kwargs=...`` by uuid, sanitized.
        #: Least recently used first; one thread formats, so no lock.
        self._tasks: OrderedDict[str, str] = OrderedDict()
        self._task_cache_size = task_cache_size
        self._styles = styles or {}
        self._kinds: dict[str, _Kind] = {}
        self._hosts: dict[Any, str] = {}
        received = _LastText()
        self._layouts = {head: _Layouts(head, received) for head in (_HEAD, _TASK_HEAD, _DESCRIBING_HEAD)}
        self._wall: Wall = _utc_wall if zone is None else _zone_wall(zone)
        #: The whole second of the last line, ``(start, end, date and time, offset)``:
        #: lines come in time order, many to a second.
        self._second = (0.0, 0.0, "", "")

    def _kind(self, type_: str) -> _Kind:
        if len(self._kinds) >= _KINDS_CACHED:
            self._kinds.clear()
        lowered = type_.lower()
        task = lowered.startswith("task-")
        describing = lowered in _DESCRIBING
        head = _DESCRIBING_HEAD if describing else _TASK_HEAD if task else _HEAD
        human = sanitize(humanize_type(lowered))
        style = self._styles.get(lowered)
        layouts = self._layouts[head]
        kind = self._kinds[type_] = _Kind(style(human) if style else human, task, describing, layouts)
        return kind

    def _host(self, hostname: Any) -> str:
        """``<hostname> [``, sanitized (once per host: few hosts, many lines)."""
        if len(self._hosts) >= _HOSTS_CACHED:
            self._hosts.clear()
        host = self._hosts[hostname] = sanitize(f"{hostname} [")
        return host

    def line(self, event: Mapping[str, Any]) -> str:
        """The line of ``event``, sanitized (the time text is safe by construction).

        Each piece (the task's description, the ``key=value`` remainder) is built exactly
        as celery builds it, then sanitized as a whole: the same as sanitizing every
        string in it, since :func:`sanitize` works character by character and the
        separators end any run of combining marks, but one call per piece instead of one
        per field; the task's description is sanitized once and cached.
        """
        type_ = event["type"]  # a str: the Ingest boundary guarantees it
        kind = self._kinds.get(type_) or self._kind(type_)
        human, is_task, describing, layouts = kind  # unpacked: attribute access costs more
        hostname = event.get("hostname")
        host = self._hosts.get(hostname) or self._host(hostname)
        # utc_time(), with a shortcut: in the second of the line before, the whole seconds
        # are known (and int(timestamp) - start is the same float subtraction).
        timestamp = event["timestamp"]
        start, end, date_time, offset = self._second
        if start <= timestamp < end and type(timestamp) is float:
            micros = round((timestamp - start) * 1e6)
        else:
            micros = 1_000_000
        if micros >= 1_000_000:  # another second, or rounded up into the next one
            seconds, micros = _split(timestamp)
            date_time, offset = self._wall(seconds)
            if seconds >= 0:  # int() truncates towards zero: [n, n + 1) are n's only if n >= 0
                self._second = (float(seconds), seconds + 1.0, date_time, offset)
        if micros > 0:
            millis, rest = _MILLIS[micros // 1000], _THOUSANDTHS[micros % 1000]
        else:
            millis, rest = _fraction(micros), ""
        # The ``key=value, ...`` remainder: keys not in the head, sorted, one template per layout.
        fields = layouts[tuple(event)](event)
        if not is_task:
            tail = sanitize(f": {fields}") if fields else " "
            return f"{host}{date_time}{millis}{rest}{offset}] {human}{tail}"
        uuid = str(event.get("uuid"))
        tasks = self._tasks
        if describing:
            task = sanitize(
                f"{event.get('name')}({uuid}) args={event.get('args')} kwargs={event.get('kwargs')}"
            )
            if uuid in tasks:
                tasks.move_to_end(uuid)
            elif len(tasks) >= self._task_cache_size:
                tasks.popitem(last=False)
            tasks[uuid] = task
        else:
            task = tasks.get(uuid, "")
            if task:
                tasks.move_to_end(uuid)  # a hit refreshes, as in celery
        if fields:
            return f"{host}{date_time}{millis}{rest}{offset}] {human}: {task} {sanitize(fields)}"
        return f"{host}{date_time}{millis}{rest}{offset}] {human} {task} "
