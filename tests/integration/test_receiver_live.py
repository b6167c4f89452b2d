"""evtop's Receiver + State against real brokers and real ``celery worker -E`` processes.

celery's own receiver and State (the oracle) listen on the same broker at the same time;
both must end with the same tasks, states and fields. Set EVTOP_CAPTURE_DIR to also save
the stream evtop received (tests/data/captured-*.jsonl come from such runs).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from pathlib import Path

import pytest
from kombu import Connection, Exchange, Queue

from evtop.events.states import READY_STATES
from tests.support.events import task_event, wire
from tests.support.live import LiveReceiver, wait_until
from tests.support.oracle import CeleryOracle
from tests.support.publish import EventPublisher
from tests.support.workers import app_for, send_task

pytestmark = [pytest.mark.broker]

#: Fields that legitimately differ between two receivers: receive times, and the clock
#: the receiver assigns to client (task-sent) events from its own Lamport clock.
RECEIVER_LOCAL = {"clock", "local_received"}
WORKER_FIELDS = ("hostname", "pid", "freq", "active", "processed", "loadavg", "sw_ident", "sw_ver", "sw_sys")


def task_fields(task) -> dict:
    view = {k: v for k, v in task.as_dict().items() if k not in RECEIVER_LOCAL}
    view["worker"] = task.worker.hostname if task.worker is not None else None
    view["children"] = sorted(view["children"])
    for extra in ("hostname", "pid", "utcoffset", "type", "queue", "terminated", "signum", "expired"):
        view[extra] = getattr(task, extra, "<unset>")
    return view


def capture(live: LiveReceiver, name: str) -> None:
    target = os.environ.get("EVTOP_CAPTURE_DIR")
    if not target:
        return
    path = Path(target) / f"captured-{name}.jsonl"
    with path.open("w") as handle:
        for event in live.events:
            handle.write(
                json.dumps(
                    {"v": 1, "kind": "event", "received": event["local_received"], "event": event},
                    ensure_ascii=True,
                )
                + "\n"
            )


@pytest.mark.worker
@pytest.mark.timeout(150)
@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_same_tasks_and_fields_as_celerys_receiver(broker_url, broker_kind, pool, start_worker):
    capture(same_as_celerys(broker_url, pool, "thread", start_worker), f"{broker_kind}-{pool}")


@pytest.mark.worker
@pytest.mark.timeout(150)
def test_through_the_reader_process_the_same_as_celerys_receiver(redis_server, start_worker):
    """On Redis, where evtop reads through it by default (RabbitMQ's events go through it in
    the poison test)."""
    same_as_celerys(redis_server.url, "prefork", "process", start_worker)


def same_as_celerys(broker_url: str, pool: str, reader: str, start_worker) -> LiveReceiver:
    """A real worker's tasks of every kind, and a revoke: evtop's State ends as celery's."""
    with CeleryOracle(broker_url) as oracle, LiveReceiver(broker_url, reader=reader) as live:
        worker = start_worker(broker_url, pool=pool, concurrency=2 if pool == "prefork" else None)
        app = app_for(broker_url)
        ids = [
            send_task(broker_url, "evtop_test.add", (2, 2)),
            send_task(broker_url, "evtop_test.fail", ("boom",)),
            send_task(broker_url, "evtop_test.flaky", (2,)),
            send_task(broker_url, "evtop_test.spawn_children", (2,)),
            send_task(broker_url, "evtop_test.echo", ("unicode ✓ \u202e text",)),
        ]
        doomed = send_task(broker_url, "evtop_test.sleep", (5,), countdown=3)
        oracle.wait_task(doomed, "RECEIVED", timeout=20)
        app.control.revoke(doomed)
        ids.append(doomed)

        def all_ready(state) -> bool:
            tasks = [state.tasks.get(i) for i in ids]
            if any(t is None or t.state not in READY_STATES for t in tasks):
                return False
            children = list(tasks[3].children)  # spawn_children's; a retried task is its own child
            return len(children) == 2 and all(c.state == "SUCCESS" for c in children)

        oracle.wait_for(all_ready, timeout=60, message="oracle never saw every task finish")
        wait_until(lambda: all_ready(live.state), 20, "evtop never saw every task finish")

        def views() -> tuple[dict, dict]:
            with oracle.lock:
                expected = {uuid_: task_fields(task) for uuid_, task in oracle.state.tasks.items()}
            with live.lock:
                actual = {uuid_: task_fields(task) for uuid_, task in live.state.tasks.items()}
            return expected, actual

        # Late events of a batch may still be in flight on one side.
        wait_until(lambda: views()[0] == views()[1], 10, "evtop's tasks never matched the oracle's")
        expected, actual = views()
        assert actual == expected
        with oracle.lock:
            oracle_workers = {
                h: {f: getattr(w, f, None) for f in WORKER_FIELDS} for h, w in oracle.state.workers.items()
            }
        assert live.state.tasks[ids[0]].result == "4"
        assert "ValueError" in live.state.tasks[ids[1]].exception and live.state.tasks[ids[1]].traceback
        assert live.state.tasks[ids[2]].retries == 2 and live.state.tasks[ids[2]].state == "SUCCESS"
        assert live.state.tasks[doomed].state == "REVOKED"
        assert live.state.task_types() == oracle.state.task_types()
        host = worker.nodename
        assert {f: getattr(live.state.workers[host], f, None) for f in WORKER_FIELDS} == oracle_workers[host]
        assert live.state.workers[host].alive
        stats = live.ingest.stats
        assert stats.balanced and stats.dropped_total == 0
        assert live.status.snapshot().reconnects == 0
    return live


@pytest.mark.worker
@pytest.mark.timeout(90)
@pytest.mark.parametrize("reader", ["thread", "process"])
def test_poison_on_the_wire_is_counted_without_reconnecting(
    broker_url, broker_kind, broker_server, start_worker, reader
):
    with LiveReceiver(broker_url, reader=reader) as live:
        start_worker(broker_url, pool="solo")
        with EventPublisher(broker_url) as publisher:
            for _ in range(10):
                publisher.publish_raw(b"{not json", "application/json")
                publisher.publish_raw(b"\x80\x04K\x01.", "application/x-python-serialize")
                publisher.publish(
                    [{"type": 1}, "x", wire(task_event("task-started", "ok-between-poison", time.time()))]
                )
        if broker_kind == "redis":  # payloads kombu itself cannot unpack
            for payload in ("not an envelope", "5", "[" * 50_000, '{"properties": 5}'):
                broker_server.cli("PUBLISH", "/0.celeryev/task.multi", payload)
        done = send_task(broker_url, "evtop_test.add", (1, 1))
        wait_until(lambda: done in live.state.tasks and live.state.tasks[done].state == "SUCCESS", 30)
        stats = live.ingest.stats
        assert stats.dropped["decode_error"] >= 10 and stats.dropped["disallowed_content"] == 10
        assert stats.dropped["unknown_type"] == 10 and stats.dropped["not_an_object"] == 10
        if broker_kind == "redis":
            assert stats.dropped["decode_error"] == 14
        assert "ok-between-poison" in live.state.tasks
        assert stats.balanced
        assert live.status.snapshot().reconnects == 0


@pytest.mark.timeout(120)
def test_reconnects_after_a_broker_restart(broker_url, broker_server):
    reconnects_after_a_restart(broker_url, broker_server, "thread")


@pytest.mark.timeout(120)
def test_the_reader_process_reconnects_after_a_redis_restart(redis_server):
    reconnects_after_a_restart(redis_server.url, redis_server, "process")


def reconnects_after_a_restart(broker_url: str, broker_server, reader: str) -> None:
    with LiveReceiver(broker_url, reader=reader) as live:
        broker_server.restart()
        wait_until(lambda: live.status.snapshot().reconnects >= 1, 60, "evtop did not reconnect")
        live.wait_flowing(timeout=20)
        with EventPublisher(broker_url) as publisher:
            publisher.publish(
                wire(task_event("task-received", "after-restart", time.time(), name="proj.add"))
            )
        wait_until(lambda: "after-restart" in live.state.tasks, 10)
        outage = live.status.snapshot().outages[-1]
        assert outage.ended is not None and outage.ended >= outage.started
        assert live.ingest.stats.balanced


@pytest.mark.timeout(60)
def test_rabbitmq_queue_is_exclusive_with_celerys_ttl_and_expiry(rabbitmq_server):
    with LiveReceiver(rabbitmq_server.url):
        rows = [
            r
            for r in rabbitmq_server.list_queues(
                "name", "durable", "auto_delete", "exclusive", "arguments", "consumers"
            )
            if r[0].startswith("celeryev.")
        ]
        assert len(rows) == 1
        _name, durable, auto_delete, exclusive, arguments, consumers = rows[0]
        assert (durable, auto_delete, exclusive, consumers) == ("false", "true", "true", "1")
        assert "x-message-ttl" in arguments and "5000" in arguments
        assert "x-expires" in arguments and "60000" in arguments
    wait_until(
        lambda: not [r for r in rabbitmq_server.list_queues("name") if r[0].startswith("celeryev.")], 20
    )


@pytest.mark.timeout(90)
def test_a_worker_without_dash_e_is_heard_and_the_tui_says_why_no_tasks(broker_url, start_worker):
    """What the "no task events: ... without -E?" hint of every mode rests on: heartbeats
    still come, and their ``processed`` count shows the work no task event shows."""
    with LiveReceiver(broker_url) as live:
        health = live.ingest.health
        worker = start_worker(broker_url, pool="solo", task_events=False)
        wait_until(lambda: worker.nodename in live.state.workers, 20, "no heartbeat from the worker")
        assert health.without_task_events() == []  # idle so far: no alarm
        task_id = send_task(broker_url, "evtop_test.add", (2, 2))
        wait_until(lambda: f"{task_id}] succeeded" in worker.log_text(), 30, "the task never ran")
        wait_until(
            lambda: health.without_task_events() == [worker.nodename],
            10,
            "the worker's heartbeats never showed the unseen task",
        )
        with live.lock:  # the client's task-sent is there; nothing came from the worker
            assert live.state.tasks[task_id].state == "PENDING"


@pytest.mark.timeout(60)
def test_read_only_publishes_nothing(broker_url):
    """A pidbox listener (standing in for a worker) hears only the non-read-only wakeup."""
    heard: list[dict] = []
    exchange = Exchange("celery.pidbox", type="fanout", durable=False, auto_delete=False)
    with Connection(broker_url) as listener:
        queue = Queue(f"listener.{uuid.uuid4().hex}", exchange=exchange, auto_delete=True, exclusive=True)
        consumer = listener.Consumer(queue, callbacks=[lambda body, msg: heard.append(body)], accept=["json"])
        consumer.consume()

        def drained() -> list[dict]:
            with contextlib.suppress(TimeoutError):
                listener.drain_events(timeout=0.1)
            return heard

        def drain_until_idle() -> None:
            """Deliver everything already sent: stop after 0.5 s without a message."""
            count = -1
            while count != len(heard):
                count = len(heard)
                for _ in range(5):
                    drained()

        drained()  # on Redis the listener's PSUBSCRIBE is sent by its first drain
        with LiveReceiver(broker_url, wakeup=False):  # what --read-only builds
            # It is subscribed and events flow: a wakeup would have been published by now.
            drain_until_idle()
            assert heard == []
            with LiveReceiver(broker_url, wakeup=True):  # proves the listener hears wakeups
                wait_until(drained, 20, "the non-read-only receiver's wakeup never arrived")
            drain_until_idle()
        assert [body["method"] for body in heard] == ["heartbeat"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "options",
    [
        {"global_keyprefix": "myapp:"},
        {"fanout_patterns": False},
        {"fanout_prefix": False},
        {"fanout_prefix": "/custom."},
    ],
    ids=["global_keyprefix", "no-fanout-patterns", "no-fanout-prefix", "custom-fanout-prefix"],
)
def test_redis_subscribes_where_kombu_publishes(redis_server, options):
    """Each fanout transport option changes the channel; evtop must follow the workers'."""
    from evtop.broker.config import BrokerConfig

    config = BrokerConfig(url=redis_server.url, transport_options=options)
    with LiveReceiver(redis_server.url, config=config) as live:  # start() proves probes flow
        with EventPublisher(redis_server.url, transport_options=options) as publisher:
            publisher.publish(wire(task_event("task-received", "with-options", time.time(), name="proj.add")))
        wait_until(lambda: "with-options" in live.state.tasks, 10)
    # ...and with defaults on one side only, nothing arrives: the option really matters.
    with LiveReceiver(redis_server.url) as plain:
        with EventPublisher(redis_server.url, transport_options=options) as publisher:
            publisher.publish(wire(task_event("task-received", "elsewhere", time.time(), name="proj.add")))
            publisher.publish(
                wire(task_event("task-received", "marker", time.time(), name="proj.add")),
                routing_key="task.multi",
            )
        with EventPublisher(redis_server.url) as default_publisher:
            default_publisher.publish(
                wire(task_event("task-received", "marker", time.time(), name="proj.add"))
            )
        wait_until(lambda: "marker" in plain.state.tasks, 10)
        if options != {"fanout_patterns": False}:  # a pattern-less publish also reaches '/*' subscribers
            assert "elsewhere" not in plain.state.tasks


@pytest.mark.timeout(60)
@pytest.mark.parametrize("parser", ["python", "hiredis"])
def test_redis_events_arrive_through_either_resp_parser(redis_server, parser, monkeypatch):
    """hiredis's parser when installed, the pure-Python one otherwise: both carry bursts,
    and messages larger than one socket read, without a reconnect."""
    from evtop.broker import resp

    if parser == "hiredis":
        pytest.importorskip("hiredis")
    chosen = resp.HiredisParser if parser == "hiredis" else resp.RespParser
    made: list[resp.Parser] = []
    monkeypatch.setattr(resp, "default_parser", lambda: made.append(chosen()) or made[-1])
    with LiveReceiver(redis_server.url) as live:
        assert [type(p) for p in made] == [chosen]
        ids = [f"burst-{i}" for i in range(2000)]
        with EventPublisher(redis_server.url) as publisher:
            for start in range(0, len(ids), 20):
                publisher.publish(
                    [task_event("task-received", i, name="proj.add") for i in ids[start : start + 20]]
                )
            publisher.publish(task_event("task-received", "large", name="proj.add", args="x" * 600_000))
            publisher.publish(task_event("task-started", "after-large"))
        wait_until(lambda: "after-large" in live.state.tasks, 20, "the events after the large one never came")
        assert all(i in live.state.tasks for i in ids) and "large" in live.state.tasks
        assert live.ingest.stats.balanced and live.ingest.stats.dropped_total == 0
        assert live.status.snapshot().reconnects == 0


@pytest.mark.timeout(90)
def test_a_frozen_redis_is_detected_by_ping_and_survived(redis_server):
    """A server that stops answering (no FIN, no RST) is noticed within the ping interval."""
    import os
    import signal

    from evtop.broker.config import BrokerConfig

    config = BrokerConfig(url=redis_server.url, transport_options={"health_check_interval": 1})
    with LiveReceiver(redis_server.url, config=config) as live:
        os.kill(redis_server.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: live.status.snapshot().outages, 15, "the frozen server went unnoticed")
            assert "PING" in live.status.snapshot().outages[-1].reason
        finally:
            os.kill(redis_server.pid, signal.SIGCONT)
        wait_until(lambda: live.status.snapshot().reconnects >= 1, 30, "evtop did not reconnect")
        live.wait_flowing(timeout=20)
        assert live.ingest.stats.balanced
