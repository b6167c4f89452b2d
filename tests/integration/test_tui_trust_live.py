"""The live TUI says what it does not know, on a pty against real brokers.

A real ``celery worker -E`` killed (no ``worker-offline``) while a task runs: the task's
row must read LOST once the worker has been silent for twice its heartbeat interval. A
worker whose clock is an hour behind: its running task's RUNTIME and RECEIVED must be
evtop's clock's, not the hour the worker's stamps suggest.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import time
import uuid

import pytest

from evtop.broker.dispatch import event_body, routing_key
from tests.support.live import wait_until
from tests.support.publish import EventPublisher
from tests.support.terminal import Terminal
from tests.support.workers import send_task

pytestmark = [pytest.mark.broker, pytest.mark.worker]

HOUR = 3600.0


@pytest.mark.timeout(150)
def test_a_worker_killed_with_a_task_running_leaves_the_task_lost(broker_url, start_worker):
    queue = f"q-lost-{uuid.uuid4().hex[:6]}"
    worker = start_worker(broker_url, pool="prefork", extra_args=("-Q", queue, "-c", "1"))
    with Terminal("-b", broker_url, cols=160, rows=40) as term:
        term.wait_for("workers 1/1 online", timeout=30)
        stuck = send_task(broker_url, "evtop_test.sleep", (120,), queue=queue)
        term.wait_line(stuck, "STARTED", timeout=30)
        assert worker.proc is not None
        os.killpg(worker.proc.pid, signal.SIGKILL)  # gone without a word: no worker-offline
        line = term.wait_line(stuck, "LOST", timeout=30)
        assert "STARTED" not in line
        term.wait_for("workers 0/1 online", "1 lost on offline workers")
        term.send("2")
        term.wait_line(worker.nodename, "offline")
        term.send("i")
        term.wait_for("lost tasks", "1 (received or running here, never finished)")
        term.send("\x03")
        status, err = term.wait_exit()
    assert status == 130, err
    assert "Traceback" not in err


@pytest.mark.timeout(120)
def test_a_worker_an_hour_behind_shows_its_running_task_by_evtops_clock(broker_url):
    host = f"slowclock-{uuid.uuid4().hex[:6]}@test"
    task_id = str(uuid.uuid4())
    clock = itertools.count(1)
    info = {"freq": 1.0, "active": 1, "processed": 0, "loadavg": [0.0, 0.0, 0.0], "sw_ident": "py-celery"}
    with EventPublisher(broker_url) as publisher, Terminal("-b", broker_url, cols=160, rows=40) as term:

        def send(type_: str, **fields: object) -> None:
            stamp = time.time() - HOUR  # the worker's clock
            body = event_body(type_, host, clock=next(clock), timestamp=stamp, pid=42, utcoffset=0, **fields)
            publisher.publish(body, routing_key(type_), hostname=host)

        def beat_until(condition) -> object:
            def beaten() -> object:
                send("worker-heartbeat", **info)
                return condition()

            return wait_until(beaten, 30, "the TUI never showed it", interval=0.5)

        term.wait_for("connected to", timeout=30)
        beat_until(lambda: "workers 1/1 online" in term.text)
        send("task-received", uuid=task_id, name="proj.crunch", args="()", kwargs="{}")
        send("task-started", uuid=task_id)
        started = time.monotonic()
        received_at = {time.strftime("%H:%M:%S", time.gmtime(time.time() + d)) for d in (-2, -1, 0, 1)}

        def running_for() -> float | None:
            line = next((line for line in term.text.splitlines() if task_id in line), "")
            found = re.search(r" (\d+\.\d+)s ", line)
            return float(found.group(1)) if found and float(found.group(1)) >= 5 else None

        shown = beat_until(running_for)
        elapsed = time.monotonic() - started
        assert isinstance(shown, float) and elapsed - 3 <= shown <= elapsed + 1  # not 1h00m
        row = term.wait_line(task_id, "STARTED")
        assert "1h" not in row and any(at in row for at in received_at), row
        term.send("q")
        status, err = term.wait_exit()
    assert status == 0, err
    assert "Traceback" not in err
