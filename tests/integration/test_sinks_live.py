"""``evtop --sink`` as a real process, with real ``celery worker -E`` processes and a real
PostgreSQL: a database outage loses nothing, and Prometheus scrapes count what ran.

celery's own receiver and State (the oracle) watch the same broker, so the tests know
when the workers are done without asking evtop.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.events import wire, worker_event
from tests.support.live import wait_until
from tests.support.oracle import CeleryOracle
from tests.support.publish import EventPublisher
from tests.support.servers import free_port
from tests.support.workers import REPO_ROOT, send_task

pytestmark = [pytest.mark.broker, pytest.mark.worker]

ADD, FAIL, FLAKY = "evtop_test.add", "evtop_test.fail", "evtop_test.flaky"


class SinkProcess:
    """``python -m evtop -b URL --sink ... -F 0.2`` (stderr kept in a file to read as it runs)."""

    def __init__(self, url: str, *sinks: str, tmp_path) -> None:
        self.stderr_path = tmp_path / "evtop.stderr"
        self.stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed by stop()
        args = [arg for sink in sinks for arg in ("--sink", sink)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "evtop", "-b", url, *args, "-F", "0.2"],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )

    def err(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.communicate(timeout=40)
        self.stderr.close()
        return self.proc.returncode, self.err()


def probe_until(url: str, seen) -> None:
    """Publish heartbeats of a probe worker until ``seen(hostname)``: evtop is subscribed."""
    probe = f"probe-{uuid.uuid4().hex[:8]}@test"
    with EventPublisher(url) as publisher:

        def arrived() -> bool:
            publisher.publish(wire(worker_event("worker-heartbeat", probe, time.time())), "worker.heartbeat")
            return seen(probe)

        wait_until(arrived, 40, "evtop never saw the probe worker", interval=0.3)


def pg_rows(url: str, sql: str, *params) -> list[tuple]:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return conn.execute(sql, params).fetchall()
    except psycopg.Error:  # down, or the tables not made yet
        return []


@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_postgresql_down_while_a_worker_runs_tasks_loses_nothing(
    redis_server, start_worker, postgres_server, postgres_url, tmp_path
):
    broker = redis_server.url
    queue = f"q-sink-{uuid.uuid4().hex[:6]}"
    start_worker(broker, pool="prefork", extra_args=("-Q", queue))
    with CeleryOracle(broker) as oracle:
        evtop = SinkProcess(broker, postgres_url, tmp_path=tmp_path)
        try:
            probe_until(
                broker,
                lambda host: pg_rows(postgres_url, "SELECT 1 FROM evtop_workers WHERE hostname = %s", host),
            )
            before = [send_task(broker, ADD, (i, i), queue=queue) for i in range(5)]
            for task in before:
                oracle.wait_task(task, "SUCCESS", timeout=30)

            postgres_server.stop_keeping_data()
            down_at = time.monotonic()
            during = [send_task(broker, ADD, (i, -i), queue=queue) for i in range(10)]
            during += [
                send_task(broker, FAIL, ("boom",), queue=queue),
                send_task(broker, FLAKY, (2,), queue=queue),
            ]
            for task in during:
                oracle.wait_task(task, ("SUCCESS", "FAILURE"), timeout=40)
            wait_until(lambda: "is down" in evtop.err(), 30, "evtop never noticed the database was down")
            wait_until(lambda: time.monotonic() - down_at > 4, 10)  # an outage of several seconds
            postgres_server.start()

            expected = {task: oracle.task(task).state for task in before + during}
            assert set(expected.values()) == {"SUCCESS", "FAILURE"}

            def stored() -> dict[str, str]:
                return dict(pg_rows(postgres_url, "SELECT uuid, state FROM evtop_tasks"))

            wait_until(
                lambda: {t: stored().get(t) for t in expected} == expected,
                60,
                "the database never caught up",
            )
        finally:
            status, err = evtop.stop()
    assert status == 0, err
    assert err.count("is down") == 1 and err.count("is up again") == 1, err
    assert "Traceback" not in err
    rows = pg_rows(postgres_url, "SELECT uuid, COUNT(*) FROM evtop_tasks GROUP BY uuid HAVING COUNT(*) > 1")
    assert rows == []
    [(retries, name)] = pg_rows(
        postgres_url, "SELECT retries, name FROM evtop_tasks WHERE uuid = %s", during[-1]
    )
    assert (retries, name) == (2, FLAKY)


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def worker_up(port: int) -> Callable[[str], bool]:
    """A probe: whether the exporter on ``port`` says the worker is up (not while it
    cannot be scraped yet)."""

    def up(hostname: str) -> bool:
        try:
            return scrape(port).get(("celery_worker_up", (("hostname", hostname),))) == 1
        except (OSError, urllib.error.URLError):
            return False

    return up


def total(found: dict, metric: str, name: str) -> float:
    return sum(
        value for (sample, labels), value in found.items() if sample == metric and ("name", name) in labels
    )


@pytest.mark.timeout(150)
def test_prometheus_counters_scraped_while_tasks_run_count_what_the_workers_ran(
    broker_url, start_worker, tmp_path
):
    queue = f"q-prom-{uuid.uuid4().hex[:6]}"
    worker = start_worker(broker_url, pool="prefork", extra_args=("-Q", queue))
    port = free_port()
    evtop = SinkProcess(broker_url, f"prometheus://127.0.0.1:{port}", tmp_path=tmp_path)
    scrapes = []

    up = worker_up(port)

    try:
        probe_until(broker_url, up)
        tasks = [send_task(broker_url, ADD, (i, i), queue=queue) for i in range(6)]
        tasks += [send_task(broker_url, FAIL, ("boom",), queue=queue) for _ in range(2)]
        tasks += [send_task(broker_url, FLAKY, (2,), queue=queue)]
        expected = {
            ("celery_task_succeeded_total", ADD): 6,
            ("celery_task_succeeded_total", FLAKY): 1,
            ("celery_task_failed_total", FAIL): 2,
            ("celery_task_retried_total", FLAKY): 2,
            ("celery_task_started_total", ADD): 6,
            ("celery_task_sent_total", FAIL): 2,
        }

        def counted() -> bool:
            scrapes.append(scrape(port))  # parses with prometheus_client's parser, or raises
            return all(total(scrapes[-1], metric, name) == n for (metric, name), n in expected.items())

        wait_until(counted, 60, "the counters never matched what the workers ran", interval=0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            assert response.status == 200
    finally:
        status, err = evtop.stop()
    assert status == 0, err
    assert len(scrapes) > 1
    for earlier, later in itertools.pairwise(scrapes):  # counters never go back
        for key, value in earlier.items():
            if key[0].endswith("_total") and key[0].startswith("celery_task_"):
                assert later.get(key, 0) >= value, key
    final = scrapes[-1]
    assert final["celery_worker_up", (("hostname", worker.nodename),)] == 1
    assert final["celery_task_runtime_count", (("hostname", worker.nodename), ("name", ADD))] == 6
    assert final["evtop_broker_connected", ()] == 1
    assert final["evtop_events_received_total", ()] == final["evtop_events_applied_total", ()]


@pytest.mark.timeout(150)
def test_prometheus_queue_length_and_consumers_of_a_live_broker(
    broker_url, broker_kind, start_worker, tmp_path
):
    idle = f"q-idle-{uuid.uuid4().hex[:6]}"
    busy = f"q-busy-{uuid.uuid4().hex[:6]}"
    start_worker(broker_url, pool="prefork", extra_args=("-Q", busy))
    port = free_port()
    evtop = SinkProcess(broker_url, f"prometheus://127.0.0.1:{port}", tmp_path=tmp_path)
    found: dict = {}

    up = worker_up(port)

    try:
        probe_until(broker_url, up)
        # Sent after evtop listens: on RabbitMQ the queues to read are those task-sent named.
        for _ in range(4):
            send_task(broker_url, ADD, (1, 1), queue=idle)
        send_task(broker_url, ADD, (1, 1), queue=busy)

        def measured() -> bool:
            found.clear()
            found.update(scrape(port))
            return (
                found.get(("celery_queue_length", (("queue_name", idle),))) == 4
                and found.get(("celery_queue_length", (("queue_name", busy),))) == 0
            )

        wait_until(measured, 60, "celery_queue_length never showed the idle queue's 4 messages")
    finally:
        status, err = evtop.stop()
    assert status == 0, err
    consumers = {
        dict(labels)["queue_name"]: value
        for (sample, labels), value in found.items()
        if sample == "celery_active_consumer_count"
    }
    if broker_url.startswith("amqp"):  # a passive declare tells the consumers
        assert consumers[idle] == 0 and consumers[busy] == 1
    else:  # Redis does not; a camera never asks the workers, so none is exported
        assert idle not in consumers and busy not in consumers
    assert not any(name.endswith(".pidbox") for (sample, labels), _ in found.items() for _, name in labels)
