"""Sending events the way Celery's ``EventDispatcher`` does: the body and the message.

evtop itself only listens, but ``--demo`` simulates a cluster, and the test suite
publishes events of its own; both send through here, so what they put on the wire is
built one way and matches what real workers and clients send: a JSON body (a dict, or a
list of dicts under the routing key ``task.multi`` for a prefork worker's batch), a
``hostname`` header, and a routing key made from the event type (``task-received`` ->
``task.received``), on the event exchange as the receiver declares it.
"""

from __future__ import annotations

from typing import Any

from kombu import Connection, Producer

from evtop.broker.entities import event_exchange

#: Routing key of a list body: the events one prefork worker buffered and sent at once.
BATCH_KEY = "task.multi"


def event_body(
    type_: str, hostname: str, *, clock: int, timestamp: float, pid: int, utcoffset: int, **fields: Any
) -> dict[str, Any]:
    """The fields every Celery event carries, with the sender's own ones (``uuid``, ``freq``...)."""
    return {
        "hostname": hostname,
        "utcoffset": utcoffset,
        "pid": pid,
        "clock": clock,
        **fields,
        "timestamp": timestamp,
        "type": type_,
    }


def task_sent_fields(name: str, args: str, *, root_id: str, parent_id: str | None) -> dict[str, Any]:
    """What a ``task-sent`` event carries after its ``uuid``, in the order celery's
    ``send_task_message`` sets it, for a task sent without options to the default queue."""
    return {
        "root_id": root_id,
        "parent_id": parent_id,
        "name": name,
        "args": args,
        "kwargs": "{}",
        "retries": 0,
        "eta": None,
        "expires": None,
        "queue": "celery",
        "exchange": "",
        "routing_key": "celery",
    }


def task_received_fields(
    name: str, args: str, *, root_id: str, parent_id: str | None, retries: int
) -> dict[str, Any]:
    """What a worker's ``task-received`` carries after its ``uuid``, in the order celery's
    worker strategy sends it, for a task without keyword arguments, eta or expiry."""
    return {
        "name": name,
        "args": args,
        "kwargs": "{}",
        "root_id": root_id,
        "parent_id": parent_id,
        "retries": retries,
        "eta": None,
        "expires": None,
    }


def routing_key(type_: str) -> str:
    """``task-received`` -> ``task.received``, as celery's dispatcher routes a single event."""
    return type_.replace("-", ".")


class EventSender:
    """A producer on the event exchange of ``connection`` (fanout on Redis, else topic)."""

    def __init__(self, connection: Connection, exchange: str = "celeryev") -> None:
        self.exchange = event_exchange(connection, exchange)
        self.producer = Producer(connection.default_channel)

    def declare(self) -> None:
        """Create the event exchange, as a worker does when it starts (evtop's receiver
        only looks for it)."""
        self.exchange(self.producer.channel).declare()

    def send(self, body: Any, hostname: str, key: str | None = None) -> None:
        """One message: an event (routed by its type) or a batch (``task.multi``)."""
        if key is None:
            key = BATCH_KEY if isinstance(body, list) else routing_key(body["type"])
        self.producer.publish(
            body,
            exchange=self.exchange,
            routing_key=key,
            serializer="json",
            headers={"hostname": hostname},
            delivery_mode=1,
            declare=[self.exchange],
        )
