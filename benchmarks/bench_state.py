"""evtop's ingest path next to celery's, on the same generated stream, in one run.

    python benchmarks/bench_state.py [--tasks N] [--repeat R] [--rounds K] [--sent-events]

1. State ingest of pre-parsed event dicts: ``State.event`` (events/s).
2. The whole receive path from JSON bytes: decode, receiver normalisation, State
   (celery: kombu's JSON loads + ``EventReceiver.event_from_message`` + ``State.event``;
   evtop: ``Ingest.feed_message``, which also validates, caps and counts).
3. Memory retained per task once the default 10 000-task LRU is full (tracemalloc).

Each measurement runs in a fresh interpreter that imports only the implementation under
test, so neither pays for the other's objects in garbage-collector passes; K interpreters
per side, alternating celery and evtop, each timing R runs (CPU time); the best counts.
The ratios are what the README quotes.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from streams import make_stream, messages  # noqa: E402

Feed = Callable[[bytes], None]


def celery_feed() -> tuple[Feed, Any]:
    """celery's receive path: what ``EventReceiver._receive`` does after kombu decoded."""
    from celery import Celery
    from celery.events.state import State
    from kombu.serialization import loads

    app = Celery("bench", broker="memory://localhost/", set_as_current=False)
    state = State()
    receiver = app.events.Receiver(app.connection_for_read(), handlers={"*": state.event})

    def feed(body: bytes) -> None:
        decoded = loads(body, "application/json", "utf-8", accept={"application/json"})
        for event in decoded if isinstance(decoded, list) else (decoded,):
            receiver.process(*receiver.event_from_message(event))

    return feed, state


def evtop_feed() -> tuple[Feed, Any]:
    from evtop import State
    from evtop.events.pipeline import Ingest

    state = State()
    ingest = Ingest(state.event)

    def feed(body: bytes) -> None:
        ingest.feed_message(body, "application/json", "utf-8")

    return feed, state


def state_class(impl: str) -> type:
    if impl == "celery":
        from celery.events.state import State as CeleryState

        return CeleryState
    from evtop import State

    return State


def encoded(tasks: int, sent: bool) -> list[bytes]:
    """Message bodies stamped with the current time, as if just published."""
    return [json.dumps(body).encode() for _, body in messages(make_stream(tasks, sent=sent))]


def best_rate(prepare: Callable[[], Any], run: Callable[[Any], int], repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        prepared = prepare()
        gc.collect()
        start = time.process_time()
        count = run(prepared)
        best = max(best, count / (time.process_time() - start))
    return best


def measure(impl: str, what: str, tasks: int, repeat: int, sent: bool) -> float:
    feeds = {"celery": celery_feed, "evtop": evtop_feed}
    if what == "state":
        cls = state_class(impl)
        events = [dict(e, local_received=e["timestamp"] + 0.001) for e in make_stream(tasks, sent=sent)]

        def run_state(batch: list[dict[str, Any]]) -> int:
            event = cls().event
            for item in batch:
                event(item)
            return len(batch)

        # Fresh copies per run: celery's State mutates the dicts it is given.
        return best_rate(lambda: [dict(e) for e in events], run_state, repeat)
    if what == "decode":
        total = len(make_stream(tasks, sent=sent))

        def run_decode(bodies: list[bytes]) -> int:
            feed, _ = feeds[impl]()
            for body in bodies:
                feed(body)
            return total

        return best_rate(lambda: encoded(tasks, sent), run_decode, repeat)
    bodies = encoded(tasks, sent)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    feed, state = feeds[impl]()
    for body in bodies:
        feed(body)
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] - before
    return retained / len(state.tasks)


MEASURES = (
    ("state", "State.event, pre-parsed dicts (events/s)", ">= 4x"),
    ("decode", "JSON decode + receiver + State (events/s)", ">= 3x"),
    ("memory", "bytes per retained task (10000 tasks)", "<= 0.5x"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per interpreter; best counts")
    parser.add_argument(
        "--rounds", type=int, default=3, help="interpreters per side, alternating celery and evtop"
    )
    parser.add_argument("--sent-events", action="store_true", help="include client task-sent events")
    parser.add_argument("--impl", choices=["celery", "evtop"], help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=[m for m, _, _ in MEASURES], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.impl:
        print(json.dumps(measure(args.impl, args.measure, args.tasks, args.repeat, args.sent_events)))
        return

    def child(impl: str, what: str) -> float:
        command = [
            sys.executable,
            __file__,
            "--impl",
            impl,
            "--measure",
            what,
            "--tasks",
            str(args.tasks),
            "--repeat",
            str(args.repeat),
        ] + (["--sent-events"] if args.sent_events else [])
        done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=HERE.parent)
        return float(done.stdout.strip().splitlines()[-1])

    events = len(make_stream(args.tasks, sent=args.sent_events))
    print(
        f"{events} events, {args.tasks} tasks, task-sent events {'on' if args.sent_events else 'off'}; "
        f"best of {args.rounds} x {args.repeat}, each side in its own interpreters, alternating"
    )
    print(f"{'benchmark':44} {'celery':>12} {'evtop':>12} {'evtop/celery':>13} {'target':>8}")
    for what, name, target in MEASURES:
        # Alternating rounds: this machine's speed drifts over minutes, and a side measured
        # only while it was slow would skew the ratio.
        celery_value = evtop_value = 0.0
        for _ in range(args.rounds):
            celery_value = max(celery_value, child("celery", what))
            evtop_value = max(evtop_value, child("evtop", what))
        ratio = evtop_value / celery_value
        print(f"{name:44} {celery_value:12,.0f} {evtop_value:12,.0f} {ratio:12.2f}x {target:>8}")


if __name__ == "__main__":
    main()
