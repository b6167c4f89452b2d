"""Read Celery's event channels on Redis straight off a pub/sub socket.

On Redis, events are PUBLISHed to ``/<db>.celeryev/<routing key>`` and a receiver
PSUBSCRIBEs to ``/<db>.celeryev/*``. kombu's consumer spends most of its time per message
in redis-py's response parsing, kombu's envelope decoding and message objects; on a busy
cluster that, not evtop, caps throughput. So kombu still does what it is good at -- the
channel works out the connection (URL, TLS, credentials, sentinel, socket options) and
the exact topic from the same transport options the workers use (``fanout_prefix``,
``fanout_patterns``, ``global_keyprefix``) -- and this module owns the subscribed socket:
it reads large chunks, parses RESP in bulk (:mod:`evtop.broker.resp`) and hands each
envelope's body to the ingest boundary. It also PINGs an idle connection, so a
half-open TCP connection (a vanished NAT entry, a frozen server) is noticed.
"""

from __future__ import annotations

import binascii
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any, Final

from evtop.broker import resp
from evtop.broker.resp import ErrorReply, ProtocolError, command

_loads: Callable[[bytes], Any]
try:  # same optional accelerator as event bodies; envelopes are kombu's own JSON
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - exercised when orjson is not installed
    _loads = json.loads

#: Bytes asked of the socket per read: many messages per system call.
CHUNK: Final = 256 * 1024
#: Seconds to wait for the server to confirm the subscription.
SUBSCRIBE_TIMEOUT: Final = 10.0
_PMESSAGE: Final = b"pmessage"
_PING: Final = command("PING")

#: (body, content type, content encoding, compressed) of one message.
MessageHandler = Callable[[bytes | str, Any, Any, bool], None]


class LinkDead(ConnectionError):
    """The server stopped answering (no reply to a PING): reconnect."""


def event_pattern(channel: Any, exchange: str) -> str:
    """The PSUBSCRIBE pattern kombu uses for a queue bound to ``exchange`` with ``#``."""
    channel.async_pool  # noqa: B018 - formats keyprefix_fanout with the db number
    topic = f"{channel.keyprefix_fanout}{exchange}"
    if channel.fanout_patterns:
        topic += "/*"  # kombu maps the binding key '#' to the pattern '*'
    return f"{channel.global_keyprefix}{topic}"


class RedisEventReader:
    """One subscribed Redis connection delivering event message bodies."""

    def __init__(
        self,
        channel: Any,
        exchange: str,
        on_message: MessageHandler,
        on_undecodable: Callable[[BaseException], None],
        *,
        ping_interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pattern = event_pattern(channel, exchange)
        self._pool = channel.async_pool
        self._on_message = on_message
        self._on_undecodable = on_undecodable
        interval = channel.health_check_interval if ping_interval is None else ping_interval
        self.ping_interval = float(interval or 0)
        self._clock = clock
        self._connection: Any = None
        self._sock: Any = None
        self._parser = resp.default_parser()
        self._last_data = clock()
        self._ping_sent: float | None = None

    def subscribe(self, timeout: float = SUBSCRIBE_TIMEOUT) -> None:
        """Connect and PSUBSCRIBE; returns once the server confirmed the subscription."""
        connection = self._pool.make_connection()
        self._connection = connection
        # Without these a frozen server stalls the handshake forever (redis-py's default).
        connection.socket_connect_timeout = connection.socket_connect_timeout or timeout
        connection.socket_timeout = connection.socket_timeout or timeout
        connect = getattr(connection, "connect_check_health", None)
        if connect is not None:
            connect(retry_socket_connect=False)  # evtop's own backoff decides when to retry
        else:  # pragma: no cover - older redis-py
            connection.connect()
        self._sock = connection._sock
        self._sock.sendall(command("PSUBSCRIBE", self.pattern))
        deadline = self._clock() + timeout
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise LinkDead(f"no PSUBSCRIBE confirmation within {timeout:.0f} s")
            self._sock.settimeout(remaining)
            self._fill()
            for value in self._parser.values():
                if isinstance(value, ErrorReply):
                    raise ConnectionError(f"PSUBSCRIBE refused: {value}")
                if isinstance(value, list) and value and value[0] == b"psubscribe":
                    return

    def read(self, timeout: float) -> None:
        """Deliver every message that arrives within ``timeout`` s of one read.

        Raises TimeoutError when nothing arrived, and a ConnectionError when the link
        is gone (closed, or silent after a PING).
        """
        self._check_health()
        self._sock.settimeout(timeout)
        self._fill()
        for value in self._parser.values():
            # isinstance: hiredis makes a RESP3 push a list subclass
            if isinstance(value, list) and len(value) == 4 and value[0] == _PMESSAGE:
                self._deliver(value[3])
            elif isinstance(value, ErrorReply):
                raise ConnectionError(f"Redis error on the event subscription: {value}")
            # anything else: subscription confirmations, PING replies

    def _fill(self) -> None:
        chunk = self._sock.recv(CHUNK)  # TimeoutError when nothing arrives in time
        if not chunk:
            raise ConnectionError("Redis closed the event subscription")
        self._last_data = self._clock()
        self._ping_sent = None
        self._parser.feed(chunk)

    def _check_health(self) -> None:
        if not self.ping_interval:
            return
        now = self._clock()
        if self._ping_sent is not None:
            if now - self._ping_sent > self.ping_interval:
                raise LinkDead(f"no reply to PING within {self.ping_interval:.0f} s")
        elif now - self._last_data > self.ping_interval:
            self._sock.sendall(_PING)
            self._ping_sent = now

    def _deliver(self, data: bytes) -> None:
        try:
            envelope = _loads(data)
            body = envelope["body"]
            properties = envelope.get("properties") or {}
            if properties.get("body_encoding") == "base64":
                body = binascii.a2b_base64(body)  # what base64.b64decode does, minus its wrapper
            headers = envelope.get("headers")
            compressed = isinstance(headers, dict) and "compression" in headers
            content_type, content_encoding = envelope.get("content-type"), envelope.get("content-encoding")
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError, binascii.Error) as exc:
            self._on_undecodable(exc)
            return
        if not isinstance(body, (bytes, str)):
            self._on_undecodable(TypeError("envelope body is not text"))
            return
        self._on_message(body, content_type, content_encoding, compressed)

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # closing a dead link cannot fail usefully
                self._connection.disconnect()
            self._connection = self._sock = None


__all__ = ["LinkDead", "ProtocolError", "RedisEventReader", "event_pattern"]
