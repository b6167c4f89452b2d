"""``evtop queues [NAME...]``: the depth of each task queue, its consumers and its trend.

Queue length is what operators ask a Celery monitor for first: a growing backlog is the
earliest sign of too few workers or a stuck one. Two readings ``--interval`` apart give
the change per second. Which workers consume a queue comes from their ``active_queues``
(one pidbox broadcast, skipped with ``--read-only``); nothing is declared, purged or
published to any queue.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

from evtop.broker.queues import (
    QueueDepth,
    amqp_depths,
    is_task_queue,
    management_depths,
    redis_depths,
    redis_queue_names,
)
from evtop.control.client import Control
from evtop.control.commands import build_request
from evtop.control.replies import Status
from evtop.env import Environment
from evtop.errors import EvtopError, ExitStatus, describe_error
from evtop.options import Options
from evtop.text.jsonline import dumps
from evtop.text.sanitize import sanitize

#: Seconds to wait for the workers' ``active_queues`` replies.
WORKER_TIMEOUT = 1.0


@dataclass(frozen=True)
class QueueRow:
    name: str
    messages: int
    consumers: int | None
    unacked: int | None
    workers: list[str]
    #: Messages per second over the interval (positive: the backlog grows).
    change: float | None


def worker_queues(options: Options) -> dict[str, list[str]]:
    """Queue name -> the workers consuming it, from ``active_queues`` (empty if read-only)."""
    if options.read_only:
        return {}
    result = Control(options.broker).send(build_request("active_queues", {}), timeout=WORKER_TIMEOUT)
    consumers: dict[str, list[str]] = {}
    for reply in result.replies:
        if reply.status is Status.DATA and isinstance(reply.value, list):
            for queue in reply.value:
                name = queue.get("name") if isinstance(queue, dict) else None
                if isinstance(name, str):
                    consumers.setdefault(name, []).append(reply.node)
    return consumers


def _sample(options: Options, names: list[str]) -> tuple[list[QueueDepth], list[str]]:
    call = options.queues
    assert call is not None
    with options.broker.connection() as connection:
        try:
            connection.ensure_connection(max_retries=1)
        except Exception as exc:
            raise EvtopError(f"cannot reach {options.broker.masked_url}: {describe_error(exc)}") from None
        if connection.transport.driver_type == "redis":
            # An empty list and no list look alike on Redis: a queue exists if kombu bound it.
            known = redis_queue_names(connection)
            wanted = names or [name for name in known if is_task_queue(name)]
            return redis_depths(connection, [n for n in wanted if n in known]), [
                n for n in wanted if n not in known
            ]
        if call.management_url:
            vhost = connection.virtual_host or "/"
            depths = management_depths(call.management_url, vhost)
            asked = set(names)
            found = [d for d in depths if (d.name in asked if asked else is_task_queue(d.name))]
            return found, sorted(asked - {d.name for d in found})
        return amqp_depths(connection, names)


def run_queues(options: Options, env: Environment) -> int:
    call = options.queues
    if call is None:
        raise EvtopError("internal error: queues mode without its options")
    workers = worker_queues(options)
    names = list(call.names) or sorted(workers)
    first, missing = _sample(options, names)
    names = [depth.name for depth in first]
    later: dict[str, QueueDepth] = {}
    if call.interval and names:
        threading.Event().wait(call.interval)
        later = {depth.name: depth for depth in _sample(options, names)[0]}
    rows = []
    for depth in first:
        then = later.get(depth.name)
        change = (then.messages - depth.messages) / call.interval if then is not None else None
        consumers = depth.consumers if depth.consumers is not None else len(workers.get(depth.name, []))
        current = then or depth
        rows.append(
            QueueRow(
                sanitize(depth.name),
                current.messages,
                consumers,
                current.unacked,
                [sanitize(w) for w in workers.get(depth.name, [])],
                change,
            )
        )
    if options.json:
        env.stdout.write(dumps([asdict(row) for row in rows]) + "\n")
    else:
        env.stdout.write("".join(f"{line}\n" for line in render(rows, missing)))
    env.stdout.flush()
    return ExitStatus.ERROR if missing else ExitStatus.OK


def render(rows: list[QueueRow], missing: list[str]) -> list[str]:
    if not rows and not missing:
        return ["no task queues found (name them: evtop queues NAME...)"]
    width = max([len("QUEUE"), *(len(row.name) for row in rows)])
    lines = [
        f"{'QUEUE':<{width}}  {'MESSAGES':>9}  {'UNACKED':>7}  {'CONSUMERS':>9}  {'CHANGE/S':>8}  WORKERS"
    ]
    for row in rows:
        unacked = "-" if row.unacked is None else str(row.unacked)
        consumers = "-" if row.consumers is None else str(row.consumers)
        change = "-" if row.change is None else f"{row.change:+.1f}"
        lines.append(
            f"{row.name:<{width}}  {row.messages:>9}  {unacked:>7}  {consumers:>9}  {change:>8}  "
            f"{', '.join(row.workers) or '-'}"
        )
    lines += [f"{sanitize(name)}: no such queue" for name in missing]
    return lines
