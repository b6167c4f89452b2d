"""evtop's State next to celery's, on the same production-like streams, in one run.

    python benchmarks/bench_state.py [--streams gossip,no-gossip] [--caps 10000,100000,1000000]
                                     [--measures state,memory] [--rounds K] [--repeat R]
    python benchmarks/bench_state.py --measures decode --caps 10000

The first takes 20 to 50 minutes on a busy 2-core machine, most of it celery's at the
larger caps (each list insert or pop there moves up to millions of pointers);
``--caps 10000`` a few minutes.

For each stream (benchmarks/cluster.py: per-worker Lamport clocks, synced by gossip or
never, client task-sent events, task.multi batches, retries, children, late messages;
``simple`` is the old one-clock stream of benchmarks/streams.py) and each
``max_tasks_in_memory`` cap:

1. ``state``: State ingest of event dicts as the receiver hands them over (events/s).
2. ``decode``: the whole receive path from JSON bytes: decode, receiver clock handling,
   State (celery: kombu's JSON loads + ``EventReceiver.event_from_message`` +
   ``State.event``; evtop: ``Ingest.feed_message``, which also validates, caps and counts).
3. ``memory``: bytes retained per task the State holds at the end (tracemalloc; events
   decoded from JSON inside the trace, so the strings the State keeps are counted).

Each stream is sized for its cap: at 10k and 100k more tasks than the cap, so the State
trims; at 1M fewer, so everything is retained and the time order grows past 800k entries.

Each measurement runs in a fresh interpreter that imports only the implementation under
test, so neither pays for the other's objects in garbage-collector passes; K interpreters
per side, alternating celery and evtop, each timing R runs (CPU time); the best counts.
"""

from __future__ import annotations

import argparse
import gc
import json
import marshal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from cluster import Cluster, cluster_messages, received_events, stream_properties, wire_messages  # noqa: E402
from streams import make_stream, messages  # noqa: E402

Feed = Callable[[bytes], None]

#: Client-sent tasks per stream for a cap (children and retries add about a fifth).
TASKS = {10_000: 40_000, 100_000: 160_000, 1_000_000: 160_000}


def build(stream: str, tasks: int) -> dict[str, Any]:
    """The stream as received event dicts and as published message bodies (JSON)."""
    if stream == "simple":
        wire = messages(make_stream(tasks))
        events = [dict(e, local_received=e["timestamp"] + 0.001) for e in make_stream(tasks)]
    else:
        arrivals = cluster_messages(tasks, Cluster(gossip=stream == "gossip"))
        wire = wire_messages(arrivals)
        events = received_events(arrivals)
    return {"events": events, "bodies": [json.dumps(body).encode() for _, body in wire]}


def celery_feed(cap: int) -> Feed:
    """celery's receive path: what ``EventReceiver._receive`` does after kombu decoded."""
    from celery import Celery
    from kombu.serialization import loads

    app = Celery("bench", broker="memory://localhost/", set_as_current=False)
    state = app.events.State(max_tasks_in_memory=cap)
    receiver = app.events.Receiver(app.connection_for_read(), handlers={"*": state.event})

    def feed(body: bytes) -> None:
        decoded = loads(body, "application/json", "utf-8", accept={"application/json"})
        for event in decoded if isinstance(decoded, list) else (decoded,):
            receiver.process(*receiver.event_from_message(event))

    return feed


def evtop_feed(cap: int) -> Feed:
    from evtop import State
    from evtop.events.pipeline import Ingest

    ingest = Ingest(State(max_tasks_in_memory=cap).event)

    def feed(body: bytes) -> None:
        ingest.feed_message(body, "application/json", "utf-8")

    return feed


def state_class(impl: str) -> type:
    if impl == "celery":
        from celery.events.state import State as CeleryState

        return CeleryState
    from evtop import State

    return State


def best_rate(prepare: Callable[[], Any], run: Callable[[Any], int], repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        prepared = prepare()
        gc.collect()
        start = time.process_time()
        count = run(prepared)
        best = max(best, count / (time.process_time() - start))
    return best


def measure(impl: str, what: str, cap: int, repeat: int, path: str) -> float:
    with open(path, "rb") as file:
        stream = marshal.load(file)
    if what == "state":
        cls = state_class(impl)
        events = stream["events"]

        def run_state(batch: list[dict[str, Any]]) -> int:
            event = cls(max_tasks_in_memory=cap).event
            for item in batch:
                event(item)
            return len(batch)

        # Fresh copies per run: celery's State mutates the dicts it is given.
        return best_rate(lambda: [dict(e) for e in events], run_state, repeat)
    if what == "decode":
        feeds = {"celery": celery_feed, "evtop": evtop_feed}
        total = len(stream["events"])

        def run_decode(bodies: list[bytes]) -> int:
            feed = feeds[impl](cap)
            for body in bodies:
                feed(body)
            return total

        return best_rate(lambda: list(stream["bodies"]), run_decode, repeat)
    lines = [json.dumps(e).encode() for e in stream.pop("events")]
    stream.clear()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    state = state_class(impl)(max_tasks_in_memory=cap)
    for line in lines:
        state.event(json.loads(line))
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] - before
    return retained / len(state.tasks)


MEASURES = {
    "state": ("State.event, received dicts (events/s)", ">= 4x"),
    "decode": ("JSON decode + receiver + State (events/s)", ">= 3x"),
    "memory": ("bytes per retained task", "<= 0.5x"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="gossip,no-gossip", help="gossip, no-gossip, simple")
    parser.add_argument("--caps", default="10000,100000,1000000", help="max_tasks_in_memory values")
    parser.add_argument("--measures", default="state,memory", help="state, decode, memory")
    parser.add_argument("--tasks", type=int, help="client-sent tasks per stream (default: by cap)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per interpreter; best counts")
    parser.add_argument(
        "--rounds", type=int, default=2, help="interpreters per side, alternating celery and evtop"
    )
    parser.add_argument("--impl", choices=["celery", "evtop"], help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=list(MEASURES), help=argparse.SUPPRESS)
    parser.add_argument("--cap", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.impl:
        print(json.dumps(measure(args.impl, args.measure, args.cap, args.repeat, args.path)))
        return

    def child(impl: str, what: str, cap: int, path: str) -> float:
        command = [sys.executable, __file__, "--impl", impl, "--measure", what, "--cap", str(cap)]
        command += ["--repeat", str(args.repeat), "--path", path]
        done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=HERE.parent)
        return float(done.stdout.strip().splitlines()[-1])

    caps = [int(cap) for cap in args.caps.split(",")]
    print(f"best of {args.rounds} x {args.repeat}, each side in its own interpreters, alternating")
    print(f"{'stream, cap, benchmark':60} {'celery':>12} {'evtop':>12} {'evtop/celery':>13} {'target':>8}")
    with tempfile.TemporaryDirectory() as scratch:
        for stream in args.streams.split(","):
            built: dict[int, str] = {}
            for cap in caps:
                tasks = args.tasks or TASKS.get(cap, 4 * cap)
                if tasks not in built:  # one stream serves every cap it is sized for
                    data = build(stream, tasks)
                    built[tasks] = path = f"{scratch}/{stream}-{tasks}.marshal"
                    with open(path, "wb") as file:
                        marshal.dump(data, file)
                    shape = stream_properties(data["events"]) if stream != "simple" else {}
                    print(
                        f"-- {stream}: {tasks} client tasks, {len(data['events'])} events, "
                        + ", ".join(f"{k} {v:.2f}" if v < 1 else f"{k} {v:,.0f}" for k, v in shape.items())
                    )
                    del data
                for what in args.measures.split(","):
                    name, target = MEASURES[what]
                    # Alternating rounds: this machine's speed drifts over minutes, and a side
                    # measured only while it was slow would skew the ratio.
                    celery_value = evtop_value = 0.0 if what != "memory" else float("inf")
                    pick = min if what == "memory" else max
                    for _ in range(1 if what == "memory" else args.rounds):
                        celery_value = pick(celery_value, child("celery", what, cap, built[tasks]))
                        evtop_value = pick(evtop_value, child("evtop", what, cap, built[tasks]))
                    ratio = evtop_value / celery_value
                    label = f"{stream}, cap {cap:,}, {name}"
                    print(f"{label:60} {celery_value:12,.0f} {evtop_value:12,.0f} {ratio:12.2f}x {target:>8}")


if __name__ == "__main__":
    main()
