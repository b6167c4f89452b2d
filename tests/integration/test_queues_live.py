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
    assert "evtop queues: depths from Redis LLEN\n" in err, err
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
    source = "Redis LLEN" if broker_url.startswith("redis") else "AMQP passive queue.declare"
    assert f"evtop queues: depths from {source}\n" in err, err
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


@pytest.fixture(scope="module")
def rabbitmq_management():
    """A RabbitMQ node of its own with the management plugin (≈10 s more to start)."""
    from tests.support.servers import RabbitMQServer

    with RabbitMQServer(management=True) as server:
        yield server


@pytest.mark.timeout(240)
def test_management_url_lists_every_queue_with_its_unacknowledged_messages(rabbitmq_management, start_worker):
    url, api = rabbitmq_management.url, rabbitmq_management.management_url
    idle = f"idle-{uuid.uuid4().hex[:6]}"
    busy = f"busy-{uuid.uuid4().hex[:6]}"
    worker = start_worker(url, pool="prefork", extra_args=("-Q", busy))  # two processes
    for _ in range(3):
        send_task(url, "evtop_test.add", (1, 2), queue=idle)
    for _ in range(2):  # both processes busy (a task is acknowledged when it starts)...
        send_task(url, "evtop_test.sleep", (60,), queue=busy)
    for _ in range(3):  # ...so these wait in the worker's prefetch, delivered, unacknowledged
        send_task(url, "evtop_test.add", (1, 2), queue=busy)
    found: dict[str, dict] = {}

    def listed() -> bool:
        # --read-only: no worker is asked; the queues come from the management API alone.
        status, rows, err = queues(url, "--management-url", api, "--json", "--interval", "0", read_only=True)
        assert status == 0, err
        assert "evtop queues: depths from the RabbitMQ management API at http://guest:**@" in err, err
        found.clear()
        found.update({row["name"]: row for row in rows})
        return (
            found.get(idle, {}).get("messages") == 3
            and found.get(busy, {}).get("unacked") == 3
            and found[busy]["messages"] == 0
            and found[busy]["consumers"] == 1
        )

    # The API's figures lag the broker by its statistics interval (5 s by default).
    wait_until(listed, 60, "the management API never showed both queues as they are")
    assert found[idle]["consumers"] == 0 and found[idle]["unacked"] == 0
    assert not any(name.endswith(".pidbox") or name.startswith("celeryev.") for name in found)
    status, text, _ = queues(url, "--management-url", api, busy)  # asks the workers too
    assert status == 0 and worker.nodename in text.splitlines()[1]

    status, _, err = queues(url, "--management-url", api.replace("guest@", "s3cret-pw@"), "--json")
    assert status == 1 and "the management API at" in err and "401" in err
    assert "s3cret-pw" not in err and "Traceback" not in err


def screen_row(text: str, name: str) -> list[str]:
    return next((line.split() for line in text.splitlines() if line.split()[:1] == [name]), [])


@pytest.mark.timeout(240)
def test_the_queue_screen_lists_every_queue_with_unacked_through_the_management_api(
    rabbitmq_management, start_worker
):
    from tests.support.terminal import Terminal

    url, api = rabbitmq_management.url, rabbitmq_management.management_url
    idle = f"idle-{uuid.uuid4().hex[:6]}"
    busy = f"busy-{uuid.uuid4().hex[:6]}"
    worker = start_worker(url, pool="prefork", extra_args=("-Q", busy))  # two processes
    for _ in range(3):  # before evtop listens: no event names this queue, no worker consumes it
        send_task(url, "evtop_test.add", (1, 2), queue=idle)
    for _ in range(2):
        send_task(url, "evtop_test.sleep", (60,), queue=busy)
    for _ in range(3):  # prefetched by the busy worker: delivered, unacknowledged
        send_task(url, "evtop_test.add", (1, 2), queue=busy)
    with Terminal("-b", url, "--management-url", api, cols=150, rows=40) as term:
        term.wait_for("workers 1/1 online", timeout=30)
        term.send("4")
        term.wait_for("[Queues]", "UNACKED", timeout=30)
        # QUEUE MESSAGES UNACKED CONSUMERS CHANGE/S WORKERS; the API lags by its statistics interval.
        wait_until(
            lambda: (
                screen_row(term.text, idle)[1:4] == ["3", "0", "0"]
                and screen_row(term.text, busy)[1:4] == ["0", "3", "1"]
            ),
            60,
            "the queue screen never showed both queues from the management API",
        )
        assert worker.nodename in screen_row(term.text, busy)
        masked = api.replace("guest:guest@", "guest:**@")
        assert f"ago from the RabbitMQ management API at {masked}" in term.text
        assert api not in term.text and ":guest@" not in term.text
        term.send("q")
        status, err = term.wait_exit()
    assert status == 0, err
    assert "guest:guest" not in err


@pytest.mark.timeout(180)
def test_prometheus_exports_every_queue_with_unacked_through_the_management_api(
    rabbitmq_management, start_worker, tmp_path
):
    import signal
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    from tests.support.servers import free_port

    url, api = rabbitmq_management.url, rabbitmq_management.management_url
    idle = f"idle-{uuid.uuid4().hex[:6]}"
    busy = f"busy-{uuid.uuid4().hex[:6]}"
    start_worker(url, pool="prefork", extra_args=("-Q", busy))
    for _ in range(3):  # no task-sent event will name this queue: only the API lists it
        send_task(url, "evtop_test.add", (1, 2), queue=idle)
    for _ in range(2):
        send_task(url, "evtop_test.sleep", (60,), queue=busy)
    for _ in range(3):
        send_task(url, "evtop_test.add", (1, 2), queue=busy)
    port = free_port()
    stderr = tmp_path / "evtop.stderr"
    with open(stderr, "wb") as err_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "evtop",
                "-b",
                url,
                "--management-url",
                api,
                "--sink",
                f"prometheus://127.0.0.1:{port}",
                "-F",
                "0.5",
                "-l",
                "DEBUG",
            ],
            stdout=subprocess.DEVNULL,
            stderr=err_file,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        found: dict[tuple[str, str], float] = {}

        def exported() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    text = response.read().decode()
            except OSError:
                return False
            found.clear()
            found.update(
                {
                    (sample.name, sample.labels.get("queue_name", "")): sample.value
                    for family in text_string_to_metric_families(text)
                    for sample in family.samples
                }
            )
            return (
                found.get(("celery_queue_length", idle)) == 3
                and found.get(("celery_queue_unacked_messages", busy)) == 3
            )

        try:
            wait_until(exported, 90, "the Prometheus sink never exported both queues from the management API")
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=40)
    assert proc.returncode == 0
    assert found[("celery_active_consumer_count", idle)] == 0
    assert found[("celery_queue_unacked_messages", idle)] == 0
    log = stderr.read_text(errors="replace")
    assert "Traceback" not in log and ":guest@" not in log
