"""Production-like Celery event streams: per-worker clocks, batches, late delivery.

A stream with one global clock arrives almost in clock order, which hides what a real
cluster does to the State's time order. Here, as in a real cluster:

- each worker has its own Lamport clock that goes forward on every event it sends;
  with gossip (the default) a worker that hears another worker's heartbeat (every 2 s)
  jumps past that worker's clock; started ``--without-gossip --without-mingle`` the
  clocks never meet and start thousands apart;
- workers carry unequal load, so between heartbeats busy workers' clocks run ahead;
- several client processes send ``task-sent`` events, whose clocks the receiver
  replaces with its own (celery's ``EventReceiver.event_from_message``);
- prefork workers buffer task events and publish them as ``task.multi`` lists of 1-24
  events, flushed when full, when the worker's next event comes 0.1 s later, or
  before its heartbeat;
- tasks retry (``task-retried``, then a new received/started elsewhere), spawn
  children (``parent_id``/``root_id``, sent from inside a worker), fail;
- a few percent of messages arrive late (0.05-2 s after they were published).

Everything is drawn from a seeded generator, so a stream is the same on every run.
:func:`cluster_messages` gives the messages as published (for a broker);
:func:`received_events` the event dicts a receiver hands to its State.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from benchmarks.streams import NAMES, TRACEBACK
from evtop.broker.dispatch import task_received_fields, task_sent_fields

SOFTWARE = {"sw_ident": "py-celery", "sw_ver": "5.6.3", "sw_sys": "Linux"}


@dataclass(frozen=True)
class Cluster:
    """The shape of the simulated cluster; the defaults are a busy production cluster."""

    gossip: bool = True
    workers: int = 16
    clients: int = 4
    #: Tasks per second the clients send, cluster-wide (children and retries come on top).
    rate: float = 1000.0
    heartbeat: float = 2.0
    batch_max: int = 24
    late: float = 0.03
    retry: float = 0.05
    fail: float = 0.05
    #: Share of tasks that send 1-3 child tasks while they run.
    children: float = 0.1
    #: How far apart the workers' clocks start without gossip and mingle.
    clock_spread: int = 50_000


@dataclass
class _Worker:
    host: str
    pid: int
    clock: int
    weight: float
    processed: int = 0


Message = tuple[str, Any]


def cluster_messages(
    tasks: int, cluster: Cluster | None = None, *, seed: int = 1, start: float | None = None
) -> list[tuple[float, str, Any]]:
    """``(arrival time, routing key, body)`` in arrival order, clocks as the senders set them.

    ``tasks`` counts the tasks clients send; children and retries add to the events.
    Timestamps begin at ``start`` (default: now).
    """
    cluster = cluster or Cluster()
    rng = random.Random(seed)
    t0 = time.time() if start is None else start
    workers = [
        _Worker(
            host=f"celery@worker-{i}",
            pid=1000 + i,
            clock=rng.randrange(1, 100) if cluster.gossip else rng.randrange(1, cluster.clock_spread),
            # Unequal load: a few large machines, many small ones.
            weight=1.0 / (i + 1) ** 0.7,
        )
        for i in range(cluster.workers)
    ]
    clients = [f"gen{4000 + i}@web-{i}" for i in range(cluster.clients)]
    plan = _plan(tasks, cluster, rng, t0, workers, clients)
    return _publish(plan, cluster, rng, workers)


def _plan(
    tasks: int,
    cluster: Cluster,
    rng: random.Random,
    t0: float,
    workers: list[_Worker],
    clients: list[str],
) -> list[tuple[float, int, str, dict[str, Any]]]:
    """Every event to be sent, as ``(send time, sequence, sender, fields)``, sorted."""
    events: list[tuple[float, int, str, dict[str, Any]]] = []
    weights = [w.weight for w in workers]

    def emit(at: float, sender: str, type_: str, **fields: Any) -> None:
        events.append((at, len(events), sender, {"type": type_, **fields}))

    def run(
        task_id: str, name: str, root_id: str, parent_id: str | None, sent_at: float, retries: int
    ) -> None:
        """One delivery of a task to a worker: received, started, then its outcome."""
        worker = rng.choices(workers, weights)[0]
        args = f"({rng.randrange(1000)}, {rng.randrange(1000)})"
        received_at = sent_at + rng.uniform(0.001, 0.02)
        emit(
            received_at,
            worker.host,
            "task-received",
            uuid=task_id,
            **task_received_fields(name, args, root_id=root_id, parent_id=parent_id, retries=retries),
        )
        started_at = received_at + rng.uniform(0.0005, 0.05)
        emit(started_at, worker.host, "task-started", uuid=task_id)
        runtime = min(rng.lognormvariate(-3.0, 1.2), 10.0)
        done_at = started_at + runtime
        if rng.random() < cluster.children:
            for _ in range(rng.randint(1, 3)):
                child = _uuid(rng)
                at = started_at + rng.uniform(0, runtime)
                client = f"gen{worker.pid * 10 + 1}@{worker.host[7:]}"  # the worker's app sends it
                send(child, rng.choice(NAMES), client, at, root_id, task_id)
        roll = rng.random()
        if roll < cluster.retry and retries < 3:
            emit(done_at, worker.host, "task-retried", uuid=task_id, exception="Retry", traceback=TRACEBACK)
            run(task_id, name, root_id, parent_id, done_at + rng.uniform(1.0, 3.0), retries + 1)
        elif roll < cluster.retry + cluster.fail:
            emit(
                done_at,
                worker.host,
                "task-failed",
                uuid=task_id,
                exception="ValueError('bad input')",
                traceback=TRACEBACK,
            )
        else:
            emit(
                done_at,
                worker.host,
                "task-succeeded",
                uuid=task_id,
                result=str(rng.randrange(10**6)),
                runtime=round(runtime, 6),
            )

    def send(task_id: str, name: str, client: str, at: float, root_id: str, parent_id: str | None) -> None:
        emit(
            at,
            client,
            "task-sent",
            uuid=task_id,
            **task_sent_fields(name, "(1, 2)", root_id=root_id, parent_id=parent_id),
        )
        run(task_id, name, root_id, parent_id, at, 0)

    at = t0 + 0.01
    for _ in range(tasks):
        at += rng.expovariate(cluster.rate)
        task_id = _uuid(rng)
        send(task_id, rng.choice(NAMES), rng.choice(clients), at, task_id, None)
    end = max(event[0] for event in events)
    for worker in workers:
        emit(t0, worker.host, "worker-online", freq=cluster.heartbeat, **SOFTWARE)
        beat = t0 + rng.uniform(0, cluster.heartbeat)
        while beat < end:
            emit(beat, worker.host, "worker-heartbeat", freq=cluster.heartbeat, **SOFTWARE)
            beat += cluster.heartbeat
    events.sort(key=lambda event: (event[0], event[1]))
    return events


def _publish(
    plan: list[tuple[float, int, str, dict[str, Any]]],
    cluster: Cluster,
    rng: random.Random,
    workers: list[_Worker],
) -> list[tuple[float, str, Any]]:
    """Stamp clocks as each sender's dispatcher does, batch, and deliver (some late)."""
    by_host = {w.host: w for w in workers}
    client_clocks: dict[str, int] = {}
    buffers: dict[str, list[dict[str, Any]]] = {w.host: [] for w in workers}
    opened: dict[str, float] = {}
    limits = {w.host: rng.randint(1, cluster.batch_max) for w in workers}
    out: list[tuple[float, int, str, Any]] = []

    def deliver(at: float, routing_key: str, body: Any) -> None:
        arrival = at + rng.uniform(0.0002, 0.002)
        if rng.random() < cluster.late:
            arrival += rng.uniform(0.05, 2.0)
        out.append((arrival, len(out), routing_key, body))

    def flush(host: str, at: float) -> None:
        buffer = buffers[host]
        if buffer:
            deliver(at, "task.multi", buffer)
            buffers[host] = []
            limits[host] = rng.randint(1, cluster.batch_max)

    for at, _, sender, fields in plan:
        type_ = fields["type"]
        worker = by_host.get(sender)
        if worker is None:  # a client: its clock is never synced (the receiver replaces it)
            clock = client_clocks[sender] = client_clocks.get(sender, rng.randrange(1, 1000)) + 1
            pid = 4242
        else:
            worker.clock += 1
            clock, pid = worker.clock, worker.pid
        # Not event_body's key order (celery's puts the sender's fields before timestamp and
        # type): the recorded benchmark figures were measured on exactly these bytes.
        event = {"hostname": sender, "utcoffset": 0, "pid": pid, "clock": clock, "timestamp": at, **fields}
        if worker is None:
            deliver(at, type_.replace("-", "."), event)
            continue
        if type_.startswith("task-"):
            worker.processed += type_ in ("task-succeeded", "task-failed")
            buffer = buffers[sender]
            if buffer and at - opened[sender] > 0.1:
                flush(sender, at)
                buffer = buffers[sender]
            if not buffer:
                opened[sender] = at
            buffer.append(event)
            if len(buffer) >= limits[sender]:
                flush(sender, at)
            continue
        flush(sender, at)
        event.update(active=rng.randrange(8), processed=worker.processed, loadavg=[0.5, 0.4, 0.3])
        deliver(at, type_.replace("-", "."), event)
        if cluster.gossip and type_ == "worker-heartbeat":
            for other in workers:  # every other worker's gossip consumer hears it
                if other is not worker:
                    other.clock = max(other.clock, clock) + 1
    end = plan[-1][0] if plan else 0.0
    for host in buffers:
        flush(host, end)
    out.sort(key=lambda message: (message[0], message[1]))
    return [(arrival, key, body) for arrival, _, key, body in out]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def wire_messages(arrivals: Iterable[tuple[float, str, Any]]) -> list[Message]:
    """``(routing key, body)`` in arrival order, for publishing to a broker."""
    return [(key, body) for _, key, body in arrivals]


def received_events(arrivals: Iterable[tuple[float, str, Any]]) -> list[dict[str, Any]]:
    """Event dicts as celery's receiver hands them to ``State.event``.

    Its Lamport clock adjusts to every event's clock; a ``task-sent`` event gets the
    receiver's clock minus one instead of the client's; ``local_received`` is the
    arrival time. evtop's normaliser does the same, so both States see these dicts.
    """
    value = 0
    out = []
    for arrival, _, body in arrivals:
        for event in body if isinstance(body, list) else (body,):
            event = dict(event, local_received=arrival)
            if event["type"] == "task-sent":
                event["clock"] = (value or 1) - 1
            value = max(value, event["clock"]) + 1
            out.append(event)
    return out


def stream_properties(events: list[dict[str, Any]]) -> dict[str, float]:
    """What makes a stream hard for a time order: how often an event is not the newest."""
    newest: tuple[int, str] = (0, "")
    late = 0
    for event in events:
        key = (event["clock"], event["hostname"])
        if key < newest:
            late += 1
        else:
            newest = key
    tasks = len({e["uuid"] for e in events if "uuid" in e})
    return {"events": len(events), "tasks": tasks, "older than the newest": late / max(len(events), 1)}
