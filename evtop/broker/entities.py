"""Exchange and queue declarations that must match Celery's exactly.

A mismatch in type or flags makes RabbitMQ refuse the declaration (406), and on Redis a
wrong exchange type means listening on a list nobody writes to. What Celery declares:

* ``celeryev`` (the ``event_exchange`` setting): topic, durable, not auto-delete; on
  Redis kombu's fanout (pub/sub), as celery's dispatcher switches it there;
* ``celery.pidbox`` (``<control_exchange>.pidbox``): fanout, not durable, not
  auto-delete; ``reply.celery.pidbox``: direct, not durable, not auto-delete (workers
  re-declare it when they reply, so the flags must be these);
* evtop's own queues (``celeryev.<uuid>`` for events, ``<uuid>.reply.celery.pidbox`` for
  replies) are exclusive on AMQP: RabbitMQ 4.3 refuses transient non-exclusive queues by
  default. The event queue keeps celery's message TTL (5 s) and expiry (60 s).

The receiver never creates or changes Celery's exchanges: it declares them passively, so
a monitoring user needs no configure permission on them, and a missing event exchange
means that no worker has sent events yet (workers declare it before their first event).
"""

from __future__ import annotations

from typing import Any

from kombu import Connection, Exchange, Queue

from evtop.broker.config import BrokerConfig, DurableQueue

#: Transports on which Celery switches the event exchange from topic to fanout (pub/sub).
FANOUT_DRIVERS = frozenset({"redis", "gcpubsub"})


def event_exchange(connection: Connection, name: str, *, passive: bool = False) -> Exchange:
    kind = "fanout" if connection.transport.driver_type in FANOUT_DRIVERS else "topic"
    # kombu defaults: durable, not auto-delete (as Celery)
    return Exchange(name, type=kind, passive=passive)


def exchanges_on_broker(connection: Connection) -> bool:
    """False on Redis, where kombu keeps exchanges in the process (pub/sub has none): a
    passive declare there fails for an exchange only the workers' processes declared."""
    return connection.transport.driver_type != "redis"


def event_queue(connection: Connection, config: BrokerConfig, node_id: str) -> Queue:
    """evtop's own queue: exclusive, so RabbitMQ 4.3 (no transient non-exclusive queues)
    accepts it and it disappears with the connection; bound with ``#`` so batched
    ``task.multi`` messages arrive too."""
    return Queue(
        f"{config.event_queue_prefix}.{node_id}",
        exchange=event_exchange(connection, config.event_exchange, passive=True),
        routing_key="#",
        durable=False,
        auto_delete=True,
        exclusive=True,
        message_ttl=config.event_queue_ttl,
        expires=config.event_queue_expires,
    )


class SoleConsumerQueue(Queue):
    """A queue consumed with AMQP's exclusive flag, which kombu's ``Queue`` never sets:
    a second evtop on the same name is refused, instead of silently getting every other
    event while the first gets the rest."""

    def consume(
        self,
        consumer_tag: str = "",
        callback: Any = None,
        no_ack: bool | None = None,
        nowait: bool = False,
        on_cancel: Any = None,
    ) -> Any:
        return self.channel.basic_consume(
            queue=self.name,
            no_ack=self.no_ack if no_ack is None else no_ack,
            consumer_tag=consumer_tag or "",
            callback=callback,
            nowait=nowait,
            arguments=self.consumer_arguments,  # type: ignore[attr-defined]  # one of kombu's attrs
            on_cancel=on_cancel,
            exclusive=True,  # kombu's virtual transports ignore it (one process, one consumer)
        )


def durable_event_queue(connection: Connection, config: BrokerConfig, spec: DurableQueue) -> Queue:
    """``--queue NAME``: durable, neither exclusive nor auto-delete, so it keeps events while
    evtop is away; bounded by age and length, dropping the oldest first (``drop-head``):
    a monitor that comes back wants the newest events, and the workers never notice."""
    return SoleConsumerQueue(
        spec.name,
        exchange=event_exchange(connection, config.event_exchange, passive=True),
        routing_key="#",
        durable=True,
        auto_delete=False,
        exclusive=False,
        message_ttl=spec.ttl,
        expires=spec.ttl,
        max_length=spec.max_length,
        queue_arguments={"x-overflow": "drop-head"},
    )


def pidbox_exchange(namespace: str) -> Exchange:
    """Broadcast exchange of remote control requests (``celery.pidbox``)."""
    return Exchange(
        f"{namespace}.pidbox", type="fanout", durable=False, auto_delete=False, delivery_mode="transient"
    )


def reply_exchange(namespace: str) -> Exchange:
    """Direct exchange workers publish control replies to (``reply.celery.pidbox``)."""
    return Exchange(
        f"reply.{namespace}.pidbox",
        type="direct",
        durable=False,
        auto_delete=False,
        delivery_mode="transient",
    )
