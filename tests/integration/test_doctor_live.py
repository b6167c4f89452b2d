"""``evtop doctor`` against real brokers and real workers: healthy, without -E, and silent."""

from __future__ import annotations

import contextlib
import json
import subprocess

import pytest

from evtop.processors import usable_processors
from tests.support.live import EvtopProcess
from tests.support.workers import send_task

pytestmark = [pytest.mark.broker, pytest.mark.worker]

LISTEN = 8.0


class Doctor(EvtopProcess):
    """``evtop -b URL doctor --json`` as a process, once it has started listening."""

    def __init__(self, url: str, listen: float = LISTEN) -> None:
        super().__init__("-b", url, "doctor", "--listen", str(listen), "--json", stdout=subprocess.PIPE)
        self.wait_said("listening to", 30)

    def send_tasks_while_listening(self, url: str, *names: str) -> int:
        """Send tasks, a few a second, until the doctor is done: some fall between heartbeats."""
        sent = 0
        while self.proc.poll() is None:
            for name in names:
                send_task(url, name, (sent, sent) if name == "evtop_test.add" else ())
                sent += 1
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=0.25)
        return sent

    def result(self) -> tuple[int, dict]:
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        self.proc.wait(timeout=60)
        self.reader.join(10)
        return self.proc.returncode, json.loads(out)


@pytest.mark.timeout(120)
def test_a_healthy_cluster_is_healthy(broker_url, start_worker):
    worker = start_worker(broker_url, pool="prefork")
    doctor = Doctor(broker_url)
    assert doctor.send_tasks_while_listening(broker_url, "evtop_test.add", "evtop_test.fail") > 10
    status, found = doctor.result()
    assert status == 0, (found, doctor.err)
    assert found["healthy"] and found["reached"] and not found["silent"] and found["hints"] == []
    mine = [w for w in found["workers"] if w["hostname"] == worker.nodename]
    assert mine and mine[0]["online"] and mine[0]["missed_tasks"] == 0 and mine[0]["task_events"] > 0
    assert abs(mine[0]["clock_skew"]) < 5
    # It says how it read: a second process on Redis with two processors (--reader auto).
    reader = "process" if broker_url.startswith("redis") and usable_processors() >= 2 else "thread"
    assert found["reader"] == reader and doctor.said(f"(--reader {reader})")


@pytest.mark.timeout(120)
def test_a_worker_without_task_events_is_named(redis_server, start_worker):
    url = f"redis://{redis_server.host}:{redis_server.port}/5"  # its own db: only this worker
    worker = start_worker(url, pool="solo", task_events=False)
    doctor = Doctor(url)
    assert doctor.send_tasks_while_listening(url, "evtop_test.add") > 10
    status, found = doctor.result()
    assert status == 1, found
    assert f"{worker.nodename} runs tasks but sends no task events" in " ".join(found["hints"])


@pytest.mark.timeout(60)
def test_a_silent_broker_is_named(redis_server):
    url = f"redis://{redis_server.host}:{redis_server.port}/6"
    status, found = Doctor(url, listen=2).result()
    assert status == 1
    assert found["reached"] and found["silent"] and found["workers"] == []
    assert any("no events in" in hint and "are workers running with -E" in hint for hint in found["hints"])
