"""``evtop queues [NAME...]``: the depth of each task queue, its consumers and its trend.

Queue length is what operators ask a Celery monitor for first: a growing backlog is the
earliest sign of too few workers or a stuck one. Two readings ``--interval`` apart give
the change per second. Which workers consume a queue comes from their ``active_queues``
(one pidbox broadcast, skipped with ``--read-only``); nothing is declared, purged or
published to any queue.
"""

from __future__ import annotations

import threading
from dataclasses import asdict

from evtop.broker.queues import QueueDepth, QueueRow, queue_rows, sample, sampled_from
from evtop.control.client import Control
from evtop.control.queuewatch import worker_queues
from evtop.env import Environment
from evtop.errors import EvtopError, ExitStatus
from evtop.options import Options
from evtop.text.jsonline import dumps
from evtop.text.sanitize import sanitize


def run_queues(options: Options, env: Environment) -> int:
    call = options.queues
    if call is None:
        raise EvtopError("internal error: queues mode without its options")
    # One pidbox broadcast asks the workers; --read-only sends none (consumers on Redis unknown).
    workers = None if options.read_only else worker_queues(Control(options.broker))
    names = list(call.names) or sorted(workers or ())
    # Where the numbers come from, as the TUI's queue screen says it (stdout keeps the table).
    env.stderr.write(f"evtop queues: depths from {sampled_from(options.broker)}\n")
    env.stderr.flush()
    first, missing = sample(options.broker, names)
    names = [depth.name for depth in first]
    later: dict[str, QueueDepth] = {}
    if call.interval and names:
        threading.Event().wait(call.interval)
        later = {depth.name: depth for depth in sample(options.broker, names)[0]}
    before = {depth.name: depth for depth in first}
    now = [later.get(depth.name, depth) for depth in first]
    rows = [
        QueueRow(
            sanitize(row.name),
            row.messages,
            row.consumers,
            row.unacked,
            [sanitize(w) for w in row.workers],
            row.change if row.name in later else None,
        )
        for row in queue_rows(now, before, call.interval, workers)
    ]
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
