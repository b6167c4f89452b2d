"""The detail panes: everything known about one task or worker, as sanitized lines.

These are what an operator reads during an incident, so nothing is abbreviated: long
values wrap in the pane instead of being cut, and a traceback keeps its lines (the
sanitizer's multi-line mode keeps ``\\n`` and neutralises everything else).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from evtop.events.health import unfinished
from evtop.events.state import State, Task, Worker
from evtop.text.sanitize import sanitize
from evtop.view.cells import NONE, datetime_text, duration_text, load_text, percent_text, progress
from evtop.view.trust import LOST, Trust
from evtop.zones import UTC, Zone

#: A worker clock off by less than this (seconds) is not worth a line: delivery takes time too.
SKEW_SHOWN = 1.0

#: Task timestamps in lifecycle order, with their labels.
TASK_TIMES = (
    ("sent", "sent"),
    ("received", "received"),
    ("started", "started"),
    ("succeeded", "succeeded"),
    ("failed", "failed"),
    ("retried", "retried"),
    ("revoked", "revoked"),
    ("rejected", "rejected"),
)
TASK_FIELDS = ("retries", "eta", "expires", "exchange", "routing_key", "parent_id", "root_id", "client")


@dataclass(frozen=True)
class Pane:
    """A titled text pane: ``(label, value)`` rows; an empty label continues a block."""

    title: str
    rows: tuple[tuple[str, str], ...]

    def lines(self) -> list[str]:
        width = max((len(label) for label, _ in self.rows), default=0)
        out: list[str] = []
        for label, value in self.rows:
            first, *rest = value.split("\n") or [""]
            out.append(f"{label:<{width}}  {first}" if label else first)
            out += [(" " * (width + 2) if label else "") + line for line in rest]
        return out


def _value(value: object) -> str:
    return NONE if value is None or value == "" else sanitize(value, multiline=True)


def _field(task: Task, name: str) -> object:
    return getattr(task, name, None)


GONE = "This task is no longer in memory (evicted or cleared)."


def _task_pane(state: State, uuid: str, title: str, rows: Callable[[Task], list[tuple[str, str]]]) -> Pane:
    """``rows`` of the task, read under State's lock; a clear line if it is gone."""

    def build() -> Pane:
        task = state.tasks.data.get(uuid)
        return Pane(f"{title} {sanitize(uuid)}", (("", GONE),) if task is None else tuple(rows(task)))

    return state.freeze_while(build)


def task_info(
    state: State, uuid: str, trust: Trust | None = None, now: float | None = None, zone: Zone = UTC
) -> Pane:
    """Every field of a task: identity, lifecycle times (in ``zone``), routing, args,
    outcome; with ``trust`` and ``now`` (evtop's receive clock), whether it is lost and how
    long it has been running by evtop's clock."""
    return _task_pane(state, uuid, "Task", partial(_info_rows, trust=trust or Trust(), now=now, zone=zone))


def _info_rows(task: Task, trust: Trust, now: float | None, zone: Zone) -> list[tuple[str, str]]:
    worker = task.worker
    hostname = worker.hostname if worker is not None else None
    shown = _value(task.state)
    ongoing = unfinished(task)
    lost = trust.lost(ongoing, hostname)
    if lost:
        shown = f"{LOST} (was {shown} when its worker went offline; no final event came)"
    rows: list[tuple[str, str]] = [
        ("name", _value(task.name)),
        ("state", shown),
        ("worker", _value(hostname)),
    ]
    rows += [
        (label, datetime_text(_field(task, attr), zone)) for attr, label in TASK_TIMES if _field(task, attr)
    ]
    skew = trust.skew.get(hostname) if isinstance(hostname, str) else None
    if skew is not None and abs(skew) >= SKEW_SHOWN:
        rows.append(("worker clock", f"{_skew_text(skew)}: the times above are the worker's"))
    started = task.started
    if not lost and task.runtime is None and ongoing and now is not None and started:
        since = trust.on_receive_clock(started, hostname)
        rows.append(("running for", duration_text(max(now - since, 0.0))))
    else:
        rows.append(("runtime", duration_text(task.runtime)))
    rows += [
        (name, _value(_field(task, name))) for name in TASK_FIELDS if _field(task, name) not in (None, "")
    ]
    rows += [("args", _value(task.args)), ("kwargs", _value(task.kwargs))]
    return rows + _custom(task) + _outcome(task)


def _custom(task: Task) -> list[tuple[str, str]]:
    """Fields only custom events carry (``send_event('task-progress', current=3, total=10)``),
    and the progress they make when they have ``current`` and ``total``."""
    extra = task.__dict__
    rows = [(sanitize(key), _value(value)) for key, value in sorted(extra.items()) if type(key) is str]
    done = progress(extra)
    if done is not None:
        steps = f"{_value(extra['current'])} of {_value(extra['total'])}"
        rows.append(("progress", f"{steps} ({percent_text(done)})"))
    return rows


def _outcome(task: Task) -> list[tuple[str, str]]:
    rows = []
    if task.result is not None:
        rows.append(("result", _value(task.result)))
    if task.exception is not None:
        rows.append(("exception", _value(task.exception)))
    if task.traceback:
        rows += [("traceback", ""), ("", _value(task.traceback))]
    return rows


def task_result(state: State, uuid: str) -> Pane:
    """The result, or the exception when the task failed (celery's ``r`` screen)."""
    return _task_pane(state, uuid, "Result of", _result_rows)


def _result_rows(task: Task) -> list[tuple[str, str]]:
    if task.result is not None:
        return [("", _value(task.result))]
    if task.exception is not None:
        return [("exception", _value(task.exception))]
    return [("", f"No result yet: the task is {sanitize(task.state)}.")]


def task_traceback(state: State, uuid: str) -> Pane | None:
    """The traceback, or ``None`` when the task has none (not failed, or not sent)."""

    def build() -> Pane | None:
        task = state.tasks.data.get(uuid)
        if task is None or not task.traceback:
            return None
        rows = [("", _value(task.traceback))]
        if task.exception is not None:
            rows.insert(0, ("", _value(task.exception)))
        return Pane(f"Traceback of {sanitize(uuid)} ({sanitize(task.state)})", tuple(rows))

    return state.freeze_while(build)


def _skew_text(skew: float) -> str:
    return f"{duration_text(abs(skew))} {'ahead of' if skew > 0 else 'behind'} evtop's"


def worker_info(
    state: State, hostname: str, now: float, trust: Trust | None = None, zone: Zone = UTC, lost: int = 0
) -> Pane:
    """``lost``: the worker's tasks that read LOST (:attr:`TaskRows.lost_on
    <evtop.view.taskrows.TaskRows.lost_on>`: counted as rows change, where a scan of a
    million tasks would hold the events up on every redraw), shown once it is offline."""
    return state.freeze_while(_worker_info, state, hostname, now, trust or Trust(), zone, lost)


def _worker_info(state: State, hostname: str, now: float, trust: Trust, zone: Zone, lost: int) -> Pane:
    worker: Worker | None = state.workers.data.get(hostname)
    title = f"Worker {sanitize(hostname)}"
    if worker is None:
        return Pane(title, (("", "This worker is no longer in memory."),))
    seen = worker.last_seen
    rows: list[tuple[str, str]] = [
        ("status", "online" if worker.alive else "offline"),
        ("last event", NONE if seen is None else f"{duration_text(max(now - seen, 0.0))} ago"),
        ("heartbeat every", duration_text(worker.freq)),
        ("pid", _value(worker.pid)),
        ("active", _value(worker.active)),
        ("processed", _value(worker.processed)),
        ("load average", load_text(worker.loadavg)),
        ("software", _value(" ".join(str(p) for p in (worker.sw_ident, worker.sw_ver) if p))),
        ("system", _value(worker.sw_sys)),
        ("heartbeats", ", ".join(datetime_text(beat, zone) for beat in worker.heartbeats) or NONE),
        ("tasks in memory", str(state.worker_task_counts.get(hostname, 0))),
        ("missed tasks", f"{trust.missed.get(hostname, 0)} (started, by its heartbeats; no event came)"),
    ]
    skew = trust.skew.get(hostname)
    if skew is not None:
        rows.append(("clock", _skew_text(skew) if abs(skew) >= SKEW_SHOWN else "in step with evtop's"))
    if hostname in trust.offline:
        rows.append(("lost tasks", f"{lost} (received or running here, never finished)"))
    return Pane(title, tuple(rows))
