"""The TUI's worker pane, worker actions and queue screen against real prefork workers.

Each action is checked twice: what the TUI shows (the question, the worker's reply) and
what the worker really did, asked with celery's own ``inspect`` (the oracle), or seen in
its process ending for a shutdown.
"""

from __future__ import annotations

import uuid

import pytest

from tests.support.live import wait_until
from tests.support.terminal import Terminal
from tests.support.workers import send_task

pytestmark = [pytest.mark.broker, pytest.mark.worker]


def inspect(worker, method: str):
    """celery's own answer from this worker (None when it did not answer in time)."""
    replies = getattr(worker.app.control.inspect([worker.nodename], timeout=2), method)() or {}
    return replies.get(worker.nodename)


def processes(worker) -> int:
    stats = inspect(worker, "stats") or {}
    return len(stats.get("pool", {}).get("processes", []))


def queues_of(worker) -> set[str]:
    return {queue["name"] for queue in inspect(worker, "active_queues") or []}


def select_worker(term: Terminal, worker) -> None:
    """The workers screen, filtered down to ``worker``: it is the selected row."""
    term.send("2")
    term.send(f"/hostname={worker.nodename}\r")
    term.wait_for(f"filter: hostname={worker.nodename}", "[Workers] 1/")


def confirm(term: Terminal, key: str, question: str, command: str, *reply: str) -> str:
    """Press ``key``, check the question, say yes, wait for the replies pane; close it."""
    term.send(key)
    term.wait_for(question)
    term.send("y")
    text = term.wait_for(f"Replies to {command}", "1 of 1 worker replied", *reply, timeout=30)
    term.send("q")
    term.wait_gone(f"Replies to {command}")
    return text


@pytest.mark.timeout(300)
def test_the_worker_pane_and_every_worker_action_on_redis(redis_server, start_worker):
    url = f"redis://{redis_server.host}:{redis_server.port}/5"
    queue = f"q-w-{uuid.uuid4().hex[:6]}"
    extra = f"extra-{uuid.uuid4().hex[:6]}"
    worker = start_worker(url, pool="prefork", extra_args=("-Q", queue))
    scaled = start_worker(url, pool="prefork", extra_args=("-Q", f"{queue}-scaled", "--autoscale", "3,1"))
    with Terminal("-b", url, cols=170, rows=80) as term:
        term.wait_for("workers 2/2 online", timeout=30)
        running = send_task(url, "evtop_test.sleep", (30,), queue=queue)
        later = send_task(url, "evtop_test.add", (1, 1), queue=queue, countdown=600)
        term.wait_for(running[:20], later[:20], timeout=30)
        wait_until(
            lambda: [t["id"] for t in inspect(worker, "active") or []] == [running],
            30,
            "the sleeping task never started",
        )
        select_worker(term, worker)
        # TASKS counts the two tasks this worker received, though the client's task-sent
        # events came first (celery's tasks_by_worker files them under the client).
        titles = term.wait_line("WORKER", "TASKS", timeout=30).split()
        row = term.wait_line(worker.nodename, "online", timeout=30).split()
        assert row[titles.index("TASKS")] == "2", (titles, row)
        term.send("\r")  # Enter: the worker's pane, asked through the pidbox
        text = term.wait_for(f"Worker {worker.nodename}", "6 of 6 replied within", timeout=30)
        for expected in (
            "celery.concurrency.prefork:TaskPool",
            "concurrency          2",
            "prefetch count",
            f"redis://{redis_server.host}:{redis_server.port}/5",
            "rusage               utime",
            "Registered task types",
            "evtop_test.sleep",
            f"{queue}  exchange {queue} (direct)  routing key {queue}",
            f"{running}  evtop_test.sleep  args [30]",
            f"{later}  evtop_test.add  args [1, 1]  eta ",
            "tasks in memory  2",
        ):
            assert expected in text, expected

        confirm(term, "+", f"Add one pool process to {worker.nodename}?", "pool-grow", "pool will grow")
        wait_until(lambda: processes(worker) == 3, 30, "the pool never grew")
        confirm(term, "-", f"Stop one idle pool process of {worker.nodename}?", "pool-shrink", "shrink")
        wait_until(lambda: processes(worker) == 2, 30, "the pool never shrank")

        term.send("o")
        term.wait_for(f"queue for {worker.nodename} to consume too:")
        term.send(f"{extra}\r")
        confirm(term, "", f"Consume from queue {extra} on {worker.nodename}?", "add-consumer", extra)
        wait_until(lambda: extra in queues_of(worker), 30, "the worker never consumed the new queue")
        term.send("R")  # the pane asked again shows it
        term.wait_for(f"{extra}  exchange {extra} (direct)", "6 of 6 replied", timeout=30)
        term.send("O")
        term.send(f"{extra}\r")
        confirm(term, "", f"Stop consuming from queue {extra} on {worker.nodename}?", "cancel-consumer")
        wait_until(lambda: extra not in queues_of(worker), 30, "the worker never stopped consuming")

        confirm(
            term, "E", f"Make {worker.nodename} stop sending task events?", "disable-events", "task events"
        )
        confirm(term, "e", f"Make {worker.nodename} send task events?", "enable-events", "task events")

        # The autoscaler's range, on the worker that has one.
        term.send("q")
        select_worker(term, scaled)
        term.send("a")
        term.send("4,2\r")
        confirm(
            term,
            "",
            f"Set the autoscale range to at most 4, at least 2 processes on {scaled.nodename}?",
            "autoscale",
            "autoscale now max=4 min=2",
        )
        scaler = (inspect(scaled, "stats") or {}).get("autoscaler", {})
        assert (scaler.get("max"), scaler.get("min")) == (4, 2)

        # Shutdown: a reflex y is not enough; the worker's name is.
        select_worker(term, worker)
        term.send("D")
        term.wait_for(f"type {worker.nodename} or shutdown and Enter to confirm")
        term.send("y\r")
        term.wait_for("shutdown cancelled: nothing was sent")
        assert worker.running
        term.send("D")
        term.send(f"{worker.nodename}\r")
        term.wait_for(f"shutdown sent to {worker.nodename}; no reply is expected", timeout=30)
        # A warm shutdown lets the running task finish first (30 s at most).
        wait_until(lambda: not worker.running, 60, "the worker never shut down")
        assert scaled.running
        # No reply comes, so no replies pane opens: the message line said it all, q quits.
        assert "Replies to shutdown" not in term.text
        term.send("q")
        status, err = term.wait_exit()
    assert status == 0, err
    assert "Traceback" not in err


@pytest.mark.timeout(180)
def test_the_queue_screen_on_redis_priority_lists_an_idle_queue_and_read_only(redis_server, start_worker):
    url = f"redis://{redis_server.host}:{redis_server.port}/6"
    idle = f"idle-{uuid.uuid4().hex[:6]}"
    busy = f"busy-{uuid.uuid4().hex[:6]}"
    worker = start_worker(url, pool="prefork", extra_args=("-Q", busy))
    for priority in (0, 0, 0, 9, 9):  # 3 on the base list, 2 on the priority-9 list
        send_task(url, "evtop_test.add", (1, 2), queue=idle, priority=priority)
    with Terminal("-b", url, cols=150, rows=30) as term:
        term.wait_for("workers 1/1 online", timeout=30)
        term.send("4")
        term.wait_for("[Queues]", "read ", "ago from Redis LLEN", timeout=30)
        row = term.wait_line(idle, timeout=30).split()  # the first reading has no change yet
        assert row == [idle, "5", "-", "0", "-", "-"], row
        row = term.wait_line(idle, "+0.0", timeout=30).split()
        assert row == [idle, "5", "-", "0", "+0.0", "-"], row
        term.wait_line(busy, worker.nodename, timeout=30)
        # The screen keeps reading: more messages show without a key.
        send_task(url, "evtop_test.add", (1, 2), queue=idle)
        term.wait_line(idle, " 6 ", timeout=30)
        term.send("q")
        status, err = term.wait_exit()
    assert status == 0, err
    with Terminal("-b", url, "--read-only", cols=150, rows=30) as term:
        term.wait_for("connected to", "read-only", timeout=30)
        term.send("4")
        text = term.wait_for("--read-only: the workers are not asked which queues they consume", timeout=30)
        row = term.wait_line(idle, timeout=30).split()
        assert row[1:4] == ["6", "-", "-"] and row[-1] == "?", (row, text)
        term.send("q")
        term.wait_exit()


@pytest.mark.timeout(180)
def test_the_queue_screen_pane_and_an_action_on_rabbitmq(rabbitmq_server, start_worker):
    url = rabbitmq_server.url
    busy = f"busy-{uuid.uuid4().hex[:6]}"
    extra = f"extra-{uuid.uuid4().hex[:6]}"
    worker = start_worker(url, pool="prefork", extra_args=("-Q", busy))
    for _ in range(2):
        send_task(url, "evtop_test.sleep", (60,), queue=busy)
    for _ in range(3):
        send_task(url, "evtop_test.add", (1, 1), queue=busy)
    with Terminal("-b", url, cols=150, rows=70) as term:
        term.wait_for("workers 1/1 online", timeout=30)
        term.send("4")
        # Two running, three prefetched: nothing is ready; RabbitMQ counts one consumer.
        row = term.wait_line(busy, worker.nodename, timeout=30).split()
        assert row[1:4] == ["0", "-", "1"], row
        select_worker(term, worker)
        term.send("i")
        text = term.wait_for("6 of 6 replied within", "Active tasks", timeout=30)
        assert "2 tasks" in text and f"amqp://{rabbitmq_server.host}:{rabbitmq_server.port}" in text
        term.send("o")
        term.send(f"{extra}\r")
        confirm(term, "", f"Consume from queue {extra} on {worker.nodename}?", "add-consumer", extra)
        wait_until(lambda: extra in queues_of(worker), 30, "the worker never consumed the new queue")
        term.send("q")
        term.send("4")
        term.wait_line(extra, worker.nodename, timeout=30)  # the new queue, found through the worker
        term.send("q")
        status, err = term.wait_exit()
    assert status == 0, err
