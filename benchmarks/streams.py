"""A simple Celery event stream with one global clock, and the wire encodings of streams.

Task lifecycles (sent, received, started, then succeeded / failed / retried) on 8
workers, periodic heartbeats, celery 5.x field sets and repr-string args/results. All
events share one Lamport clock, which no real cluster has (each worker keeps its own):
it arrives almost in clock order, so it suits ``--dump``; the State and consumer
benchmarks use the production-like streams of cluster.py.

It imports nothing from evtop, so its events are built here rather than by
:mod:`evtop.broker.dispatch`: ``bench_tui.py --old REV`` runs it on that older
revision's evtop.
"""

from __future__ import annotations

import base64
import json
import random
import time
import uuid
from typing import Any

HOSTS = [f"celery@worker-{i}" for i in range(8)]
NAMES = [f"proj.tasks.task_{i}" for i in range(12)]
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/venv/lib/python3.12/site-packages/celery/app/trace.py", line 453, in trace_task\n'
    "    R = retval = fun(*args, **kwargs)\n"
    '  File "/srv/app/proj/tasks.py", line 88, in task\n'
    "    raise ValueError(value)\n"
    "ValueError: bad input\n"
)


def make_stream(
    tasks: int, seed: int = 1, start: float | None = None, sent: bool = False
) -> list[dict[str, Any]]:
    """~3.2 events per task: received/started/finished, some retries, heartbeats; plus a
    client ``task-sent`` per task when ``sent`` (celery's ``task_send_sent_event``, off by
    default in celery and here).

    Timestamps start at ``start`` (default: now) 0.1 ms apart, so that a consumer run
    right away sees realistic sender/receiver clock differences (under celery's 16 s
    drift warning threshold).
    """
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    clock = 0
    now = time.time() if start is None else start

    def base(type_: str, host: str) -> dict[str, Any]:
        nonlocal clock, now
        clock += 1
        now += 0.0001
        return {
            "hostname": host,
            "utcoffset": 0,
            "pid": 1000 + HOSTS.index(host) if host in HOSTS else 4242,
            "clock": clock,
            "timestamp": now,
            "type": type_,
        }

    def received(host: str, task_id: str, name: str, args: str, retries: int) -> dict[str, Any]:
        return dict(
            base("task-received", host),
            uuid=task_id,
            name=name,
            args=args,
            kwargs="{}",
            root_id=task_id,
            parent_id=None,
            retries=retries,
            eta=None,
            expires=None,
        )

    for index in range(tasks):
        task_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        host = rng.choice(HOSTS)
        name = rng.choice(NAMES)
        args = f"({rng.randrange(1000)}, {rng.randrange(1000)})"
        if sent:
            events.append(
                dict(
                    base("task-sent", "gen4242@web-1"),
                    uuid=task_id,
                    root_id=task_id,
                    parent_id=None,
                    name=name,
                    args=args,
                    kwargs="{}",
                    retries=0,
                    eta=None,
                    expires=None,
                    queue="celery",
                    exchange="",
                    routing_key="celery",
                )
            )
        events.append(received(host, task_id, name, args, retries=0))
        events.append(dict(base("task-started", host), uuid=task_id))
        roll = rng.random()
        if roll < 0.05:
            events.append(
                dict(base("task-retried", host), uuid=task_id, exception="Retry in 1s", traceback=TRACEBACK)
            )
            events.append(received(host, task_id, name, args, retries=1))
            events.append(dict(base("task-started", host), uuid=task_id))
        if roll < 0.1:
            events.append(
                dict(
                    base("task-failed", host),
                    uuid=task_id,
                    exception="ValueError('bad input')",
                    traceback=TRACEBACK,
                )
            )
        else:
            events.append(
                dict(
                    base("task-succeeded", host),
                    uuid=task_id,
                    result=f"{rng.randrange(10**6)}",
                    runtime=round(rng.uniform(0.001, 2.0), 6),
                )
            )
        if index % 50 == 0:
            for worker in HOSTS:
                events.append(
                    dict(
                        base("worker-heartbeat", worker),
                        freq=2.0,
                        active=rng.randrange(4),
                        processed=index,
                        loadavg=[0.5, 0.4, 0.3],
                        sw_ident="py-celery",
                        sw_ver="5.6.3",
                        sw_sys="Linux",
                    )
                )
    return events


def messages(
    events: list[dict[str, Any]], batch: int | tuple[int, int] = 3, seed: int = 1
) -> list[tuple[str, Any]]:
    """(routing key, body) as celery's dispatchers publish: each worker's task events
    batched into ``task.multi`` lists of ``batch`` events (a random size in the range when
    a pair is given), client and worker-* events one per message."""
    rng = random.Random(seed)

    def size() -> int:
        return batch if isinstance(batch, int) else rng.randint(*batch)

    out: list[tuple[str, Any]] = []
    pending: dict[str, list[dict[str, Any]]] = {}
    limits: dict[str, int] = {}
    for event in events:
        if event["type"].startswith("task-") and event["type"] != "task-sent":
            host = event["hostname"]
            buffer = pending.setdefault(host, [])
            buffer.append(event)
            if len(buffer) >= limits.setdefault(host, size()):
                out.append(("task.multi", buffer))
                pending[host], limits[host] = [], size()
        else:
            out.append((event["type"].replace("-", "."), event))
    out.extend(("task.multi", buffer) for buffer in pending.values() if buffer)
    return out


def redis_envelope(routing_key: str, body: Any) -> bytes:
    """The exact kombu Redis envelope celery's dispatcher publishes: a JSON envelope with
    the body base64-encoded, the routing key in ``delivery_info``."""
    hostname = (body[0] if isinstance(body, list) else body).get("hostname")
    return json.dumps(
        {
            "body": base64.b64encode(json.dumps(body).encode()).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {"hostname": hostname},
            "properties": {
                "delivery_mode": 1,
                "delivery_info": {"exchange": "celeryev", "routing_key": routing_key},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
    ).encode()


def event_count(batch: list[tuple[str, Any]]) -> int:
    return sum(len(body) if isinstance(body, list) else 1 for _, body in batch)
