"""Redis consumer capacity: evtop's Receiver + State next to celery's EventReceiver + State.

    python benchmarks/bench_consumer.py [--streams gossip,no-gossip] [--caps 10000,100000,1000000]

A redis-server is started on a free port with the pub/sub output-buffer limit lifted, so
a consumer that falls behind is buffered instead of disconnected. Each consumer runs in
its own process and subscribes; this process then PUBLISHes the same pre-encoded kombu
envelopes (exactly as celery's dispatcher sends them: JSON envelope, base64 body, channel
``/0.celeryev/<routing key>``, task events in ``task.multi`` batches) in redis-py
pipelines, far faster than either consumer drains them. Capacity is events applied to
State per second, from the first event to the last, measured by the consumer.

The streams are those of bench_state.py (benchmarks/cluster.py: per-worker clocks with or
without gossip, client task-sent events, batches of 1-24, retries, children, late
messages; ``simple`` is the old one-clock stream, batched by ``--batch``), sized per
``max_tasks_in_memory`` cap in the same way.
"""

from __future__ import annotations

import argparse
import json
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


def consume_evtop(url: str, total: int, cap: int) -> None:
    from evtop import State
    from evtop.broker.config import BrokerConfig
    from evtop.events.pipeline import Ingest
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

    # Batched as evtop's modes that keep a State run it (evtop.runner.make_ingest).
    Receiver(BrokerConfig(url=url), Ingest(handler, batch=INGEST_BATCH), wakeup=False).run(stop)
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
        elapsed = self.last - self.first
        print(json.dumps({"events": self.count, "seconds": elapsed}), flush=True)


def run_consumer(kind: str, url: str, payloads: list[tuple[str, bytes]], total: int, cap: int) -> float:
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
    pipe = client.pipeline(transaction=False)
    for index, (channel, payload) in enumerate(payloads, 1):
        pipe.publish(channel, payload)
        if index % 2000 == 0:
            pipe.execute()
    pipe.execute()
    out, _ = child.communicate(timeout=600)
    result = json.loads(out.strip().splitlines()[-1])
    if result["events"] != total:
        raise SystemExit(f"{kind} consumer saw {result['events']} of {total} events")
    return result["events"] / result["seconds"]


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
    parser.add_argument("--consumer", choices=["celery", "evtop"])
    parser.add_argument("--url")
    parser.add_argument("--total", type=int)
    parser.add_argument("--cap", type=int)
    args = parser.parse_args()
    if args.consumer:
        {"celery": consume_celery, "evtop": consume_evtop}[args.consumer](args.url, args.total, args.cap)
        return

    from tests.support.servers import RedisServer

    print(f"best of {args.runs} runs per consumer, alternating")
    print(f"{'stream, cap':28} {'celery ev/s':>12} {'evtop ev/s':>12} {'ratio':>7}")
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
                results = {"celery": 0.0, "evtop": 0.0}
                for _ in range(args.runs):  # alternating, so both see the same machine conditions
                    for kind in ("celery", "evtop"):
                        rate = run_consumer(kind, server.url, payloads, total, cap)
                        results[kind] = max(results[kind], rate)
                label = f"{stream}, cap {cap:,}"
                ratio = results["evtop"] / results["celery"]
                print(
                    f"{label:28} {results['celery']:12,.0f} {results['evtop']:12,.0f} {ratio:6.2f}x",
                    flush=True,
                )
    print("target: evtop >= 5x celery")


if __name__ == "__main__":
    main()
