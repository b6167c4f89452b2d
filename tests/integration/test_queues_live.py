"""``evtop queues`` against real brokers: depth, priority sub-queues, consumers and trend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from tests.support.live import wait_until
from tests.support.workers import REPO_ROOT, send_task

pytestmark = [pytest.mark.broker, pytest.mark.worker]


def queues(url: str, *args: str, read_only: bool = False) -> tuple[int, list[dict] | str, str]:
    flags = ["--read-only"] if read_only else []
    done = subprocess.run(
        [sys.executable, "-m", "evtop", "-b", url, *flags, "queues", "--interval", "0.5", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=60,
    )
    out = json.loads(done.stdout) if "--json" in args and done.stdout else done.stdout
    return done.returncode, out, done.stderr


@pytest.mark.timeout(120)
def test_a_queue_nobody_consumes_and_its_priority_lists_on_redis(redis_server):
    url = f"redis://{redis_server.host}:{redis_server.port}/3"
    idle = f"idle-{uuid.uuid4().hex[:6]}"
    for priority in (0, 0, 0, 9, 9):
        send_task(url, "evtop_test.add", (1, 2), queue=idle, priority=priority)
    status, rows, err = queues(url, "--json")
    assert status == 0, err
    (row,) = [r for r in rows if r["name"] == idle]
    # The base list holds 3; the priority-9 list the other 2: both are the queue's backlog.
    assert row["messages"] == 5 and row["consumers"] == 0 and row["workers"] == []
    assert row["change"] == 0.0
    assert not any(r["name"].endswith(".pidbox") or r["name"].startswith("celeryev.") for r in rows)


@pytest.mark.timeout(120)
def test_the_workers_of_a_queue_and_a_missing_name(broker_url, start_worker):
    busy = f"busy-{uuid.uuid4().hex[:6]}"
    worker = start_worker(broker_url, pool="solo", extra_args=("-Q", busy))
    for _ in range(3):
        send_task(broker_url, "evtop_test.sleep", (0.2,), queue=busy)
    status, rows, err = queues(broker_url, busy, "--json")
    assert status == 0, err
    (row,) = rows
    assert row["name"] == busy and row["workers"] == [worker.nodename] and row["consumers"] == 1
    wait_until(
        lambda: queues(broker_url, busy, "--json")[1][0]["messages"] == 0, 30, "the queue never drained"
    )
    status, text, _ = queues(broker_url, busy, "no-such-queue-here")
    assert status == 1 and "no-such-queue-here: no such queue" in text
    assert text.splitlines()[0].split() == [
        "QUEUE",
        "MESSAGES",
        "UNACKED",
        "CONSUMERS",
        "CHANGE/S",
        "WORKERS",
    ]


@pytest.mark.timeout(60)
def test_read_only_asks_no_worker(redis_server):
    """Without --read-only one pidbox broadcast asks for active_queues; with it, none."""
    import redis

    url = f"redis://{redis_server.host}:{redis_server.port}/4"
    name = f"ro-{uuid.uuid4().hex[:6]}"
    send_task(url, "evtop_test.add", (1, 2), queue=name)
    listener = redis.Redis(host=redis_server.host, port=redis_server.port).pubsub()
    listener.psubscribe("*pidbox*")
    listener.get_message(timeout=5)  # the subscription's confirmation

    def broadcasts() -> int:
        count = 0
        while (message := listener.get_message(timeout=1)) is not None:
            count += message["type"] == "pmessage"
        return count

    try:
        status, rows, err = queues(url, "--json", "--interval", "0")
        assert status == 0 and [r["messages"] for r in rows if r["name"] == name] == [1], err
        assert broadcasts() == 1
        status, rows, err = queues(url, "--json", "--interval", "0", read_only=True)
        assert status == 0 and [r["messages"] for r in rows if r["name"] == name] == [1], err
        assert broadcasts() == 0
    finally:
        listener.close()
