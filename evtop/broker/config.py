"""Everything needed to talk to the broker the way the workers do, in one value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from evtop.broker.urls import mask_url

if TYPE_CHECKING:
    from kombu import Connection

DEFAULT_BROKER_URL = "amqp://guest@localhost//"
#: ``--queue-ttl``: an outage longer than a day is a forgotten queue, not a blip.
DEFAULT_QUEUE_TTL = 86400.0
#: ``--queue-max-length``: about 100 MB of broker memory at 1 KB a message.
DEFAULT_QUEUE_MAX_LENGTH = 100_000


@dataclass(frozen=True)
class DurableQueue:
    """``--queue NAME`` (RabbitMQ): a queue that keeps events while evtop is away.

    ``ttl`` is both the age at which the broker drops an event and how long the queue
    outlives its last consumer: once no evtop has read it for that long, all it holds
    has expired anyway, so the broker deletes it instead of keeping an orphan.
    """

    name: str
    ttl: float = DEFAULT_QUEUE_TTL
    max_length: int = DEFAULT_QUEUE_MAX_LENGTH


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
    #: ``--queue``: consume this durable queue (with acks) instead of a queue of our own.
    durable_queue: DurableQueue | None = None
    #: AMQP heartbeat in seconds, so a dead TCP peer is noticed instead of waited on forever.
    heartbeat: float = 20.0
    connect_timeout: float = 5.0
    #: ``--management-url``: RabbitMQ's management HTTP API, the only way to list every
    #: queue (and its unacknowledged messages) there; queue depths read it when given.
    management_url: str | None = None

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    def connection(self) -> Connection:
        from kombu import Connection  # here: a replay or a --help never needs kombu

        return Connection(
            self.url,
            transport_options=dict(self.transport_options),
            heartbeat=self.heartbeat,
            connect_timeout=self.connect_timeout,
        )

    def brief_connection(self, timeout: float) -> Connection:
        """A connection for one short exchange: no heartbeats (the deadline bounds it), and
        ``timeout`` to connect and, on Redis, for each answer (redis-py otherwise waits
        forever for a blackholed server)."""
        from kombu import Connection

        config = replace(self, connect_timeout=timeout, heartbeat=0.0)
        if Connection(self.url).transport.driver_type == "redis":
            config = replace(config, transport_options={"socket_timeout": timeout, **self.transport_options})
        return config.connection()
