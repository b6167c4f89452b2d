"""Redis consumer capacity: evtop's Receiver + State next to celery's EventReceiver + State.

    python benchmarks/bench_consumer.py [--tasks N]

A redis-server is started on a free port with the pub/sub output-buffer limit lifted, so
a consumer that falls behind is buffered instead of disconnected. Each consumer runs in
its own process and subscribes; this process then PUBLISHes the same pre-encoded kombu
envelopes (exactly as celery's dispatcher sends them, spec §1.6: JSON envelope, base64
body, channel ``/0.celeryev/<routing key>``, task events in ``task.multi`` batches) in
redis-py pipelines, far faster than either consumer drains them. Capacity is events
applied to State per second, from the first event to the last, measured by the consumer.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

from streams import event_count, make_stream, messages, redis_envelope  # noqa: E402

PROBE = {"type": "bench-probe", "hostname": "bench@probe"}


def consume_celery(url: str, total: int) -> None:
    from celery import Celery
    from celery.events.state import State

    app = Celery("bench", broker=url, set_as_current=False)
    state = State()
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


def consume_evtop(url: str, total: int) -> None:
    from evtop import State
    from evtop.broker.config import BrokerConfig
    from evtop.events.pipeline import Ingest
    from evtop.events.receiver import Receiver

    state = State()
    counter = Counter(total)
    stop = threading.Event()

    def handler(event: dict) -> None:
        if event["type"] == "bench-probe":
            counter.ready()
            return
        state.event(event)
        if counter.hit():
            stop.set()

    Receiver(BrokerConfig(url=url), Ingest(handler), wakeup=False).run(stop)
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


def run_consumer(kind: str, url: str, payloads: list[tuple[str, bytes]], total: int) -> float:
    import redis

    child = subprocess.Popen(
        [sys.executable, __file__, "--consumer", kind, "--url", url, "--total", str(total)],
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=30000)
    parser.add_argument(
        "--batch",
        type=int,
        default=24,
        help="task events per task.multi message: 24 is celery's buffer limit, what a saturated "
        "prefork worker sends; lightly loaded workers send 1-5",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per consumer; the best counts")
    parser.add_argument("--consumer", choices=["celery", "evtop"])
    parser.add_argument("--url")
    parser.add_argument("--total", type=int)
    args = parser.parse_args()
    if args.consumer:
        {"celery": consume_celery, "evtop": consume_evtop}[args.consumer](args.url, args.total)
        return

    from tests.support.servers import RedisServer

    batches = messages(make_stream(args.tasks), batch=args.batch)
    total = event_count(batches)
    with RedisServer() as server:
        server.cli("CONFIG", "SET", "client-output-buffer-limit", "pubsub 0 0 0")
        results = {"celery": 0.0, "evtop": 0.0}
        for _ in range(args.runs):  # alternating, so both see the same machine conditions
            for kind in ("celery", "evtop"):
                # Stamped just before publishing, so sender/receiver clock differences are realistic.
                payloads = [
                    (f"/0.celeryev/{key}", redis_envelope(key, body))
                    for key, body in messages(make_stream(args.tasks), batch=args.batch)
                ]
                results[kind] = max(results[kind], run_consumer(kind, server.url, payloads, total))
    print(
        f"{total} events in {len(batches)} messages (task events batched by {args.batch}) over Redis pub/sub"
    )
    print(f"{'consumer (best of ' + str(args.runs) + ')':32} {'events/s':>12}")
    print(f"{'celery EventReceiver + State':32} {results['celery']:12,.0f}")
    print(f"{'evtop Receiver + State':32} {results['evtop']:12,.0f}")
    print(f"ratio evtop/celery: {results['evtop'] / results['celery']:.2f}x (target >= 3x)")


if __name__ == "__main__":
    main()
