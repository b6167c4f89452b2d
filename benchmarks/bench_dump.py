"""End-to-end ``--dump`` throughput on Redis: evtop beside ``celery events --dump``.

    python benchmarks/bench_dump.py [--events N] [--json]

Starts its own redis-server, then for each dumper in turn: starts it as a subprocess with
stdout to a file, waits until it is subscribed (a probe event shows up in its output),
and lets a separate publisher process PUBLISH the same pre-encoded stream: kombu Redis
envelopes exactly as celery sends them (JSON envelope, base64 body, channel
``/0.celeryev/<routing key>``: kombu publishes a fanout exchange as a channel), each
worker's task events in ``task.multi`` batches of 4 to 24 like a busy prefork worker,
``worker-heartbeat`` (and with ``--sent-events`` the client's ``task-sent``) one per message;
see benchmarks/streams.py.
Redis's pub/sub output limit is lifted, so the publisher (much faster than either dumper)
never waits and the dumper's own pace is what is measured: lines/s from the first publish
to the last line written. Prints a table and the ratio evtop / celery.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "benchmarks"), str(REPO)]

from streams import event_count, make_stream, messages, redis_envelope  # noqa: E402

from tests.support.servers import RedisServer  # noqa: E402

PIPELINE = 500
PROBE_HOST = "probe@bench"


def publisher(url: str, events: int, sent_events: bool, ready: Any, go: Any, out: Any) -> None:
    """Separate process: encode everything first, then PUBLISH it in pipelines on ``go``."""
    import redis

    batches = messages(make_stream(events // 3 + 1, sent=sent_events), batch=(4, 24))
    payloads = [(f"/0.celeryev/{key}", redis_envelope(key, body)) for key, body in batches]
    client = redis.Redis.from_url(url)
    out["events"] = event_count(batches)
    ready.set()
    go.wait()
    began = time.perf_counter()
    for start in range(0, len(payloads), PIPELINE):
        pipe = client.pipeline(transaction=False)
        for name, data in payloads[start : start + PIPELINE]:
            pipe.publish(name, data)
        pipe.execute()
    out["publish_seconds"] = time.perf_counter() - began


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LineCounter:
    """Counts lines of a growing file incrementally."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("rb")
        self.lines = 0
        self.tail = b""

    def poll(self) -> int:
        data = self.file.read()
        self.lines += data.count(b"\n")
        if data:
            self.tail = (self.tail + data)[-4096:]
        return self.lines


def run_one(
    name: str, command: list[str], url: str, events: int, workdir: Path, sent_events: bool = False
) -> dict[str, float]:
    import redis

    out_path, err_path = workdir / f"{name}.out", workdir / f"{name}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err, cwd=REPO)
    counter = LineCounter(out_path)
    client = redis.Redis.from_url(url)
    manager = multiprocessing.Manager()
    shared = manager.dict()
    ready, go = multiprocessing.Event(), multiprocessing.Event()
    pub = multiprocessing.Process(target=publisher, args=(url, events, sent_events, ready, go, shared))
    pub.start()
    try:
        deadline = time.monotonic() + 60
        probe = redis_envelope(
            "worker.heartbeat",
            {"type": "worker-heartbeat", "hostname": PROBE_HOST, "timestamp": time.time(), "freq": 2.0},
        )
        while PROBE_HOST.encode() not in counter.tail:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} never subscribed:\n{err_path.read_text()}")
            client.publish("/0.celeryev/worker.heartbeat", probe)
            time.sleep(0.2)
            counter.poll()
        ready.wait(120)
        time.sleep(0.5)  # stragglers of the probe
        baseline = counter.poll()
        expected = baseline + shared["events"]
        cpu_before = cpu_seconds(proc.pid)
        began = time.perf_counter()
        go.set()
        last_change, last_count, finished = began, baseline, began
        while counter.poll() < expected:
            now = time.perf_counter()
            if counter.lines != last_count:
                last_change, last_count, finished = now, counter.lines, now
            elif now - last_change > 15:
                break
            time.sleep(0.01)
        else:
            finished = time.perf_counter()
        cpu = cpu_seconds(proc.pid) - cpu_before
        pub.join(60)
        got = counter.lines - baseline
        seconds = finished - began
        return {
            "events": shared["events"],
            "lines": got,
            "seconds": seconds,
            "rate": got / seconds,
            "cpu": cpu,
            "publish_rate": shared["events"] / shared["publish_seconds"],
        }
    finally:
        proc.terminate()
        proc.wait(10)
        if pub.is_alive() and not go.is_set():  # failed before publishing: nobody will say go
            pub.terminate()
        pub.join(10)
        manager.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5, help="runs per dumper, interleaved; best one counts")
    parser.add_argument("--json", action="store_true", help="also measure evtop --dump --json")
    parser.add_argument(
        "--sent-events", action="store_true", help="add task-sent events (task_send_sent_event=True)"
    )
    args = parser.parse_args()
    dumpers = [
        ("celery events --dump", [sys.executable, "-m", "celery", "events", "--dump"]),
        ("evtop --dump", [sys.executable, "-m", "evtop", "--dump", "--read-only"]),
    ]
    if args.json:
        dumpers.append(
            ("evtop --dump --json", [sys.executable, "-m", "evtop", "--dump", "--json", "--read-only"])
        )
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in dumpers}
    with RedisServer() as server, tempfile.TemporaryDirectory(prefix="evtop-bench-") as tmp:
        server.cli("config", "set", "client-output-buffer-limit", "pubsub 0 0 0")
        for _ in range(args.repeat):
            for name, command in dumpers:
                command = [*command[:3], "-b", server.url, *command[3:]]
                run = run_one(name.split()[0], command, server.url, args.events, Path(tmp), args.sent_events)
                results[name].append(run)
                print(f"  {name}: {run['rate']:.0f} lines/s", file=sys.stderr, flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    columns = ("events", "lines", "seconds", "lines/s", "cpu s", "pub ev/s")
    print(f"{'dumper':<22}", *(f"{column:>8}" for column in columns))
    best = {name: max(runs, key=lambda r: r["rate"]) for name, runs in results.items()}
    for name, r in best.items():
        print(
            f"{name:<22} {r['events']:>8} {r['lines']:>8} {r['seconds']:>8.2f} {r['rate']:>8.0f} "
            f"{r['cpu']:>8.2f} {r['publish_rate']:>8.0f}"
        )
    ratio = best["evtop --dump"]["rate"] / best["celery events --dump"]["rate"]
    cpu_ratio = best["celery events --dump"]["cpu"] / best["evtop --dump"]["cpu"]
    print(f"ratio evtop / celery: {ratio:.2f}x lines/s, {cpu_ratio:.2f}x less CPU per event (target >= 2x)")


if __name__ == "__main__":
    main()
