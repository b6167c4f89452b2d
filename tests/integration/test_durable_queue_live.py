"""``--queue NAME`` on a real RabbitMQ: the durable queue keeps events while evtop is away.

evtop runs as the least-privilege monitoring user (its queue is named ``celeryev.*``, so
README's permissions cover it). celery's own receiver listens the whole time and says what
the workers sent; evtop, stopped while the tasks run and started again, must print every
one of those events, once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from kombu import Connection

from evtop.broker.config import DEFAULT_QUEUE_MAX_LENGTH, BrokerConfig, DurableQueue
from evtop.broker.entities import durable_event_queue
from evtop.events.states import READY_STATES
from tests.support.dump import DumpProcess
from tests.support.events import task_event, wire
from tests.support.live import LiveReceiver, wait_until
from tests.support.oracle import CeleryOracle
from tests.support.permissions import monitor_vhost
from tests.support.publish import EventPublisher
from tests.support.workers import REPO_ROOT, send_task

pytestmark = [pytest.mark.broker]


def queue_row(server, vhost: str, name: str) -> dict[str, str]:
    columns = ("name", "durable", "auto_delete", "exclusive", "arguments", "messages", "consumers")
    rows = [dict(zip(columns, row, strict=True)) for row in server.list_queues(*columns, vhost=vhost)]
    return next(row for row in rows if row["name"] == name)


def by_task(events: list[dict[str, Any]], ids: list[str]) -> dict[str, Counter[str]]:
    return {i: Counter(e["type"] for e in events if e.get("uuid") == i) for i in ids}


@pytest.mark.worker
@pytest.mark.timeout(150)
def test_every_event_sent_while_evtop_was_stopped_arrives_when_it_starts_again(rabbitmq_server, start_worker):
    with monitor_vhost(rabbitmq_server) as vhost, CeleryOracle(vhost.admin_url) as oracle:
        name = f"celeryev.dump-{uuid.uuid4().hex[:6]}"
        argv = ("-b", vhost.url, "--read-only", "--queue", name)
        start_worker(vhost.admin_url, pool="prefork")
        first = DumpProcess(*argv)
        try:
            first.wait_subscribed(vhost.admin_url)
        finally:
            status, err = first.stop()
        assert status == 130, err  # stopped with Ctrl-C
        queue = queue_row(rabbitmq_server, vhost.name, name)
        assert (queue["durable"], queue["auto_delete"], queue["exclusive"]) == ("true", "false", "false")
        for argument in ('"x-overflow","drop-head"', '"x-message-ttl",86400000', '"x-expires",86400000'):
            assert argument in queue["arguments"]
        assert f'"x-max-length",{DEFAULT_QUEUE_MAX_LENGTH}' in queue["arguments"]

        # evtop is away: the workers run tasks, and the queue keeps their events.
        ids = [send_task(vhost.admin_url, "evtop_test.add", (i, i)) for i in range(6)]
        ids += [
            send_task(vhost.admin_url, "evtop_test.fail", ("boom",)),
            send_task(vhost.admin_url, "evtop_test.flaky", (1,)),
        ]

        def finished(state: Any) -> bool:
            return all(state.tasks.get(i) is not None and state.tasks[i].state in READY_STATES for i in ids)

        oracle.wait_for(finished, timeout=60, message="the oracle never saw every task finish")
        with oracle.lock:
            expected = by_task(list(oracle.events), ids)
        assert int(queue_row(rabbitmq_server, vhost.name, name)["messages"]) > 0

        second = DumpProcess(*argv)
        try:
            second.wait_subscribed(vhost.admin_url)  # the probe comes after the backlog
            wait_until(lambda: by_task(second.events(), ids) == expected, 15, "evtop lost events")
        finally:
            status, err = second.stop()
        assert status == 130, err  # stopped with Ctrl-C
        assert "Traceback" not in err
        assert by_task(second.events(), ids) == expected  # every event, none twice
        assert sum(sum(counts.values()) for counts in expected.values()) >= 8 * 4
        assert queue_row(rabbitmq_server, vhost.name, name)["consumers"] == "0"  # kept for the next run


@pytest.mark.timeout(60)
def test_a_second_evtop_on_the_same_queue_waits_its_turn(rabbitmq_server):
    with monitor_vhost(rabbitmq_server) as vhost:
        EventPublisher(vhost.admin_url).close()  # a worker declared the exchange
        config = BrokerConfig(url=vhost.url, durable_queue=DurableQueue(f"celeryev.{uuid.uuid4().hex[:6]}"))
        first = LiveReceiver(vhost.admin_url, config=config).start()
        second = LiveReceiver(vhost.admin_url, config=config)
        second.thread.start()
        try:
            wait_until(
                lambda: (
                    "in exclusive use by another connection" in (second.status.snapshot().last_error or "")
                ),
                20,
                "the second consumer was not refused",
            )
            with EventPublisher(vhost.admin_url) as publisher:
                publisher.publish(
                    wire(task_event("task-received", "only-first", time.time(), name="proj.add"))
                )
            wait_until(lambda: "only-first" in first.state.tasks, 10)
            first.stop()
            second.wait_flowing()  # the first let go: the second takes over
            assert "only-first" not in second.state.tasks  # acknowledged by the first: not again
        finally:
            first.stop()
            second.stop()


@pytest.mark.timeout(60)
def test_a_queue_declared_with_other_arguments_is_one_line_and_exit_1(rabbitmq_server):
    with monitor_vhost(rabbitmq_server) as vhost:
        name = f"celeryev.{uuid.uuid4().hex[:6]}"
        EventPublisher(vhost.admin_url).close()  # a worker declared the exchange
        with Connection(vhost.admin_url) as connection:  # an evtop ran with --queue-max-length 5
            config = BrokerConfig(url=vhost.admin_url)
            durable_event_queue(connection, config, DurableQueue(name, max_length=5))(
                connection.channel()
            ).declare()
        run = subprocess.run(
            [sys.executable, "-m", "evtop", "--dump", "-b", vhost.url, "--queue", name],
            capture_output=True,
            text=True,
            timeout=40,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        assert run.returncode == 1, run.stderr
        error = [line for line in run.stderr.splitlines() if line.startswith("evtop: ") and "queue" in line]
        assert len(error) == 1, run.stderr
        assert f"queue '{name}' in vhost '{vhost.name}' already exists with another x-max-length" in error[0]
        assert "'100000'" in error[0] and "'5'" in error[0]  # what evtop asked for, what the queue has
        assert vhost.password not in run.stderr and "Traceback" not in run.stderr
        assert int(queue_row(rabbitmq_server, vhost.name, name)["consumers"]) == 0
