"""The Receiver on kombu's in-process memory transport, and its retry policy.

Wire compatibility is proven against real brokers in tests/integration; these tests pin
the consumer's own behaviour quickly: poison never reconnects, read-only never publishes,
a dead broker is retried with capped jittered backoff and reported in the status.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from dataclasses import replace

import pytest
from kombu import Connection, Exchange, Queue

from evtop import State
from evtop.broker.config import BrokerConfig, DurableQueue
from evtop.broker.status import Backoff, ConnectionStatus, Phase
from evtop.events.pipeline import Ingest
from evtop.events.receiver import Receiver
from tests.support.events import task_event, wire
from tests.support.live import LiveReceiver, wait_until
from tests.support.publish import EventPublisher
from tests.support.servers import free_port


def memory_url() -> str:
    # A virtual host of its own per test keeps the process-wide memory broker isolated.
    return f"memory://localhost/{uuid.uuid4().hex}"


def memory_config(url: str) -> BrokerConfig:
    return BrokerConfig(url=url, transport_options={"polling_interval": 0.01})


@pytest.fixture
def live():
    url = memory_url()
    receiver = LiveReceiver(url, config=memory_config(url)).start(timeout=10)
    yield receiver
    receiver.stop()


def test_events_flow_into_state(live):
    with EventPublisher(live.url) as publisher:
        publisher.publish(
            [
                wire(task_event("task-received", "t1", time.time(), name="proj.add", args="(1, 2)")),
                wire(task_event("task-succeeded", "t1", time.time(), result="3", runtime=0.01)),
            ]
        )
        publisher.publish(
            {"type": "worker-heartbeat", "hostname": "celery@test", "freq": 2.0, "timestamp": 1.0e9},
            routing_key="worker.heartbeat",
        )
    wait_until(lambda: "t1" in live.state.tasks and live.state.tasks["t1"].state == "SUCCESS", 5)
    wait_until(lambda: "celery@test" in live.state.workers, 5)
    assert live.state.tasks["t1"].result == "3"
    assert live.ingest.stats.balanced


def test_poison_is_counted_and_never_reconnects(live):
    with EventPublisher(live.url) as publisher:
        for _ in range(20):
            publisher.publish_raw(b"\xff not json", "application/json")
            publisher.publish_raw(b"\x80\x04K\x01.", "application/x-python-serialize")
            publisher.publish({"no": "type"})
            publisher.publish([1, 2, 3])
        publisher.publish(wire(task_event("task-started", "after-poison", time.time())))
    wait_until(lambda: "after-poison" in live.state.tasks, 5)
    stats = live.ingest.stats
    assert stats.dropped["decode_error"] == 20 and stats.dropped["disallowed_content"] == 20
    assert stats.dropped["unknown_type"] == 20 and stats.dropped["not_an_object"] == 60
    assert stats.balanced
    snapshot = live.status.snapshot()
    assert snapshot.phase is Phase.CONNECTED and snapshot.reconnects == 0 and snapshot.outages == ()


def _pidbox_listener(url: str) -> tuple[Connection, list[dict]]:
    """A consumer on celery.pidbox, standing in for a worker, that records requests."""
    seen: list[dict] = []
    connection = Connection(url, transport_options={"polling_interval": 0.01})
    exchange = Exchange("celery.pidbox", type="fanout", durable=False, auto_delete=False)
    queue = Queue(f"listener.{uuid.uuid4().hex}", exchange=exchange, auto_delete=True)
    consumer = connection.Consumer(
        queue, callbacks=[lambda body, message: seen.append(body)], accept=["json"]
    )
    consumer.consume()
    return connection, seen


def _drain_until(connection: Connection, predicate, timeout: float) -> None:
    def step():
        with contextlib.suppress(TimeoutError):
            connection.drain_events(timeout=0.05)
        return predicate()

    wait_until(step, timeout)


def test_wakeup_broadcast_and_read_only_silence():
    url = memory_url()
    listener, seen = _pidbox_listener(url)
    try:
        # A read-only receiver, fully subscribed first: if it published, it would arrive first.
        quiet = LiveReceiver(url, config=memory_config(url), wakeup=False).start(timeout=10)
        loud = LiveReceiver(url, config=memory_config(url), wakeup=True).start(timeout=10)
        _drain_until(listener, lambda: len(seen) >= 1, 5)
        quiet.stop()
        loud.stop()
        assert [body["method"] for body in seen] == ["heartbeat"]
        assert seen[0] == {
            "method": "heartbeat",
            "arguments": {},
            "destination": None,
            "pattern": None,
            "matcher": None,
        }
    finally:
        listener.release()


def test_dead_broker_is_retried_with_backoff_and_reported():
    port = free_port()
    status = ConnectionStatus(f"redis://127.0.0.1:{port}/0")
    transitions = []
    status.subscribe(transitions.append)
    ingest = Ingest(State().event)
    config = BrokerConfig(url=f"redis://:secretpw@127.0.0.1:{port}/0", connect_timeout=0.5)
    receiver = Receiver(config, ingest, status, backoff=Backoff(base=0.01, cap=0.05))
    stop = threading.Event()
    thread = threading.Thread(target=receiver.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: status.snapshot().attempt >= 3, 20)
        retries = [snap for snap in list(transitions) if snap.retry_at is not None]
        assert len(retries) >= 2
        for snap in retries:
            assert snap.phase is Phase.CONNECTING and snap.connected_since is None
            assert "Connection refused" in (snap.last_error or "")
            assert snap.outages == ()  # never connected, so nothing was missed
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert status.snapshot().phase is Phase.STOPPED
    assert "secretpw" not in repr(status.snapshot())


def test_backoff_is_capped_jittered_and_resets():
    draws = iter([0.0, 1.0] * 20)
    backoff = Backoff(base=1.0, factor=2.0, cap=8.0, jitter=0.5, rng=lambda: next(draws))
    delays = [backoff.next_delay() for _ in range(8)]
    assert delays[:4] == [0.5, 2.0, 2.0, 8.0]  # [d/2, d] for d = 1, 2, 4, 8
    assert max(delays) == 8.0 and min(delays[4:]) == 4.0  # capped at 8 (half of it with jitter)
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_status_records_outage_windows():
    now = [100.0]
    status = ConnectionStatus("amqp://guest:**@h//", clock=lambda: now[0])
    status.connecting()
    status.connected()
    now[0] = 130.0
    status.lost("ConnectionResetError: reset by peer", 2.0)
    snapshot = status.snapshot()
    assert snapshot.phase is Phase.RECONNECTING and snapshot.retry_in(131.0) == 1.0
    assert snapshot.outages[-1].started == 130.0 and snapshot.outages[-1].ended is None
    now[0] = 135.0
    status.connected()
    snapshot = status.snapshot()
    assert snapshot.reconnects == 1 and snapshot.outages[-1].ended == 135.0
    assert snapshot.outages[-1].reason.startswith("ConnectionResetError")


def test_ingest_handler_exception_never_reaches_the_consumer_loop(live):
    live.state.handlers["task"] = lambda subject, event: 1 / 0  # a State extension that breaks
    with EventPublisher(live.url) as publisher:
        publisher.publish(wire(task_event("task-started", "boom", time.time())))
        publisher.publish(
            {"type": "worker-online", "hostname": "celery@ok", "timestamp": 1.0e9},
            routing_key="worker.online",
        )
    wait_until(lambda: "celery@ok" in live.state.workers, 5)
    assert live.ingest.stats.dropped["handler_error"] == 1
    assert live.status.snapshot().reconnects == 0


def test_messages_are_json_decoded_by_evtop_not_kombu(live):
    """A body kombu would decode (yaml is registered in kombu) is refused by evtop."""
    with EventPublisher(live.url) as publisher:
        publisher.publish_raw(
            json.dumps(wire(task_event("task-started", "y", time.time()))).encode(), "application/x-yaml"
        )
        publisher.publish(wire(task_event("task-started", "z", time.time())))
    wait_until(lambda: "z" in live.state.tasks, 5)
    assert "y" not in live.state.tasks and live.ingest.stats.dropped["disallowed_content"] == 1


def test_until_the_event_exchange_exists_the_receiver_says_so_once_and_waits(caplog):
    caplog.set_level(logging.DEBUG, logger="evtop.events.receiver")
    url = memory_url()
    config = replace(memory_config(url), event_exchange=f"ev-{uuid.uuid4().hex}")
    live = LiveReceiver(url, config=config, wakeup=False, backoff=Backoff(base=0.01, cap=0.05))
    live.thread.start()
    try:
        waiting = f"waiting for the {config.event_exchange} exchange"
        wait_until(lambda: live.status.snapshot().attempt >= 5, 10)
        assert waiting in (live.status.snapshot().last_error or "")
        said = [r for r in caplog.records if waiting in r.getMessage()]
        assert [r.levelno for r in said[:2]] == [logging.WARNING, logging.DEBUG]
        assert sum(r.levelno == logging.WARNING for r in said) == 1
        live.wait_flowing(timeout=10)  # the probes' sender declares the exchange, as a worker does
    finally:
        live.stop()
    assert live.status.snapshot().reconnects == 0 and live.status.snapshot().outages == ()


def test_a_durable_queue_keeps_events_while_the_receiver_is_away_and_acknowledges_them():
    url = memory_url()
    config = replace(memory_config(url), durable_queue=DurableQueue(f"celeryev.{uuid.uuid4().hex}"))
    LiveReceiver(url, config=config).start(timeout=10).stop()  # declared, then away
    with EventPublisher(url) as publisher:
        for i in range(30):
            publisher.publish(wire(task_event("task-received", f"kept-{i}", time.time(), name="proj.add")))
        publisher.publish_raw(b"{not json", "application/json")
    back = LiveReceiver(url, config=config).start(timeout=10)  # its probe comes after the backlog
    back.stop()
    assert sorted(back.state.tasks) == sorted(f"kept-{i}" for i in range(30))
    assert back.ingest.stats.dropped["decode_error"] == 1
    again = LiveReceiver(url, config=config).start(timeout=10)
    again.stop()
    assert not again.state.tasks and again.ingest.stats.dropped_total == 0  # all acknowledged, poison too
