"""The broker event consumer: subscribe like ``celery events`` does, and never give up.

One :class:`Receiver` runs in its own thread. It subscribes the way celery's receiver
does -- on AMQP an exclusive ``celeryev.<uuid>`` queue bound with ``#`` to the topic
exchange, on Redis a PSUBSCRIBE to the fanout channels -- hands raw message bodies to the
:class:`~evtop.events.pipeline.Ingest` boundary, and reconnects forever with capped,
jittered backoff. Unlike celery's receiver it never lets kombu deserialize a body (so no
serializer outside evtop's allowlist can run), and a message that cannot be unpacked is
counted, not treated as a lost connection.

It never creates or changes the event exchange (a monitoring user may lack the right to):
until a worker has declared it, the receiver says so once and keeps waiting. A refused
permission is named once, with the resource, and retried; only a ``--queue`` that exists
with other arguments ends the run, since no retry can change them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from typing import Any

from kombu import Connection, Consumer

from evtop.broker.config import BrokerConfig
from evtop.broker.entities import durable_event_queue, event_queue, exchanges_on_broker
from evtop.broker.mailbox import Mailbox
from evtop.broker.redis_events import RedisEventReader
from evtop.broker.refusals import BrokerRefused, Kind, explain
from evtop.broker.status import Backoff, ConnectionStatus
from evtop.broker.urls import mask_url
from evtop.errors import describe_error
from evtop.events.pipeline import Ingest

logger = logging.getLogger(__name__)

W_CONNECT = "Cannot connect to %s: %s. Trying again in %.1f s."
W_LOST = "Connection to %s lost: %s. Reconnecting in %.1f s."
W_REFUSED = "%s: %s. Retrying at least every %.0f s; logged once until that changes."
W_WAKEUP = "Could not wake up workers (%s); their next periodic heartbeat will show them."
NO_EXCHANGE = "no worker has sent events on vhost {vhost!r} yet: waiting for the {name} exchange"
#: Transport-level unpack failures in a row that we tolerate before suspecting the link.
MAX_CONSECUTIVE_TRANSPORT_ERRORS = 100
#: ``--queue``: messages delivered but not yet acknowledged. Enough to keep the link busy;
#: few enough that a backlog waits in the broker, not in evtop's memory.
PREFETCH = 1000


class Receiver:
    """Consumes Celery events from the broker into an :class:`Ingest` boundary."""

    def __init__(
        self,
        config: BrokerConfig,
        ingest: Ingest,
        status: ConnectionStatus | None = None,
        *,
        wakeup: bool = True,
        backoff: Backoff | None = None,
        drain_timeout: float = 1.0,
    ) -> None:
        self.config = config
        self.ingest = ingest
        self.status = status if status is not None else ConnectionStatus(mask_url(config.url))
        self.wakeup = wakeup
        self.backoff = backoff if backoff is not None else Backoff()
        self.drain_timeout = drain_timeout
        #: What was last logged, by topic: a refusal that lasts is logged once.
        self._told: dict[str, str] = {}
        #: The Redis channel pattern, named when an ACL refuses it.
        self._pattern: str | None = None

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, reconnecting after every failure.

        Raises :class:`BrokerRefused` when retrying cannot help.
        """
        try:
            while not stop.is_set():
                self.status.connecting()
                try:
                    self._session(stop)
                except Exception as exc:
                    if stop.is_set():
                        break
                    stop.wait(self._schedule_retry(exc))
        finally:
            self.status.stopped()

    def _schedule_retry(self, exc: BaseException) -> float:
        refusal = explain(exc, pattern=self._pattern)
        if refusal is not None and refusal.fatal:
            raise BrokerRefused(refusal.message) from None
        was_connected = self.status.snapshot().connected_since is not None
        if self.status.connected_for() >= self.backoff.healthy_after:
            self.backoff.reset()
        delay = self.backoff.next_delay()
        if refusal is None:
            error = describe_error(exc)
            logger.warning(W_LOST if was_connected else W_CONNECT, self.config.masked_url, error, delay)
            self._told.pop("refusal", None)
        else:
            error = refusal.message
            if refusal.kind is Kind.MISSING_EXCHANGE:
                error = NO_EXCHANGE.format(vhost=refusal.vhost, name=refusal.resource)
            self._once("refusal", W_REFUSED % (self.config.masked_url, error, self.backoff.cap))
        self.status.lost(error, delay)
        return delay

    def _once(self, topic: str, message: str) -> None:
        """A warning the first time, then debug lines while ``topic`` keeps saying the same:
        a refusal lasts until someone acts, and each retry would repeat it."""
        level = logging.DEBUG if self._told.get(topic) == message else logging.WARNING
        self._told[topic] = message
        logger.log(level, "%s", message)

    def _session(self, stop: threading.Event) -> None:
        """One connection's lifetime; returns only when stopped, raises when the link fails."""
        with self.config.connection() as connection:
            connection.connect()
            if connection.transport.driver_type == "redis":
                self._pubsub_session(connection, stop)
            else:
                self._queue_session(connection, stop)

    def _pubsub_session(self, connection: Connection, stop: threading.Event) -> None:
        """Redis: read the subscribed socket ourselves (see evtop.broker.redis_events)."""
        reader = RedisEventReader(
            connection.default_channel,
            self.config.event_exchange,
            self._feed,
            self.ingest.count_transport_error,
        )
        self._pattern = reader.pattern
        try:
            reader.subscribe()
            self._ready(connection)
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    reader.read(self.drain_timeout)
                self.ingest.flush()  # all that one read brought is applied before the next
        finally:
            self.ingest.flush()
            reader.close()

    def _queue_session(self, connection: Connection, stop: threading.Event) -> None:
        """AMQP (and kombu's in-process memory transport): an exclusive queue of our own,
        or the durable ``--queue``, whose messages are acknowledged once handled."""
        channel = connection.channel()
        durable = self.config.durable_queue
        if durable is None:
            queue = event_queue(connection, self.config, str(uuid.uuid4()))(channel)
        else:
            queue = durable_event_queue(connection, self.config, durable)(channel)
        queue.declare()
        Consumer(
            channel,
            queues=[queue],
            no_ack=durable is None,
            prefetch_count=None if durable is None else PREFETCH,
            on_message=self._on_message if durable is None else self._on_kept_message,
            on_decode_error=lambda message, exc: self.ingest.count_transport_error(exc),
            auto_declare=False,
        ).consume()
        self._ready(connection)
        try:
            self._drain(connection, stop)
        finally:
            self.ingest.flush()

    def _ready(self, connection: Connection) -> None:
        self._told.pop("refusal", None)
        self.status.connected()
        if self.wakeup:
            self._wake_workers(connection)

    def _drain(self, connection: Connection, stop: threading.Event) -> None:
        link_errors = (*connection.connection_errors, *connection.channel_errors, OSError)
        consecutive = 0
        while not stop.is_set():
            try:
                connection.drain_events(timeout=self.drain_timeout)
            except TimeoutError:
                connection.heartbeat_check()
                continue
            except link_errors:
                raise
            except Exception as exc:
                # The transport could not turn a delivery into a message; the link
                # itself is fine: count it and go on (but not forever in a row).
                self.ingest.count_transport_error(exc)
                consecutive += 1
                if consecutive > MAX_CONSECUTIVE_TRANSPORT_ERRORS:
                    raise
                continue
            consecutive = 0
            self.ingest.flush()

    def _feed(self, body: bytes | str, content_type: Any, content_encoding: Any, compressed: bool) -> None:
        self.status.last_message_at = self.status.now()
        self.ingest.feed_message(body, content_type, content_encoding, compressed=compressed)

    def _on_message(self, message: Any) -> None:
        try:
            headers = message.headers
            compressed = isinstance(headers, dict) and "compression" in headers
            self._feed(message.body, message.content_type, message.content_encoding, compressed)
        except Exception as exc:  # a message object kombu built from hostile properties
            self.ingest.count_transport_error(exc)

    def _on_kept_message(self, message: Any) -> None:
        """``--queue``: acknowledged after handling, poison too (or it would come back forever)."""
        self._on_message(message)
        message.ack()

    def _wake_workers(self, connection: Connection) -> None:
        """Ask workers for an immediate heartbeat, as celery's receiver does.

        Published over a separate connection: on RabbitMQ a refused publish closes its
        channel with an error that would otherwise surface in this consumer's
        ``drain_events`` and look like a lost connection.
        """
        mailbox = Mailbox(self.config.control_exchange)
        try:
            with connection.clone() as side:
                side.connect()
                body = mailbox.request("heartbeat")
                mailbox.publish(side.default_channel, body, existing=exchanges_on_broker(side))
        except Exception as exc:
            refusal = explain(exc)
            if refusal is not None and refusal.kind is Kind.MISSING_EXCHANGE:
                logger.debug("nothing to wake: no worker listens for remote control (%s)", refusal.message)
            else:
                self._once("wakeup", W_WAKEUP % (refusal.message if refusal else describe_error(exc)))
