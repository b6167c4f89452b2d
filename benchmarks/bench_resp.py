"""Redis pub/sub read rate: evtop's RESP parsers (hiredis's, the pure-Python fallback), redis-py.

    python benchmarks/bench_resp.py [--tasks N] [--batch B] [--runs R]

The messages are kombu envelopes as celery's dispatcher publishes them (see
benchmarks/streams.py), one event per message by default, where parsing weighs most.

1. Parse only: the bytes Redis sends a pattern subscriber for those messages, fed to
   each parser in the 256 KiB reads :class:`~evtop.broker.redis_events.RedisEventReader`
   makes; in this process, the parsers alternating, best of R.
2. Live: a fresh consumer process per run subscribes to a real redis-server and waits
   while this process PUBLISHes all the messages (the pub/sub output limit lifted, so
   Redis holds them for it); then it reads them all, decoding every envelope down to
   the event body: evtop's RedisEventReader with each parser, and redis-py's ``PubSub``
   (which parses with hiredis when hiredis is installed, as here) followed by the same
   decoding. Messages per second of the consumer's CPU time from the first to the last
   (so neither the publisher's pace nor the other loads of a shared machine count);
   best of R, alternating.
"""

from __future__ import annotations

import argparse
import binascii
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from streams import make_stream, messages, redis_envelope  # noqa: E402

from evtop.broker import resp  # noqa: E402

PATTERN = "/0.celeryev/*"
PARSERS = {"hiredis": resp.HiredisParser, "python": resp.RespParser}
CONSUMERS = {
    "hiredis": "evtop reader, hiredis",
    "python": "evtop reader, pure Python",
    "redis-py": "redis-py PubSub",
}


def payloads(tasks: int, batch: int) -> list[tuple[str, bytes]]:
    return [
        (f"/0.celeryev/{key}", redis_envelope(key, body)) for key, body in messages(make_stream(tasks), batch)
    ]


def parse_rate(make_parser: Any, reads: list[bytes], count: int) -> float:
    parser = make_parser()
    parsed = 0
    start = time.process_time()
    for data in reads:
        parser.feed(data)
        for _ in parser.values():
            parsed += 1
    elapsed = time.process_time() - start
    assert parsed == count, (parsed, count)
    return count / elapsed


def consume(kind: str, url: str, total: int) -> None:
    """Child process: subscribe, say READY, wait for GO, then time reading ``total`` messages."""
    from evtop.broker.redis_events import _loads

    done = 0
    first = last = 0.0

    def on_body(body: Any, *_: Any) -> None:
        nonlocal done, first, last
        last = time.process_time()
        first = first or last
        done += 1

    def ready() -> None:
        print("READY", flush=True)
        sys.stdin.readline()

    if kind == "redis-py":
        import redis

        pubsub = redis.Redis.from_url(url).pubsub()
        pubsub.psubscribe(PATTERN)
        confirmation = pubsub.get_message(timeout=10.0)
        if confirmation is None or confirmation["type"] != "psubscribe":
            raise SystemExit(f"no PSUBSCRIBE confirmation: {confirmation}")
        ready()
        while done < total:
            message = pubsub.get_message(timeout=10.0)
            if message is not None:  # what RedisEventReader does with a message
                on_body(binascii.a2b_base64(_loads(message["data"])["body"]))
    else:
        from kombu import Connection

        from evtop.broker.redis_events import RedisEventReader

        resp.default_parser = PARSERS[kind]
        with Connection(url) as connection:
            reader = RedisEventReader(connection.default_channel, "celeryev", on_body, print)
            reader.subscribe()
            ready()
            while done < total:
                reader.read(10.0)
            reader.close()
    print(json.dumps({"messages": done, "seconds": last - first}), flush=True)


def live_rate(kind: str, url: str, published: list[tuple[str, bytes]]) -> float:
    import redis

    child = subprocess.Popen(
        [sys.executable, __file__, "--consumer", kind, "--url", url, "--total", str(len(published))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=HERE.parent,
    )
    assert child.stdin is not None and child.stdout is not None
    if child.stdout.readline().strip() != "READY":
        raise SystemExit(f"{kind} consumer never subscribed")
    pipe = redis.Redis.from_url(url).pipeline(transaction=False)
    for index, (channel, data) in enumerate(published, 1):
        pipe.publish(channel, data)
        if index % 2000 == 0:
            pipe.execute()
    pipe.execute()
    out, _ = child.communicate("GO\n", timeout=600)
    result = json.loads(out.strip().splitlines()[-1])
    return result["messages"] / result["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=1, help="task events per task.multi message")
    parser.add_argument("--runs", type=int, default=5, help="runs per parser or consumer; the best counts")
    parser.add_argument("--consumer", choices=list(CONSUMERS))
    parser.add_argument("--url")
    parser.add_argument("--total", type=int)
    args = parser.parse_args()
    if args.consumer:
        consume(args.consumer, args.url, args.total)
        return

    try:
        import hiredis  # noqa: F401
    except ImportError:
        raise SystemExit("this benchmark compares against hiredis: pip install hiredis") from None
    from tests.support.servers import RedisServer

    published = payloads(args.tasks, args.batch)
    stream = b"".join(resp.command("pmessage", PATTERN, channel, data) for channel, data in published)
    reads = [stream[i : i + 256 * 1024] for i in range(0, len(stream), 256 * 1024)]
    parsing = dict.fromkeys(PARSERS, 0.0)
    for _ in range(args.runs):
        for name, make_parser in PARSERS.items():
            parsing[name] = max(parsing[name], parse_rate(make_parser, reads, len(published)))
    live = dict.fromkeys(CONSUMERS, 0.0)
    with RedisServer() as server:
        server.cli("CONFIG", "SET", "client-output-buffer-limit", "pubsub 0 0 0")
        for _ in range(args.runs):
            for kind in CONSUMERS:
                live[kind] = max(live[kind], live_rate(kind, server.url, published))
    size = len(stream) // len(published)
    print(f"{len(published)} messages of {size} bytes on average (batch {args.batch}); best of {args.runs}")
    print(f"{'parse only (in process)':32} {'messages/s':>12}")
    for name, rate in parsing.items():
        print(f"{CONSUMERS[name]:32} {rate:12,.0f}")
    print(f"{'live, with envelope decoding':32} {'msgs/CPU s':>12}")
    for kind, rate in live.items():
        print(f"{CONSUMERS[kind]:32} {rate:12,.0f}")
    print(
        f"hiredis / pure Python: {parsing['hiredis'] / parsing['python']:.2f}x parsing, "
        f"{live['hiredis'] / live['python']:.2f}x live"
    )


if __name__ == "__main__":
    main()
