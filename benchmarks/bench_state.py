"""evtop's ingest path next to celery's, on the same generated stream, in one run.

    python benchmarks/bench_state.py [--tasks N] [--repeat R]

1. State ingest of pre-parsed event dicts: ``State.event`` (events/s).
2. The whole receive path from JSON bytes: decode, receiver normalisation, State
   (celery: kombu's JSON loads + ``EventReceiver.event_from_message`` + ``State.event``;
   evtop: ``Ingest.feed_message``, which also validates, caps and counts).
3. Memory retained per task once the default 10 000-task LRU is full (tracemalloc).

Each timing is the best of R runs (CPU time of this process), so load from other processes
on the machine disturbs it less. Ratios are what the README quotes.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from streams import make_stream, messages

from evtop import State
from evtop.events.pipeline import Ingest


def celery_parts() -> tuple[type, Callable[[], Any]]:
    from celery import Celery
    from celery.events.state import State as CeleryState
    from kombu.serialization import loads

    app = Celery("bench", broker="memory://", set_as_current=False)
    connection = app.connection_for_read()

    def make_path() -> Callable[[bytes], None]:
        state = CeleryState()
        receiver = app.events.Receiver(connection, handlers={"*": state.event})

        def feed(body: bytes) -> None:
            # What EventReceiver._receive does after kombu decoded the message.
            decoded = loads(body, "application/json", "utf-8", accept={"application/json"})
            if isinstance(decoded, list):
                for event in decoded:
                    receiver.process(*receiver.event_from_message(event))
            else:
                receiver.process(*receiver.event_from_message(decoded))

        feed.state = state  # type: ignore[attr-defined]
        return feed

    return CeleryState, make_path


def evtop_path() -> Callable[[bytes], None]:
    state = State()
    ingest = Ingest(state.event)

    def feed(body: bytes) -> None:
        ingest.feed_message(body, "application/json", "utf-8")

    feed.state = state  # type: ignore[attr-defined]
    feed.ingest = ingest  # type: ignore[attr-defined]
    return feed


def best_rate(run: Callable[[], int], repeat: int, prepare: Callable[[], Any] = lambda: None) -> float:
    best = 0.0
    for _ in range(repeat):
        prepared = prepare()
        gc.collect()
        start = time.process_time()
        count = run(prepared) if prepared is not None else run()  # type: ignore[call-arg]
        elapsed = time.process_time() - start
        best = max(best, count / elapsed)
    return best


def state_ingest(state_cls: type, events: list[dict[str, Any]], repeat: int) -> float:
    def run() -> int:
        state = state_cls()
        batch = [dict(event) for event in events]  # celery mutates the dicts it is given
        event = state.event
        start_count = len(batch)
        for item in batch:
            event(item)
        return start_count

    return best_rate(run, repeat)


def encoded(tasks: int) -> list[bytes]:
    """Message bodies stamped with the current time, as if just published."""
    return [json.dumps(body).encode() for _, body in messages(make_stream(tasks))]


def decode_ingest(make: Callable[[], Callable[[bytes], None]], tasks: int, total: int, repeat: int) -> float:
    def run(bodies: list[bytes]) -> int:
        feed = make()
        for body in bodies:
            feed(body)
        return total

    return best_rate(run, repeat, prepare=lambda: encoded(tasks))


def bytes_per_task(make: Callable[[], Callable[[bytes], None]], bodies: list[bytes]) -> tuple[float, int]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    feed = make()
    for body in bodies:
        feed(body)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    retained = len(feed.state.tasks)  # type: ignore[attr-defined]
    return (after - before) / retained, retained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    events = make_stream(args.tasks)
    bodies = encoded(args.tasks)
    celery_state, celery_make = celery_parts()

    received = [dict(event, local_received=event["timestamp"] + 0.001) for event in events]
    rows = []
    celery_rate = state_ingest(celery_state, received, args.repeat)
    evtop_rate = state_ingest(State, received, args.repeat)
    rows.append(
        (
            "State.event, pre-parsed dicts (events/s)",
            celery_rate,
            evtop_rate,
            evtop_rate / celery_rate,
            ">= 4x",
        )
    )
    celery_rate = decode_ingest(celery_make, args.tasks, len(events), args.repeat)
    evtop_rate = decode_ingest(evtop_path, args.tasks, len(events), args.repeat)
    rows.append(
        (
            "JSON decode + receiver + State (events/s)",
            celery_rate,
            evtop_rate,
            evtop_rate / celery_rate,
            ">= 3x",
        )
    )
    celery_bytes, retained = bytes_per_task(celery_make, bodies)
    evtop_bytes, _ = bytes_per_task(evtop_path, bodies)
    rows.append(
        (
            f"bytes per retained task ({retained} tasks)",
            celery_bytes,
            evtop_bytes,
            evtop_bytes / celery_bytes,
            "<= 0.5x",
        )
    )

    print(f"{len(events)} events, {args.tasks} tasks, {len(bodies)} messages; best of {args.repeat}")
    print(f"{'benchmark':44} {'celery':>12} {'evtop':>12} {'evtop/celery':>13} {'target':>8}")
    for name, celery_value, evtop_value, ratio, target in rows:
        print(f"{name:44} {celery_value:12,.0f} {evtop_value:12,.0f} {ratio:12.2f}x {target:>8}")


if __name__ == "__main__":
    main()
