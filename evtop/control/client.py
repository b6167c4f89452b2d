"""Broadcast one control request to Celery workers and collect their replies.

Differences from Celery's client (whose ``timeout`` is kombu's idle time per drain, and
which returns replies as a bare list of one-key dicts), each on purpose:

* ``timeout`` is a real total deadline, not kombu's idle timeout per drain (which with
  ``limit=N`` can wait N times as long); collection also stops as soon as every expected
  worker has answered.
* Every broadcast uses a fresh reply queue, deleted afterwards on every transport, so no
  reply list is left on Redis, even when a worker answers late (flower#706). Stray
  replies (another ticket) are counted and ignored.
* Replies are decoded by evtop's JSON-only decoder; nothing is ever unpickled.
* One connection attempt with a short connect (and on Redis socket) timeout: a broker
  that is down or blackholed is a clear error within the deadline, not a retry loop.
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kombu import Connection, Consumer

from evtop.broker.config import BrokerConfig
from evtop.broker.decode import BodyDecodeError, BodyDecoder, DisallowedContent
from evtop.broker.mailbox import Mailbox
from evtop.broker.urls import url_secrets
from evtop.control.commands import Request
from evtop.control.replies import BroadcastResult, Reply
from evtop.errors import EvtopError, describe_error
from evtop.text.redact import Redactor

#: Shortest connect timeout, whatever the reply deadline: a TCP + AMQP handshake to a
#: remote broker needs a moment even when the caller only waits 0.2 s for replies.
MIN_CONNECT_TIMEOUT = 1.0


class ControlError(EvtopError):
    """The broker could not be reached or the request could not be sent (exit status 1)."""


class _Collector:
    """Keeps the replies carrying our ticket, decoded with evtop's JSON-only rules."""

    def __init__(self, ticket: str, decoder: BodyDecoder, clock: Callable[[], float]) -> None:
        self.ticket = ticket
        self.decoder = decoder
        self.clock = clock
        self.sent_at = clock()  # reset once the request is out
        self.replies: list[Reply] = []
        self.ignored = 0
        self.unreadable = 0

    def on_message(self, message: Any) -> None:
        headers = message.headers if isinstance(message.headers, dict) else {}
        if headers.get("ticket") != self.ticket:
            self.ignored += 1
            return
        try:
            body = self.decoder.decode(message.body, message.content_type, message.content_encoding)
        except (DisallowedContent, BodyDecodeError):
            self.unreadable += 1
            return
        if not isinstance(body, dict) or not body or not all(isinstance(node, str) for node in body):
            self.unreadable += 1
            return
        after = self.clock() - self.sent_at
        self.replies.extend(Reply.parse(node, payload, after) for node, payload in body.items())

    def done(self, expected: Sequence[str] | None, limit: int | None) -> bool:
        if limit is not None and len(self.replies) >= limit:
            return True
        if not expected:
            return False
        return set(expected) <= {reply.node for reply in self.replies}


class Control:
    """Remote control of the workers on one broker. Never prints; safe to use from any
    thread (each call has its own connection); raises :class:`ControlError` or
    :class:`~evtop.broker.mailbox.ReadOnlyError`."""

    def __init__(
        self, config: BrokerConfig, *, read_only: bool = False, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self.mailbox = Mailbox(config.control_exchange, read_only=read_only)
        self.decoder = BodyDecoder(accept_msgpack=config.accept_msgpack)
        self._clock = clock

    def ensure_writable(self, method: str) -> None:
        """Refuse (ReadOnlyError) in read-only mode: call before prompting the user."""
        self.mailbox.check_writable(method)

    def send(
        self,
        request: Request,
        *,
        destination: Sequence[str] | None = None,
        timeout: float = 1.0,
        expected: Sequence[str] | None = None,
    ) -> BroadcastResult:
        """Broadcast a validated :class:`~evtop.control.commands.Request`."""
        return self.broadcast(
            request.method,
            request.arguments,
            destination=destination,
            timeout=timeout,
            reply=request.replies,
            expected=expected,
        )

    def broadcast(
        self,
        method: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        destination: Sequence[str] | None = None,
        timeout: float = 1.0,
        limit: int | None = None,
        reply: bool = True,
        expected: Sequence[str] | None = None,
    ) -> BroadcastResult:
        """Send ``method`` to all workers (or ``destination``) and wait up to ``timeout`` s.

        ``expected`` names the workers that should answer (default: the destination),
        so the result can say who did not; collection stops once all of them replied
        or ``limit`` replies arrived.
        """
        self.mailbox.check_writable(method)
        if isinstance(destination, str):
            raise TypeError("destination must be a list of node names, not a string")
        if destination is not None and not destination:
            raise ValueError("the destination list is empty (None means every worker)")
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        targets = list(destination) if destination is not None else None
        wanted = list(expected) if expected is not None else targets
        connect_timeout = min(self.config.connect_timeout, max(timeout, MIN_CONNECT_TIMEOUT))
        ticket, oid = str(uuid.uuid4()), str(uuid.uuid4())
        body = self.mailbox.request(
            method,
            arguments,
            destination=targets,
            ticket=ticket if reply else None,
            reply_to={"exchange": self.mailbox.reply_exchange.name, "routing_key": oid} if reply else None,
        )
        collector = _Collector(ticket, self.decoder, self._clock)
        with self._connection(connect_timeout) as connection:
            channel = self._connect(connection)
            queue = self.mailbox.reply_queue(oid)(channel) if reply else None
            try:
                self._publish(channel, queue, collector, body, timeout)
                collector.sent_at = self._clock()
                if queue is not None:
                    self._collect(connection, collector, collector.sent_at + timeout, wanted, limit)
            finally:
                if queue is not None:
                    with contextlib.suppress(Exception):
                        queue.delete()  # on Redis the list and its binding; late replies go nowhere
            elapsed = self._clock() - collector.sent_at
        return BroadcastResult(
            method=method,
            arguments=dict(arguments or {}),
            destination=targets,
            expected=wanted,
            timeout=timeout,
            reply_wanted=reply,
            replies=tuple(collector.replies),
            elapsed=elapsed,
            ignored=collector.ignored,
            unreadable=collector.unreadable,
        )

    def _connection(self, connect_timeout: float) -> Connection:
        return self.config.brief_connection(connect_timeout)

    def _connect(self, connection: Connection) -> Any:
        try:
            connection.ensure_connection(max_retries=0)  # one attempt: the caller has a deadline
            return connection.channel()
        except Exception as exc:
            raise self._failure(
                f"cannot reach the broker at {self.config.masked_url}: {describe_error(exc)}; "
                "nothing was sent"
            ) from None

    def _publish(
        self, channel: Any, queue: Any, collector: _Collector, body: Mapping[str, Any], timeout: float
    ) -> None:
        """Declare the reply queue and start consuming it first, then publish the request."""
        try:
            if queue is not None:
                queue.declare()
                Consumer(
                    channel, [queue], no_ack=True, on_message=collector.on_message, auto_declare=False
                ).consume()
            self.mailbox.publish(channel, body, timeout=timeout)
        except Exception as exc:
            raise self._failure(
                f"could not send {body['method']!r} via {self.config.masked_url}: {describe_error(exc)}; "
                "nothing was sent"
            ) from None

    def _collect(
        self,
        connection: Connection,
        collector: _Collector,
        deadline: float,
        expected: Sequence[str] | None,
        limit: int | None,
    ) -> None:
        try:
            while not collector.done(expected, limit):
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return
                connection.drain_events(timeout=remaining)
        except TimeoutError:
            return
        except Exception as exc:
            raise self._failure(
                f"lost the broker at {self.config.masked_url} while waiting for replies "
                f"({describe_error(exc)}); the request was sent"
            ) from None

    def _failure(self, text: str) -> ControlError:
        """An error whose text holds no secret of the broker URL, even where a driver's own
        message quoted it (the TUI shows these without the CLI's redactor)."""
        return ControlError(Redactor(url_secrets(self.config.url)).redact(text))
