"""End-to-end ``--dump`` throughput on Redis: evtop beside ``celery events --dump``.

    python benchmarks/bench_dump.py [--events N] [--json]

Starts its own redis-server, then for each dumper in turn: starts it as a subprocess with
stdout to a file, waits until it is subscribed (a probe event shows up in its output),
and lets a separate publisher process PUBLISH the same pre-encoded stream: kombu Redis
envelopes exactly as celery sends them (JSON envelope, base64 body, channel
``/0.celeryev/<routing key>``; wire spec §1.6), task events in ``task.multi`` batches of up
to 24 like a prefork worker, ``task-sent`` and ``worker-heartbeat`` one per message.
Redis's pub/sub output limit is lifted, so the publisher (much faster than either dumper)
never waits and the dumper's own pace is what is measured: lines/s from the first publish
to the last line written. Prints a table and the ratio evtop / celery.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.servers import RedisServer  # noqa: E402

PIPELINE = 500
WORKERS = ("celery@alpha", "celery@bravo", "celery@charlie", "celery@delta")
CLIENT = "gen4242@web-1"
PROBE_HOST = "probe@bench"


def envelope(body: object, routing_key: str, hostname: str) -> bytes:
    """A kombu Redis transport message, field for field as celery's dispatcher produces it."""
    payload = json.dumps(body).encode()
    return json.dumps(
        {
            "body": base64.b64encode(payload).decode(),
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


def channel(routing_key: str) -> str:
    return f"/0.celeryev/{routing_key}"


class Stream:
    """Generates a celery-like event stream: (channel, envelope) pairs and the event count."""

    def __init__(self, seed: int, sent_events: bool = False) -> None:
        self.rng = random.Random(seed)
        self.sent_events = sent_events
        self.clock = 0
        self.now = 1795418542.0
        self.messages: list[tuple[str, bytes]] = []
        self.events = 0
        self.buffers: dict[str, list[dict[str, object]]] = {w: [] for w in WORKERS}

    def _event(self, type_: str, hostname: str, **fields: object) -> dict[str, object]:
        self.clock += 1
        self.now += 0.0001
        return {
            "hostname": hostname,
            "utcoffset": 0,
            "pid": 4242 if hostname == CLIENT else 1000 + WORKERS.index(hostname),
            "clock": self.clock,
            **fields,
            "timestamp": self.now,
            "type": type_,
        }

    def _single(self, event: dict[str, object]) -> None:
        self.messages.append((channel(str(event["type"]).replace("-", ".")), event_envelope(event)))
        self.events += 1

    def _buffered(self, worker: str, event: dict[str, object]) -> None:
        buffer = self.buffers[worker]
        buffer.append(event)
        if len(buffer) >= self.rng.randint(4, 24):
            self._flush(worker)

    def _flush(self, worker: str) -> None:
        batch, self.buffers[worker] = self.buffers[worker], []
        if batch:
            self.messages.append((channel("task.multi"), envelope(batch, "task.multi", worker)))
            self.events += len(batch)

    def task(self) -> None:
        rng = self.rng
        task_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        args = f"({rng.randrange(1000)}, {rng.randrange(1000)})"
        if self.sent_events:
            self._sent(task_id, args)
        worker = rng.choice(WORKERS)
        self._buffered(
            worker,
            self._event(
                "task-received",
                worker,
                uuid=task_id,
                name="proj.tasks.add",
                args=args,
                kwargs="{}",
                root_id=task_id,
                parent_id=None,
                retries=0,
                eta=None,
                expires=None,
            ),
        )
        self._buffered(worker, self._event("task-started", worker, uuid=task_id))
        self._buffered(
            worker,
            self._event(
                "task-succeeded", worker, uuid=task_id, result=str(rng.randrange(2000)), runtime=0.0012
            ),
        )
        if rng.random() < 0.05:
            self._single(self.heartbeat(rng.choice(WORKERS)))

    def _sent(self, task_id: str, args: str) -> None:
        """The client's event, only with ``task_send_sent_event`` (default off): one per message."""
        self._single(
            self._event(
                "task-sent",
                CLIENT,
                uuid=task_id,
                name="proj.tasks.add",
                args=args,
                kwargs="{}",
                retries=0,
                eta=None,
                expires=None,
                root_id=task_id,
                parent_id=None,
                queue="celery",
                exchange="",
                routing_key="celery",
            )
        )

    def heartbeat(self, worker: str) -> dict[str, object]:
        return self._event(
            "worker-heartbeat",
            worker,
            freq=2.0,
            active=1,
            processed=self.clock,
            loadavg=[0.5, 0.4, 0.3],
            sw_ident="py-celery",
            sw_ver="5.6.3",
            sw_sys="Linux",
        )

    def build(self, events: int) -> Stream:
        while self.events < events:
            self.task()
        for worker in WORKERS:
            self._flush(worker)
        return self


def event_envelope(event: dict[str, object]) -> bytes:
    return envelope(event, str(event["type"]).replace("-", "."), str(event["hostname"]))


def publisher(url: str, events: int, sent_events: bool, ready: Any, go: Any, out: Any) -> None:
    """Separate process: encode everything first, then PUBLISH it in pipelines on ``go``."""
    import redis

    stream = Stream(seed=1, sent_events=sent_events).build(events)
    client = redis.Redis.from_url(url)
    out["events"] = stream.events
    ready.set()
    go.wait()
    began = time.perf_counter()
    for start in range(0, len(stream.messages), PIPELINE):
        pipe = client.pipeline(transaction=False)
        for name, data in stream.messages[start : start + PIPELINE]:
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
        probe = envelope(
            Stream(0).heartbeat(WORKERS[0]) | {"hostname": PROBE_HOST}, "worker.heartbeat", PROBE_HOST
        )
        while PROBE_HOST.encode() not in counter.tail:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} never subscribed:\n{err_path.read_text()}")
            client.publish(channel("worker.heartbeat"), probe)
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
        pub.join(10)
        manager.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per dumper, interleaved; best one counts")
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
