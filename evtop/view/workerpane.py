"""A worker's detail pane: what its events say, then what it answers through the pidbox.

Events tell little about a worker (heartbeats, counts, load); its pool, prefetch, broker,
resource use, the tasks it holds, the task types it knows and the queues it consumes
come only from asking it (celery's ``inspect``). The TUI asks each question in the
background and hands each :class:`Answer` to a :class:`WorkerDetail`, which renders
what has come so far ("4 of 6 replied"). Every value a worker sends is sanitized here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from evtop.events.state import State
from evtop.text.sanitize import sanitize
from evtop.view.cells import NONE, datetime_text, duration_text
from evtop.view.details import Pane, worker_info
from evtop.view.trust import Trust
from evtop.zones import UTC, Zone

#: The questions, in the order the pane shows their answers, with their headings.
INQUIRIES: tuple[tuple[str, str], ...] = (
    ("stats", "Stats"),
    ("active", "Active tasks"),
    ("reserved", "Reserved tasks (received, waiting for a pool process)"),
    ("scheduled", "Scheduled tasks (waiting for their ETA or countdown)"),
    ("registered", "Registered task types"),
    ("active_queues", "Active queues"),
)
INDENT = "  "


@dataclass(frozen=True)
class Answer:
    """A worker's reply to one question, or why there is none."""

    #: The reply's payload (None with ``error``, or when the worker did not answer).
    value: Any = None
    #: The request failed (broker unreachable) or the worker answered with an error.
    error: str | None = None
    #: Seconds until the reply came; None when none came before the deadline.
    after: float | None = None

    @property
    def replied(self) -> bool:
        return self.after is not None


@dataclass
class WorkerDetail:
    """The answers gathered so far for one worker (kept on the UI thread)."""

    hostname: str
    #: Seconds each question waits for its reply.
    timeout: float
    answers: dict[str, Answer] = field(default_factory=dict)
    #: Why nothing can be asked at all (--read-only, a replay) or "".
    cannot_ask: str = ""

    def ask_again(self) -> None:
        self.answers.clear()

    def progress(self) -> str:
        total = len(INQUIRIES)
        if self.cannot_ask:
            return f"not asked: {self.cannot_ask}"
        replied = sum(1 for answer in self.answers.values() if answer.replied)
        if len(self.answers) < total:
            return f"asking through the pidbox: {replied} of {total} replied so far..."
        return f"{replied} of {total} replied within {self.timeout:g} s (R asks again)"

    def pane(
        self, state: State, now: float, trust: Trust | None = None, zone: Zone = UTC, lost: int = 0
    ) -> Pane:
        known = worker_info(state, self.hostname, now, trust, zone, lost)
        rows: list[tuple[str, str]] = [*known.rows, ("", ""), ("asked", self.progress())]
        if not self.cannot_ask:
            for method, heading in INQUIRIES:
                rows += [("", ""), ("", heading)]
                answer = self.answers.get(method)
                rows += _section(method, answer, self.timeout, zone)
        return Pane(known.title, tuple(rows))


def _section(method: str, answer: Answer | None, timeout: float, zone: Zone) -> list[tuple[str, str]]:
    if answer is None:
        return [("", f"{INDENT}waiting for the reply...")]
    if answer.error is not None:
        return [("", f"{INDENT}{sanitize(answer.error)}")]
    if not answer.replied:
        return [("", f"{INDENT}no reply within {timeout:g} s (busy, or gone)")]
    render = partial(_tasks, zone=zone) if method in TASK_LISTS else RENDER.get(method, _json)
    return [("", f"{INDENT}{line}") for line in render(answer.value)]


def _text(value: Any) -> str:
    if value is None or value == "":
        return NONE
    if isinstance(value, str):
        return sanitize(value)
    return sanitize(json.dumps(value, ensure_ascii=False, default=str, sort_keys=True))


def _pairs(pairs: list[tuple[str, Any]]) -> list[str]:
    width = max((len(label) for label, _ in pairs), default=0)
    return [f"{label:<{width}}  {_text(value)}" for label, value in pairs]


def _map(value: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    found = value.get(key)
    return found if isinstance(found, Mapping) else {}


def _stats(value: Any) -> list[str]:
    if not isinstance(value, Mapping):
        return _json(value)
    pool = _map(value, "pool")
    processes = pool.get("processes")
    pids = ", ".join(_text(p) for p in processes) if isinstance(processes, list) else NONE
    broker = _map(value, "broker")
    where = f"{_text(broker.get('transport'))}://{_text(broker.get('hostname'))}"
    if broker.get("port"):
        where += f":{_text(broker.get('port'))}"
    if broker.get("virtual_host") not in (None, ""):
        where += f"/{_text(broker.get('virtual_host'))}"
    rusage = _map(value, "rusage")
    totals = _map(value, "total")
    pairs: list[tuple[str, Any]] = [
        ("pool", pool.get("implementation")),
        ("concurrency", pool.get("max-concurrency")),
        ("processes", pids),
        ("max tasks per child", pool.get("max-tasks-per-child")),
        ("prefetch count", value.get("prefetch_count")),
        ("broker", where),
        ("uptime", duration_text(value.get("uptime"))),
        ("pid", value.get("pid")),
        ("clock", value.get("clock")),
    ]
    autoscaler = value.get("autoscaler")
    if isinstance(autoscaler, Mapping) and autoscaler:
        pairs.append(("autoscaler", autoscaler))
    if rusage:
        usage = ", ".join(
            f"{name} {_text(rusage[name])}"
            for name in ("utime", "stime", "maxrss", "nvcsw", "nivcsw")
            if name in rusage
        )
        pairs.append(("rusage", usage or NONE))
    lines = _pairs(pairs)
    count = sum(n for n in totals.values() if isinstance(n, int) and not isinstance(n, bool))
    lines.append(f"totals: {count} task{'' if count == 1 else 's'} done since start")
    lines += [
        f"{INDENT}{_text(name)}  {_text(n)}" for name, n in sorted(totals.items(), key=lambda kv: str(kv[0]))
    ]
    return lines


def _task_line(entry: Any, zone: Zone) -> str:
    if not isinstance(entry, Mapping):
        return _text(entry)
    request = _map(entry, "request") or entry
    parts = [_text(request.get("id")), _text(request.get("name"))]
    args = request.get("args")
    if args not in (None, "", [], "()"):
        parts.append(f"args {_text(args)}")
    kwargs = request.get("kwargs")
    if kwargs not in (None, "", {}, "{}"):
        parts.append(f"kwargs {_text(kwargs)}")
    if entry.get("eta"):
        parts.append(f"eta {_text(entry.get('eta'))}")
    if request.get("time_start"):
        parts.append(f"started {datetime_text(request.get('time_start'), zone)}")
    if request.get("worker_pid"):
        parts.append(f"pid {_text(request.get('worker_pid'))}")
    return "  ".join(parts)


def _tasks(value: Any, zone: Zone) -> list[str]:
    if not isinstance(value, list):
        return _json(value)
    return [
        f"{len(value)} task{'' if len(value) == 1 else 's'}",
        *(_task_line(entry, zone) for entry in value),
    ]


def _registered(value: Any) -> list[str]:
    if not isinstance(value, list):
        return _json(value)
    return [f"{len(value)} type{'' if len(value) == 1 else 's'}", *(_text(name) for name in value)]


def _queues(value: Any) -> list[str]:
    if not isinstance(value, list):
        return _json(value)
    lines = []
    for queue in value:
        if not isinstance(queue, Mapping):
            lines.append(_text(queue))
            continue
        exchange = _map(queue, "exchange")
        kind = _text(exchange.get("type"))
        lines.append(
            f"{_text(queue.get('name'))}  exchange {_text(exchange.get('name'))} ({kind})"
            f"  routing key {_text(queue.get('routing_key'))}"
        )
    return lines or ["none"]


def _json(value: Any) -> list[str]:
    if value in (None, [], {}):
        return ["none"]
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return sanitize(text, multiline=True).splitlines()


#: The answers that list tasks (their start times are shown in the pane's zone).
TASK_LISTS = frozenset({"active", "reserved", "scheduled"})
RENDER: dict[str, Callable[[Any], list[str]]] = {
    "stats": _stats,
    "registered": _registered,
    "active_queues": _queues,
}
