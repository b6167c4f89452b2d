"""Publish arbitrary event messages the way Celery does (or deliberately not)."""

from __future__ import annotations

import json
import time
from typing import Any

from kombu import Connection, Exchange, Producer


def event_exchange(connection: Connection, name: str = "celeryev") -> Exchange:
    kind = "fanout" if connection.transport.driver_type == "redis" else "topic"
    return Exchange(name, type=kind)


class EventPublisher:
    """A kombu producer on the event exchange; ``publish_raw`` sends bytes of any content type."""

    def __init__(
        self, url: str, exchange: str = "celeryev", transport_options: dict[str, Any] | None = None
    ) -> None:
        self.connection = Connection(url, transport_options=transport_options or {})
        self.connection.connect()
        self.exchange = event_exchange(self.connection, exchange)
        self.producer = Producer(self.connection.default_channel)
        self.exchange(self.producer.channel).declare()

    def publish(self, body: Any, routing_key: str = "task.multi", hostname: str = "celery@test") -> None:
        self.producer.publish(
            body,
            exchange=self.exchange,
            routing_key=routing_key,
            serializer="json",
            headers={"hostname": hostname},
        )

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


def task_event(type_: str, uuid: str, hostname: str = "celery@test", **fields: Any) -> dict[str, Any]:
    return {
        "type": type_,
        "uuid": uuid,
        "hostname": hostname,
        "timestamp": time.time(),
        "utcoffset": 0,
        "pid": 1,
        "clock": 1,
        **fields,
    }


def json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()
