"""The broker event consumer: subscribe like ``celery events`` does, and never give up.

One :class:`Receiver` runs in its own thread. It declares the event exchange the way the
workers do (topic on AMQP, fanout on Redis), consumes an exclusive ``celeryev.<uuid>``
queue bound with ``#``, hands raw messages to the :class:`~evtop.events.pipeline.Ingest`
boundary, and reconnects forever with capped, jittered backoff. Unlike celery's receiver
it does no decoding through kombu (so no serializer outside evtop's allowlist can ever
run) and a message the transport cannot unpack is counted, not treated as a lost
connection.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from typing import Any

from kombu import Connection, Consumer

from evtop.broker.config import BrokerConfig
from evtop.broker.entities import event_queue
from evtop.broker.status import Backoff, ConnectionStatus
from evtop.broker.urls import mask_url
from evtop.control.mailbox import Mailbox
from evtop.errors import describe_error
from evtop.events.pipeline import Ingest

logger = logging.getLogger(__name__)

W_CONNECT = "Cannot connect to %s: %s. Trying again in %.1f s."
W_LOST = "Connection to %s lost: %s. Reconnecting in %.1f s."
W_WAKEUP = "Could not wake up workers (%s); their next periodic heartbeat will show them."
#: Transport-level unpack failures in a row that we tolerate before suspecting the link.
MAX_CONSECUTIVE_TRANSPORT_ERRORS = 100


class _SwallowedEnvelopes(logging.Filter):
    """Counts Redis payloads kombu could not parse as an envelope.

    kombu's Redis transport drops such a payload itself and only logs a warning that
    quotes the raw bytes, so it never reaches our message callback. This filter turns
    that warning, when emitted by this receiver's thread, into a counted decode error
    and suppresses the raw quote (evtop's own rate-limited warning replaces it).
    """

    MARK = "Cannot process event on channel"

    def __init__(self, ingest: Ingest) -> None:
        super().__init__()
        self.ingest = ingest
        self.thread: threading.Thread | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if threading.current_thread() is self.thread and str(record.msg).startswith(self.MARK):
            self.ingest.count_transport_error(ValueError("not a kombu envelope"))
            return False
        return True


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
        self._wakeup_warned = False

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, reconnecting after every failure."""
        swallowed = _SwallowedEnvelopes(self.ingest)
        swallowed.thread = threading.current_thread()
        kombu_redis = logging.getLogger("kombu.transport.redis")
        kombu_redis.addFilter(swallowed)
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
            kombu_redis.removeFilter(swallowed)
            self.status.stopped()

    def _schedule_retry(self, exc: BaseException) -> float:
        was_connected = self.status.snapshot().connected_since is not None
        if self.status.connected_for() >= self.backoff.healthy_after:
            self.backoff.reset()
        delay = self.backoff.next_delay()
        error = describe_error(exc)
        logger.warning(W_LOST if was_connected else W_CONNECT, self.config.masked_url, error, delay)
        self.status.lost(error, delay)
        return delay

    def _session(self, stop: threading.Event) -> None:
        """One connection's lifetime; returns only when stopped, raises when the link fails."""
        with self.config.connection() as connection:
            connection.connect()
            channel = connection.channel()
            queue = event_queue(connection, self.config, str(uuid.uuid4()))(channel)
            queue.declare()
            consumer = Consumer(
                channel,
                queues=[queue],
                no_ack=True,
                on_message=self._on_message,
                on_decode_error=self._on_decode_error,
                auto_declare=False,
            )
            consumer.consume()
            self._guard_delivery(channel, queue.name)
            self._subscribe(connection)
            self.status.connected()
            if self.wakeup:
                self._wake_workers(connection)
            self._drain(connection, stop)

    def _guard_delivery(self, channel: Any, queue_name: str) -> None:
        """Count, in place, payloads a virtual transport (Redis) cannot build a message from.

        Such errors (e.g. an envelope without ``properties``) surface as ``KeyError``,
        which kombu's Redis transport lists among its *connection* errors: left alone, one
        hostile PUBLISH would force a reconnect. AMQP frames cannot be malformed this way.
        """
        callbacks = getattr(channel.connection, "_callbacks", None)
        if not isinstance(callbacks, dict) or queue_name not in callbacks:
            return
        inner = callbacks[queue_name]
        ingest = self.ingest

        def guarded(raw_message: Any) -> None:
            try:
                inner(raw_message)
            except Exception as exc:
                ingest.count_transport_error(exc)

        callbacks[queue_name] = guarded

    @staticmethod
    def _subscribe(connection: Connection) -> None:
        """On Redis the PSUBSCRIBE is only sent by the first drain: do it before saying
        "connected", so events published after that are really seen."""
        with contextlib.suppress(TimeoutError):
            connection.drain_events(timeout=0.01)

    def _drain(self, connection: Connection, stop: threading.Event) -> None:
        link_errors = (*connection.connection_errors, *connection.channel_errors)
        consecutive = 0
        while not stop.is_set():
            try:
                connection.drain_events(timeout=self.drain_timeout)
            except TimeoutError:
                connection.heartbeat_check()
                continue
            except link_errors:
                raise
            except OSError:
                raise
            except Exception as exc:
                # The transport could not turn a published payload into a message (e.g. a
                # raw PUBLISH of garbage on Redis). The link itself is fine: count and go on.
                self.ingest.count_transport_error(exc)
                consecutive += 1
                if consecutive > MAX_CONSECUTIVE_TRANSPORT_ERRORS:
                    raise
                continue
            consecutive = 0

    def _on_message(self, message: Any) -> None:
        self.status.last_message_at = self.status.now()
        try:
            headers = message.headers
            compressed = isinstance(headers, dict) and "compression" in headers
            self.ingest.feed_message(
                message.body, message.content_type, message.content_encoding, compressed=compressed
            )
        except Exception as exc:  # a message object kombu built from hostile properties
            self.ingest.count_transport_error(exc)

    def _on_decode_error(self, message: Any, exc: Exception) -> None:
        self.ingest.count_transport_error(exc)

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
                mailbox.publish(side.default_channel, mailbox.request("heartbeat"))
        except Exception as exc:
            if not self._wakeup_warned:
                self._wakeup_warned = True
                logger.warning(W_WAKEUP, describe_error(exc))
