"""QueueWatch on kombu's memory:// broker (a RabbitMQ-like one: it lists no queues, so
the queues read are the workers' and the named); Redis and RabbitMQ themselves are in
tests/integration/test_tui_workers_live.py and test_queues_live.py."""

from __future__ import annotations

import threading
import uuid

from kombu import Connection, Exchange, Producer, Queue

from evtop.broker.config import BrokerConfig
from evtop.control.queuewatch import NO_NAMES, READ_ONLY_WORKERS, QueueWatch
from tests.unit.control.fakes import TRANSPORT_OPTIONS, FakeWorker, Out, memory_config


def ignore(reading) -> None:
    """Readings taken with read() are looked at directly."""


def unique() -> str:
    """memory:// shares its queues across virtual hosts: a name of its own per test."""
    return f"jobs-{uuid.uuid4().hex[:8]}"


def publish(config, queue: str, count: int) -> None:
    with Connection(config.url, transport_options=TRANSPORT_OPTIONS) as connection:
        exchange = Exchange(queue, "direct")
        Queue(queue, exchange, routing_key=queue)(connection.default_channel).declare()
        producer = Producer(connection.default_channel)
        for _ in range(count):
            producer.publish({"x": 1}, exchange=exchange, routing_key=queue, serializer="json")


def test_depths_of_the_named_queues_and_their_change():
    jobs = unique()
    config = memory_config()
    publish(config, jobs, 2)
    now = [100.0]
    watch = QueueWatch(config, ignore, ask_workers=False, names=lambda: [jobs, "gone"], clock=lambda: now[0])
    first = watch.read()
    assert not first.failed and not first.workers_known and first.note == ""
    assert [(r.name, r.messages, r.consumers, r.change) for r in first.rows] == [(jobs, 2, 0, None)]
    assert first.missing == ("gone",)
    publish(config, jobs, 3)
    now[0] += 2.0
    (row,) = watch.read().rows
    assert (row.messages, row.change, row.workers) == (5, 1.5, [])


def test_read_only_asks_no_worker_and_says_so():
    config = memory_config()
    with FakeWorker(config, "celery@w1") as fake:
        reading = QueueWatch(config, ignore, read_only=True).read()
    assert fake.requests == [] and reading.rows == () and not reading.failed
    assert reading.note == f"{READ_ONLY_WORKERS}; {NO_NAMES}"


def test_the_workers_name_the_queues_and_are_asked_again_only_now_and_then():
    jobs = unique()
    config = memory_config()
    publish(config, jobs, 1)

    def queues(worker, request):
        return [Out({worker.name: [{"name": jobs}, {"name": "celery@w1.celery.pidbox"}]})]

    with FakeWorker(config, "celery@w1", answer=queues) as fake:
        watch = QueueWatch(config, ignore)
        (row,) = watch.read().rows
        assert (row.name, row.messages, row.workers) == (jobs, 1, ["celery@w1"])
        watch.read()
    assert [r["method"] for r in fake.requests] == ["active_queues"]


def test_an_unreachable_broker_is_a_failed_reading_not_an_exception():
    reading = QueueWatch(BrokerConfig(url="redis://127.0.0.1:1/0", connect_timeout=0.5), ignore).read()
    assert reading.failed and "cannot reach redis://127.0.0.1:1/0" in reading.note


def test_the_thread_reads_while_wanted_and_stops():
    jobs = unique()
    config = memory_config()
    publish(config, jobs, 1)
    got = threading.Event()
    readings = []

    def deliver(reading):
        readings.append(reading)
        got.set()

    watch = QueueWatch(config, deliver, ask_workers=False, names=lambda: [jobs], interval=0.05)
    watch.wanted(False)
    assert not got.wait(0.2)  # not wanted: nothing read, no thread
    watch.wanted(True)
    assert got.wait(10)
    watch.stop()
    count = len(readings)
    assert not watch._thread.is_alive() and readings[0].rows[0].messages == 1
    assert len(readings) == count
