"""Proof that the broker / worker / oracle test infrastructure in tests/support works.

Observed facts this file pins down (celery/kombu 5.7, Redis 7.0, RabbitMQ 3.10):
* prefork *and* solo workers publish their task-* events as JSON arrays with routing key
  ``task.multi`` (both pools run the worker's event loop, which is what enables buffering); no empty
  arrays are sent.  Client-side ``task-sent`` and ``worker-*`` events are single JSON objects.
"""

from __future__ import annotations

import contextlib
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Queue

from tests.support.oracle import CeleryOracle
from tests.support.servers import PostgreSQLServer, RabbitMQServer, RedisServer, pid_alive
from tests.support.workers import CeleryWorker, send_task

pytestmark = [pytest.mark.broker]


def _port_refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


# --------------------------------------------------------------------------------------------
# servers
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_redis_server_start_restart_stop():
    server = RedisServer()
    try:
        server.start()
        port, pid, data_dir = server.port, server.pid, server.dir
        assert pid is not None and pid_alive(pid)
        assert server.url == f"redis://127.0.0.1:{port}/0"
        assert server.cli("ping") == "PONG"
        assert server.cli("set", "k", "v") == "OK"

        server.restart()
        assert server.port == port and server.dir == data_dir
        assert server.pid != pid and not pid_alive(pid)
        assert server.cli("ping") == "PONG"
        assert server.cli("get", "k") == ""  # --save '' : an outage loses everything

        pid = server.pid
    finally:
        server.stop()
    assert pid is not None and not pid_alive(pid)
    assert _port_refuses(port)
    assert server.dir is None and not data_dir.exists()


@pytest.mark.postgres
@pytest.mark.timeout(60)
def test_postgresql_server_outage_keeps_its_data_and_stop_leaves_nothing():
    server = PostgreSQLServer()
    try:
        server.start()
        port, data_dir = server.port, server.dir
        postmaster = server.postmaster_pid()
        assert server.url == f"postgresql://evtop@127.0.0.1:{port}/postgres"
        server.sql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")
        server.stop_keeping_data()
        assert postmaster is not None and not pid_alive(postmaster) and _port_refuses(port)
        server.start()
        assert server.dir == data_dir and server.sql("SELECT n FROM kept") == "7"
        postmaster = server.postmaster_pid()
    finally:
        server.stop()
    assert postmaster is not None and not pid_alive(postmaster)
    assert _port_refuses(port)
    assert server.dir is None and not data_dir.exists()


@pytest.mark.timeout(90)
def test_rabbitmq_server_start_restart_stop():
    server = RabbitMQServer()
    assert not server.epmd_running()  # its private epmd port is free
    try:
        server.start()
        port, data_dir = server.port, server.dir
        assert server.url == f"amqp://guest:guest@127.0.0.1:{port}//"
        assert server.nodename == f"evtop-{port}@localhost"
        first_pids = server.all_pids()
        assert server.epmd_pids(), "rabbitmq should have started its own epmd"

        qname = f"evtop-infra-{uuid.uuid4().hex[:8]}"
        with Connection(server.url) as conn:
            Queue(qname, durable=True, channel=conn.default_channel).declare()
        assert [qname] in server.list_queues("name")

        server.restart()
        assert server.port == port and server.dir == data_dir
        # durable queue survives: same node name, same mnesia dir
        assert [qname] in server.list_queues("name")
        epmd = set(server.epmd_pids())
        assert not [p for p in first_pids if p not in epmd and pid_alive(p)], "old node processes left"
        with Connection(server.url) as conn:
            conn.ensure_connection(max_retries=1)
        all_pids = server.all_pids()
    finally:
        server.stop()
    assert all_pids and not [p for p in all_pids if pid_alive(p)], "processes left after stop()"
    assert not server.epmd_running()
    assert _port_refuses(port)
    assert not data_dir.exists()


# --------------------------------------------------------------------------------------------
# workers + oracle
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["prefork", "solo"])
def worker(request, broker_url: str, tmp_path_factory) -> Iterator[CeleryWorker]:
    pool = request.param
    kind = broker_url.split(":", 1)[0]
    with CeleryWorker(
        broker_url,
        pool=pool,
        concurrency=2 if pool == "prefork" else 1,
        name=f"{pool}-{kind}",
        log_dir=tmp_path_factory.mktemp(f"worker-{pool}-{kind}"),
    ) as w:
        yield w


@pytest.mark.worker
@pytest.mark.timeout(60)
def test_worker_task_states_match_oracle(worker: CeleryWorker, broker_url: str):
    assert worker.ping()
    assert worker.pid is not None and pid_alive(worker.pid)
    with CeleryOracle(broker_url) as oracle:
        add_id = send_task(broker_url, "evtop_test.add", (2, 3))
        fail_id = send_task(broker_url, "evtop_test.fail", ("boom",))
        flaky_id = send_task(broker_url, "evtop_test.flaky", (2,))
        parent_id = send_task(broker_url, "evtop_test.spawn_children", (2,))

        added = oracle.wait_task(add_id, "SUCCESS")
        assert added.result == "5"
        assert added.worker.hostname == worker.nodename

        failed = oracle.wait_task(fail_id, "FAILURE")
        assert "ValueError" in failed.exception and "boom" in failed.exception
        assert "Traceback" in failed.traceback and "ValueError: boom" in failed.traceback

        flaky = oracle.wait_task(flaky_id, "SUCCESS")
        assert flaky.result == "2"
        assert oracle.types_for(flaky_id).count("task-retried") == 2

        parent = oracle.wait_task(parent_id, "SUCCESS")

        def two_children_done(state):
            done = [t for t in state.tasks.values() if t.parent_id == parent_id and t.state == "SUCCESS"]
            return done if len(done) == 2 else None

        children = oracle.wait_for(two_children_done, message="(2 children of spawn_children succeeded)")
        assert {c.root_id for c in children} == {parent_id}
        assert {c.name for c in children} == {"evtop_test.add"}
        with oracle.lock:
            assert {c.id for c in parent.children} == {c.id for c in children}

        # the client's task-sent reached the oracle, and the worker was seen
        # (not necessarily first: the client publishes task-sent right *after* the task message)
        expected = {"task-sent", "task-received", "task-started", "task-succeeded"}
        assert expected <= set(oracle.types_for(add_id))
        with oracle.lock:
            assert worker.nodename in oracle.state.workers
        # events were copied before State saw them (State pops nothing from our copies)
        assert all("type" in e and "local_received" in e for e in oracle.events)


def _consume_raw_events(broker_url: str, worker: CeleryWorker, timeout: float = 20.0):
    """Send ``add`` tasks while a raw kombu consumer on ``celeryev`` collects (routing_key, body)."""
    is_redis = broker_url.startswith("redis")
    exchange = Exchange("celeryev", type="fanout" if is_redis else "topic", durable=True, auto_delete=False)
    name = f"evtop-test.{uuid.uuid4().hex}"
    queue = Queue(name, exchange, routing_key="#", exclusive=True, auto_delete=True, durable=False)
    seen: list[tuple[str, Any]] = []

    def on_message(body: Any, message: Any) -> None:
        seen.append((message.delivery_info.get("routing_key"), body))

    deadline = time.monotonic() + timeout
    with (
        Connection(broker_url) as conn,
        Consumer(conn, [queue], callbacks=[on_message], accept=["json"], no_ack=True),
    ):
        # redis only PSUBSCRIBEs on the first drain, so the first round may be lost: keep sending
        # until worker batches and a client task-sent have been seen
        while time.monotonic() < deadline:
            for i in range(5):
                send_task(broker_url, "evtop_test.add", (i, i))
            until = time.monotonic() + 1.0
            while time.monotonic() < until:
                with contextlib.suppress(TimeoutError):
                    conn.drain_events(timeout=0.1)
            ours = sum(
                isinstance(b, list) and any(e["hostname"] == worker.nodename for e in b) for _, b in seen
            )
            if ours >= 3 and any(rk == "task.sent" for rk, _ in seen):
                break
    return seen


@pytest.mark.worker
@pytest.mark.timeout(60)
def test_worker_task_events_arrive_batched(worker: CeleryWorker, broker_url: str, record_property):
    seen = _consume_raw_events(broker_url, worker)
    shapes = Counter(
        (rk, f"list[{len(body)}]") if isinstance(body, list) else (rk, "dict") for rk, body in seen
    )
    record_property("event_message_shapes", dict(shapes))
    print(f"{worker.pool} on {broker_url.split(':')[0]}: {dict(shapes)}")

    batches = [body for rk, body in seen if isinstance(body, list)]
    assert batches, f"no task.multi batch seen; shapes: {dict(shapes)}"
    # lists come only with routing key task.multi and only contain task events from our worker
    assert {rk for rk, body in seen if isinstance(body, list)} == {"task.multi"}
    assert not [body for rk, body in seen if rk == "task.multi" and not isinstance(body, list)]
    for batch in batches:
        for event in batch:
            assert event["type"].startswith("task-") and event["type"] != "task-sent"
    assert {e["type"] for b in batches for e in b} >= {"task-received", "task-started", "task-succeeded"}
    # the client-side task-sent is never batched
    assert any(rk == "task.sent" and isinstance(body, dict) for rk, body in seen)
