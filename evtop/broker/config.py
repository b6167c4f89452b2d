"""Everything needed to talk to the broker the way the workers do, in one value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kombu import Connection

from evtop.broker.urls import mask_url

DEFAULT_BROKER_URL = "amqp://guest@localhost//"


@dataclass(frozen=True)
class BrokerConfig:
    """Broker URL, transport options and the Celery naming settings evtop must match.

    The transport options (``global_keyprefix``, ``fanout_prefix``, ``fanout_patterns``,
    ...) must be the workers' own or the two sides subscribe to different channels.
    """

    url: str = DEFAULT_BROKER_URL
    transport_options: Mapping[str, Any] = field(default_factory=dict)
    event_exchange: str = "celeryev"
    event_queue_prefix: str = "celeryev"
    #: Seconds; ``x-message-ttl`` and ``x-expires`` of evtop's event queue (celery's defaults).
    event_queue_ttl: float | None = 5.0
    event_queue_expires: float | None = 60.0
    control_exchange: str = "celery"
    accept_msgpack: bool = False
    #: AMQP heartbeat in seconds, so a dead TCP peer is noticed instead of waited on forever.
    heartbeat: float = 20.0
    connect_timeout: float = 5.0

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    def connection(self) -> Connection:
        return Connection(
            self.url,
            transport_options=dict(self.transport_options),
            heartbeat=self.heartbeat,
            connect_timeout=self.connect_timeout,
        )
