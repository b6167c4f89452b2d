"""Fake pidbox workers on kombu's in-process ``memory://`` transport, for control unit tests.

A :class:`FakeWorker` consumes ``celery.pidbox`` like a worker's mailbox node and answers
each request with whatever its ``answer`` function returns (any body, ticket, delay or
serializer), so the client's deadline, ticket matching and decoding can be driven exactly.
Real workers on real brokers are in tests/integration/test_control_live.py.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kombu import Connection, Consumer, Producer, Queue

from evtop.broker.config import BrokerConfig
from evtop.broker.entities import pidbox_exchange, reply_exchange

TRANSPORT_OPTIONS = {"polling_interval": 0.01}


def memory_config() -> BrokerConfig:
    """A broker of its own per test: a fresh virtual host of the process-wide memory broker."""
    return BrokerConfig(url=f"memory://localhost/{uuid.uuid4().hex}", transport_options=TRANSPORT_OPTIONS)


@dataclass
class Out:
    """One message a fake worker publishes back; ``ticket=None`` means the request's."""

    body: Any
    ticket: str | None = None
    delay: float = 0.0
    serializer: str = "json"


def pong(worker: FakeWorker, request: dict[str, Any]) -> list[Out]:
    return [Out({worker.name: {"ok": "pong"}})]


@dataclass
class FakeWorker:
    config: BrokerConfig
    name: str
    answer: Callable[[FakeWorker, dict[str, Any]], list[Out]] = pong
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FakeWorker:
        self._thread.start()
        assert self._ready.wait(5), "fake worker did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        with Connection(self.config.url, transport_options=TRANSPORT_OPTIONS) as conn:
            channel = conn.channel()
            # kombu's memory transport shares fanout bindings across virtual hosts: a queue
            # of its own per fake, deleted on exit, keeps other tests' requests out.
            name = f"{self.name}.{uuid.uuid4().hex}.celery.pidbox"
            queue = Queue(name, exchange=pidbox_exchange("celery"), auto_delete=True)(channel)
            consumer = Consumer(channel, [queue], no_ack=True, on_message=self._on_request)
            consumer.consume()
            self._producer = Producer(conn.channel())
            self._ready.set()
            try:
                while not self._stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        conn.drain_events(timeout=0.02)
            finally:
                queue.delete()

    def _on_request(self, message: Any) -> None:
        request = json.loads(message.body)
        self.requests.append(request)
        self.headers.append(dict(message.headers))
        destination = request.get("destination")
        if (destination and self.name not in destination) or "reply_to" not in request:
            return
        for out in self.answer(self, request):
            if out.delay:
                time.sleep(out.delay)
            self._producer.publish(
                out.body,
                exchange=reply_exchange("celery"),
                routing_key=request["reply_to"]["routing_key"],
                headers={"ticket": out.ticket or request["ticket"], "clock": 1},
                serializer=out.serializer,
                declare=[reply_exchange("celery")],
            )
