"""Publishing remote-control requests to Celery workers (kombu pidbox wire format).

Written without celery so evtop can command workers on its own: a request is a JSON
body ``{method, arguments, destination, pattern, matcher}`` published to the fanout
``<control_exchange>.pidbox`` exchange (``celery.pidbox``), with ``reply_to`` naming the
direct ``reply.celery.pidbox`` exchange and the requester's routing key. This is
the single place that publishes to the control exchange: the receiver's wakeup and every
``evtop control`` command go through :meth:`Mailbox.publish`, which is where
``--read-only`` is enforced.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from typing import Any

from kombu import Producer, Queue

from evtop.broker.entities import pidbox_exchange, reply_exchange
from evtop.errors import EvtopError

#: Celery's ``control_queue_ttl`` and ``control_queue_expires`` defaults (seconds), which
#: Celery's client also uses for its reply queue.
REPLY_QUEUE_TTL = 300.0
REPLY_QUEUE_EXPIRES = 10.0


class ReadOnlyError(EvtopError):
    """Raised instead of publishing anything when evtop runs with ``--read-only``."""

    def __init__(self, method: str) -> None:
        super().__init__(f"read-only mode: not sending {method!r} to the workers")


class Mailbox:
    """Builds and publishes pidbox requests for one control namespace (``celery``)."""

    def __init__(self, namespace: str = "celery", *, read_only: bool = False) -> None:
        self.namespace = namespace
        self.read_only = read_only
        self.exchange = pidbox_exchange(namespace)
        self.reply_exchange = reply_exchange(namespace)
        self._clock = itertools.count(1)

    @staticmethod
    def request(
        method: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        destination: Sequence[str] | None = None,
        pattern: str | None = None,
        matcher: str | None = None,
        ticket: str | None = None,
        reply_to: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The request body exactly as kombu's Mailbox sends it."""
        if destination is not None and isinstance(destination, str):
            raise TypeError("destination must be a list of node names, not a string")
        body: dict[str, Any] = {
            "method": method,
            "arguments": dict(arguments or {}),
            "destination": list(destination) if destination is not None else None,
            "pattern": pattern,
            "matcher": matcher,
        }
        if ticket is not None:
            body["ticket"] = ticket
            body["reply_to"] = dict(reply_to or {})
        return body

    def check_writable(self, method: str) -> None:
        """Raise :class:`ReadOnlyError` in read-only mode, so callers can refuse before
        they connect, prompt or declare anything."""
        if self.read_only:
            raise ReadOnlyError(method)

    def reply_queue(self, oid: str) -> Queue:
        """The queue replies to one request come back on, named and bound as Celery's.

        Exclusive, because RabbitMQ 4.3 refuses transient non-exclusive queues;
        it then also vanishes with the connection if evtop dies mid-collection.
        """
        return Queue(
            f"{oid}.{self.reply_exchange.name}",
            exchange=self.reply_exchange,
            routing_key=oid,
            durable=False,
            auto_delete=True,
            exclusive=True,
            expires=REPLY_QUEUE_EXPIRES,
            message_ttl=REPLY_QUEUE_TTL,
        )

    def publish(
        self, channel: Any, body: Mapping[str, Any], *, timeout: float | None = None, existing: bool = False
    ) -> None:
        """Send one request to every worker's pidbox queue (refused in read-only mode).

        ``existing``: only to the exchange the workers declared (declared passively, so
        the user needs write permission on it and no configure), and wait until the
        broker took the request: RabbitMQ refuses a publish by closing the channel later,
        which would otherwise go unseen; a passive declare after it is a round trip that
        raises that refusal here.
        """
        self.check_writable(str(body.get("method")))
        exchange = self.exchange(channel)
        exchange.declare(passive=existing)
        Producer(channel).publish(
            dict(body),
            exchange=exchange.name,
            routing_key="",
            serializer="json",
            headers={"clock": next(self._clock), "expires": time.time() + timeout if timeout else 0},
            retry=False,
        )
        if existing:
            exchange.declare(passive=True)
