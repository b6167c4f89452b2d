"""Publish events to a real broker as Celery does (evtop's own sender), or deliberately not."""

from __future__ import annotations

import json
from typing import Any

from kombu import Connection

from evtop.broker.dispatch import BATCH_KEY, EventSender


class EventPublisher:
    """evtop's own event sender on a real broker; ``publish_raw`` sends bytes of any content type."""

    def __init__(
        self, url: str, exchange: str = "celeryev", transport_options: dict[str, Any] | None = None
    ) -> None:
        self.connection = Connection(url, transport_options=transport_options or {})
        self.connection.connect()
        self.sender = EventSender(self.connection, exchange)
        self.producer = self.sender.producer
        self.exchange = self.sender.exchange
        self.sender.declare()

    def publish(self, body: Any, routing_key: str = BATCH_KEY, hostname: str = "celery@test") -> None:
        """``body`` as is (a test may send what no worker would), as a batch unless routed."""
        self.sender.send(body, hostname, routing_key)

    def publish_raw(
        self,
        body: bytes,
        content_type: str,
        routing_key: str = "task.multi",
        content_encoding: str = "binary",
        headers: dict[str, Any] | None = None,
    ) -> None:
        self.producer.publish(
            body,
            exchange=self.exchange,
            routing_key=routing_key,
            content_type=content_type,
            content_encoding=content_encoding,
            headers=headers or {},
        )

    def close(self) -> None:
        self.connection.release()

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()
