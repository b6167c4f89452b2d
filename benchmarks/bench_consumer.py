"""Redis consumer capacity: evtop's reading + State next to celery's EventReceiver + State.

    python benchmarks/bench_consumer.py [--streams gossip,no-gossip] [--caps 10000,100000,1000000]

A redis-server is started on a free port with the pub/sub output-buffer limit lifted, so
a consumer that falls behind is buffered instead of disconnected. Each consumer runs in
its own process group and subscribes, and is stopped (SIGSTOP) while this process
PUBLISHes the same pre-encoded kombu envelopes (exactly as celery's dispatcher sends
them: JSON envelope, base64 body, channel ``/0.celeryev/<routing key>``, task events in
``task.multi`` batches) in redis-py pipelines; redis-server holds them in the
subscriber's output buffer. Continued, the consumer drains that backlog with the load
generator idle, as from a cluster on other machines. Capacity is events applied to State
per second, from the first event to the last, measured by the consumer.

evtop is measured both ways it reads (``--reader``): in a thread of its own process, and
with a second process reading and decoding while evtop applies (the default on Redis
with two processors). The second uses two processors where celery's uses one, on a
machine whose redis-server needs a share too; the CPU time of each side is printed with
it, so the cost stays in sight.

The streams are those of bench_state.py (benchmarks/cluster.py: per-worker clocks with or
without gossip, client task-sent events, batches of 1-24, retries, children, late
messages; ``simple`` is the old one-clock stream, batched by ``--batch``), sized per
``max_tasks_in_memory`` cap in the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

from bench_state import TASKS  # noqa: E402
from cluster import Cluster, cluster_messages, wire_messages  # noqa: E402
from streams import event_count, make_stream, messages, redis_envelope  # noqa: E402

PROBE = {"type": "bench-probe", "hostname": "bench@probe"}
#: celery's receiver + State, and evtop's read as ``--reader thread`` and ``--reader process``.
CONSUMERS = ("celery", "evtop thread", "evtop process")


def consume_celery(url: str, total: int, cap: int) -> None:
    import celery.events.state
    from celery import Celery
    from celery.events.state import State

    # The streams are stamped when generated and replayed at the consumer's pace, so their
    # timestamps drift from the time of receipt by tens of seconds during a run, where a
    # real cluster's stay within a second. Past 16 s celery's State calls its memoized
    # drift warning for every task event (1.8 us a call, about 5% of its time at cap 10k),
    # which would flatter evtop's ratio (evtop warns once per worker, then only looks the
    # name up). Workers read the limit when made, so it is lifted before the State makes any.
    celery.events.state.HEARTBEAT_DRIFT_MAX = float("inf")
    app = Celery("bench", broker=url, set_as_current=False)
    state = State(max_tasks_in_memory=cap)
    counter = Counter(total)

    def handler(event: dict) -> None:
        if event.get("type") == "bench-probe":
            counter.ready()
            return
        state.event(event)
        counter.hit()

    with app.connection_for_read() as connection:
        receiver = app.events.Receiver(connection, handlers={"*": handler})
        receiver.should_stop = False
        for _ in receiver.consume(limit=None, timeout=None, wakeup=False):
            if counter.finished:
                break
    counter.report()


def consume_evtop(url: str, total: int, cap: int, reader: str) -> None:
    from evtop import State
    from evtop.broker.config import BrokerConfig
    from evtop.events.pipeline import Ingest
    from evtop.events.process.source import ProcessReceiver
    from evtop.events.receiver import Receiver
    from evtop.runner import INGEST_BATCH

    state = State(max_tasks_in_memory=cap)
    counter = Counter(total)
    stop = threading.Event()

    def handler(event: dict) -> None:
        if event["type"] == "bench-probe":
            counter.ready()
            return
        state.event(event)
        if counter.hit():
            stop.set()

    # Batched as evtop's modes that keep a State run it (evtop.runner.make_ingest), read
    # as --reader thread or --reader process reads (evtop.runner.open_source).
    source = ProcessReceiver if reader == "process" else Receiver
    source(BrokerConfig(url=url), Ingest(handler, batch=INGEST_BATCH), wakeup=False).run(stop)
    counter.report()


class Counter:
    """Counts applied events; prints READY once subscribed and the rate at the end."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self._ready = False
        self.finished = False

    def ready(self) -> None:
        if not self._ready:
            self._ready = True
            print("READY", flush=True)

    def hit(self) -> bool:
        now = time.perf_counter()
        if self.count == 0:
            self.first = now
        self.count += 1
        self.last = now
        self.finished = self.count >= self.total
        return self.finished

    def report(self) -> None:
        """Rate and CPU: this process's and its children's (a reader process, once ended),
        start-up included."""
        elapsed = self.last - self.first
        cpu = sum(
            usage.ru_utime + usage.ru_stime
            for usage in (
                resource.getrusage(resource.RUSAGE_SELF),
                resource.getrusage(resource.RUSAGE_CHILDREN),
            )
        )
        print(json.dumps({"events": self.count, "seconds": elapsed, "cpu": cpu}), flush=True)


def run_consumer(
    kind: str, url: str, payloads: list[tuple[str, bytes]], total: int, cap: int
) -> tuple[float, float]:
    """(events per second, CPU µs per event)."""
    import redis

    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--consumer",
            kind,
            "--url",
            url,
            "--total",
            str(total),
            "--cap",
            str(cap),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=True,  # its own process group: a reader process stops with it
    )
    assert child.stdout is not None
    client = redis.Redis.from_url(url)
    probe = redis_envelope("bench.probe", PROBE)
    ready = threading.Event()

    def wait_ready() -> None:
        if child.stdout is not None and child.stdout.readline().strip() == "READY":
            ready.set()

    threading.Thread(target=wait_ready, daemon=True).start()
    deadline = time.monotonic() + 60
    while not ready.wait(0.1):  # subscription is proven by a probe coming back
        if time.monotonic() > deadline or child.poll() is not None:
            child.kill()
            raise SystemExit(f"{kind} consumer never subscribed")
        client.publish("/0.celeryev/bench.probe", probe)
    # The consumer is stopped while the stream is published, so that the load generator
    # (this process) does not share the processors with what it measures: redis-server
    # holds the stream in the subscriber's output buffer, and the consumer drains it
    # once continued, as from a cluster on other machines.
    os.killpg(child.pid, signal.SIGSTOP)
    try:
        pipe = client.pipeline(transaction=False)
        for index, (channel, payload) in enumerate(payloads, 1):
            pipe.publish(channel, payload)
            if index % 2000 == 0:
                pipe.execute()
        pipe.execute()
    finally:
        os.killpg(child.pid, signal.SIGCONT)
    out, _ = child.communicate(timeout=600)
    result = json.loads(out.strip().splitlines()[-1])
    if result["events"] != total:
        raise SystemExit(f"{kind} consumer saw {result['events']} of {total} events")
    return result["events"] / result["seconds"], result["cpu"] / total * 1e6


def wire(stream: str, tasks: int, batch: int) -> list[tuple[str, Any]]:
    """(routing key, body) as published, stamped now so sender/receiver clocks agree."""
    if stream == "simple":
        return messages(make_stream(tasks), batch=batch)
    return wire_messages(cluster_messages(tasks, Cluster(gossip=stream == "gossip")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="gossip,no-gossip", help="gossip, no-gossip, simple")
    parser.add_argument("--caps", default="10000,100000,1000000", help="max_tasks_in_memory values")
    parser.add_argument("--tasks", type=int, help="client-sent tasks per stream (default: by cap)")
    parser.add_argument(
        "--batch",
        type=int,
        default=24,
        help="simple stream: task events per task.multi message: 24 is celery's buffer limit, what a "
        "saturated prefork worker sends; lightly loaded workers send 1-5",
    )
    parser.add_argument("--runs", type=int, default=2, help="runs per consumer; the best counts")
    parser.add_argument("--consumer", choices=CONSUMERS)
    parser.add_argument("--url")
    parser.add_argument("--total", type=int)
    parser.add_argument("--cap", type=int)
    args = parser.parse_args()
    if args.consumer:
        if args.consumer == "celery":
            consume_celery(args.url, args.total, args.cap)
        else:
            consume_evtop(args.url, args.total, args.cap, args.consumer.partition(" ")[2])
        return

    from tests.support.servers import RedisServer

    print(f"best of {args.runs} runs per consumer, alternating; CPU: us an event, start-up included")
    print(f"{'stream, cap':26} {'celery ev/s':>11} {'CPU':>5}", end="")
    print("".join(f" {kind + ' ev/s':>18} {'ratio':>6} {'CPU':>5}" for kind in CONSUMERS[1:]))
    with RedisServer() as server:
        server.cli("CONFIG", "SET", "client-output-buffer-limit", "pubsub 0 0 0")
        for stream in args.streams.split(","):
            built: dict[int, tuple[int, list[tuple[str, bytes]]]] = {}
            for cap in (int(cap) for cap in args.caps.split(",")):
                tasks = args.tasks or TASKS.get(cap, 4 * cap)
                if tasks not in built:  # one stream serves every cap it is sized for
                    batches = wire(stream, tasks, args.batch)
                    payloads = [(f"/0.celeryev/{key}", redis_envelope(key, body)) for key, body in batches]
                    built = {tasks: (event_count(batches), payloads)}
                    print(f"-- {stream}: {built[tasks][0]:,} events in {len(payloads):,} messages")
                total, payloads = built[tasks]
                rates = dict.fromkeys(CONSUMERS, 0.0)
                cpus = dict.fromkeys(CONSUMERS, float("inf"))
                for _ in range(args.runs):  # alternating, so all see the same machine conditions
                    for kind in CONSUMERS:
                        rate, cpu = run_consumer(kind, server.url, payloads, total, cap)
                        rates[kind], cpus[kind] = max(rates[kind], rate), min(cpus[kind], cpu)
                celery = rates["celery"]
                line = f"{f'{stream}, cap {cap:,}':26} {celery:11,.0f} {cpus['celery']:5.1f}"
                for kind in CONSUMERS[1:]:
                    line += f" {rates[kind]:18,.0f} {rates[kind] / celery:5.2f}x {cpus[kind]:5.1f}"
                print(line, flush=True)
    print("target: evtop >= 5x celery")


if __name__ == "__main__":
    main()
