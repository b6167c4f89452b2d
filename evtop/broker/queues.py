"""How many messages wait in each task queue, read without changing anything on the broker.

On Redis a queue is a list: kombu records which queues exist in its binding sets
(``_kombu.binding.<exchange>``, after ``global_keyprefix``), and a queue with message
priorities is several lists, the base name and ``<name>\\x06\\x16<step>`` for each step
above 0, whose lengths add up (counting the base list alone under-reports a priority
queue badly). On RabbitMQ a passive ``queue.declare`` answers with the depth and the
consumer count of a queue that exists, and declares nothing; which queues to ask about
comes from the caller (names given, workers' ``active_queues``), or from the management
HTTP API, which also lists unacknowledged messages. Nothing here declares, binds, purges
or publishes.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kombu import Connection

from evtop.broker.config import BrokerConfig
from evtop.broker.urls import mask_url, url_secrets
from evtop.errors import EvtopError, describe_error

#: kombu's defaults for its Redis transport (overridable with transport options).
BINDING_PREFIX = "_kombu.binding."
PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)
#: Queues kombu binds for remote control and event receivers: not task queues.
INTERNAL_SUFFIXES = (".pidbox",)
INTERNAL_PREFIXES = ("celeryev.",)


@dataclass(frozen=True)
class QueueDepth:
    name: str
    #: Messages ready for delivery.
    messages: int
    #: Consumers attached (None where the broker does not tell, as on Redis).
    consumers: int | None = None
    #: Delivered, not yet acknowledged (None where the broker does not tell).
    unacked: int | None = None


@dataclass(frozen=True)
class QueueRow:
    """One queue as shown: its depth now, who consumes it and how its backlog moves."""

    name: str
    messages: int
    consumers: int | None
    unacked: int | None
    workers: list[str]
    #: Messages per second since the previous reading (positive: the backlog grows).
    change: float | None


@dataclass(frozen=True)
class QueueReading:
    """One reading of every queue, or why there is none."""

    #: Wall-clock time it was taken.
    time: float
    rows: tuple[QueueRow, ...] = ()
    #: False when the workers were not asked (``--read-only``) or did not answer.
    workers_known: bool = True
    #: What went wrong or is missing, in words ("" when all is well).
    note: str = ""
    #: The broker could not be read at all.
    failed: bool = False
    #: Names asked about that are no queue.
    missing: tuple[str, ...] = ()


def queue_rows(
    now: list[QueueDepth],
    before: dict[str, QueueDepth],
    seconds: float,
    workers: dict[str, list[str]] | None,
) -> list[QueueRow]:
    """Rows from a reading, the one ``seconds`` earlier (by name) and the workers of each
    queue (None: not asked); the broker's consumer count where it tells, else the
    workers counted, else unknown."""
    rows = []
    consuming = workers or {}
    for depth in now:
        then = before.get(depth.name)
        change = (depth.messages - then.messages) / seconds if then is not None and seconds > 0 else None
        consumers = depth.consumers
        if consumers is None and workers is not None:
            consumers = len(consuming.get(depth.name, []))
        rows.append(
            QueueRow(
                depth.name, depth.messages, consumers, depth.unacked, consuming.get(depth.name, []), change
            )
        )
    return rows


def is_task_queue(name: str) -> bool:
    return not name.endswith(INTERNAL_SUFFIXES) and not name.startswith(INTERNAL_PREFIXES)


# -- Redis --------------------------------------------------------------------------------


def _redis_client(connection: Connection) -> Any:
    """kombu's own client for the channel: URL, TLS, password, db, sentinel, key prefix."""
    channel: Any = connection.default_channel
    return channel.client


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def redis_queue_names(connection: Connection) -> list[str]:
    """Every queue kombu has bound on this Redis db, from its binding sets."""
    options: dict[str, Any] = connection.transport_options or {}
    prefix = str(options.get("global_keyprefix", ""))
    sep = str(options.get("sep", PRIORITY_SEP))
    client = _redis_client(connection)
    names: set[str] = set()
    # SCAN does not add the key prefix (kombu prefixes only the commands it names): add it here.
    for key in client.scan_iter(match=f"{prefix}{BINDING_PREFIX}*", count=500):
        table = _text(key)[len(prefix) :]
        for member in client.smembers(table):
            queue = _text(member).split(sep)[-1]
            if queue:
                names.add(queue)
    return sorted(names)


def redis_depths(connection: Connection, names: Iterable[str]) -> list[QueueDepth]:
    """The depth of each queue, its priority lists included."""
    options: dict[str, Any] = connection.transport_options or {}
    sep = str(options.get("sep", PRIORITY_SEP))
    steps = tuple(options.get("priority_steps", PRIORITY_STEPS))
    client = _redis_client(connection)
    names = list(names)
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            for step in steps:
                pipe.llen(f"{name}{sep}{step}" if step else name)
        lengths = pipe.execute()
    depths = []
    for index, name in enumerate(names):
        chunk = lengths[index * len(steps) : (index + 1) * len(steps)]
        depths.append(QueueDepth(name, sum(n for n in chunk if isinstance(n, int))))
    return depths


# -- RabbitMQ -----------------------------------------------------------------------------


def amqp_depths(connection: Connection, names: Iterable[str]) -> tuple[list[QueueDepth], list[str]]:
    """Passive declares: the queues that exist with their depths, and the names that do not."""
    found, missing = [], []
    channel = connection.channel()
    try:
        for name in names:
            try:
                _, messages, consumers = channel.queue_declare(queue=name, passive=True)
            except connection.channel_errors:  # 404 NOT_FOUND closes the channel
                missing.append(name)
                channel.close()
                channel = connection.channel()
                continue
            found.append(QueueDepth(name, int(messages), int(consumers)))
    finally:
        channel.close()
    return found, missing


def management_depths(url: str, vhost: str, timeout: float = 5.0) -> list[QueueDepth]:
    """Every queue of ``vhost`` from RabbitMQ's management HTTP API (``/api/queues/<vhost>``)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EvtopError(
            f"--management-url must be http(s)://[user:password@]host[:port], not {mask_url(url)}"
        )
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    api = urllib.parse.urlunsplit(
        (
            parts.scheme,
            netloc,
            f"{parts.path.rstrip('/')}/api/queues/{urllib.parse.quote(vhost, safe='')}",
            "",
            "",
        )
    )
    request = urllib.request.Request(api, headers={"Accept": "application/json"})
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            rows = json.loads(response.read())
    except (OSError, ValueError) as exc:
        secrets = url_secrets(url)
        message = describe_error(exc)
        for secret in secrets:
            message = message.replace(secret, "**")
        raise EvtopError(f"the management API at {netloc} did not answer: {message}") from None
    return [
        QueueDepth(
            str(row.get("name", "")),
            int(row.get("messages_ready", row.get("messages", 0)) or 0),
            int(row.get("consumers", 0) or 0),
            int(row.get("messages_unacknowledged", 0) or 0),
        )
        for row in rows
        if isinstance(row, dict)
    ]


# -- either ---------------------------------------------------------------------------------


def sample(config: BrokerConfig, names: Iterable[str]) -> tuple[list[QueueDepth], list[str]]:
    """The depth of ``names`` (none: every task queue the broker lists), and the names
    that are no queue. On RabbitMQ without ``config.management_url`` only named queues
    can be asked about."""
    names = list(names)
    with config.brief_connection(config.connect_timeout) as connection:
        try:
            connection.ensure_connection(max_retries=1)
        except Exception as exc:
            raise EvtopError(f"cannot reach {config.masked_url}: {describe_error(exc)}") from None
        if connection.transport.driver_type == "redis":
            # An empty list and no list look alike on Redis: a queue exists if kombu bound it.
            known = redis_queue_names(connection)
            wanted = names or [name for name in known if is_task_queue(name)]
            return redis_depths(connection, [n for n in wanted if n in known]), [
                n for n in wanted if n not in known
            ]
        if config.management_url:
            vhost = connection.virtual_host or "/"
            depths = management_depths(config.management_url, vhost)
            asked = set(names)
            found = [d for d in depths if (d.name in asked if asked else is_task_queue(d.name))]
            return found, sorted(asked - {d.name for d in found})
        return amqp_depths(connection, names)


def _on_redis(config: BrokerConfig) -> bool:
    return bool(Connection(config.url).transport.driver_type == "redis")


def lists_queues(config: BrokerConfig) -> bool:
    """Whether :func:`sample` finds queues unnamed (Redis, or a management API)."""
    return bool(config.management_url) or _on_redis(config)


def sampled_from(config: BrokerConfig) -> str:
    """Where :func:`sample` reads the depths, in words (a password masked), so a screen
    can say where its numbers come from."""
    if _on_redis(config):
        return "Redis LLEN"
    if config.management_url:
        return f"the RabbitMQ management API at {mask_url(config.management_url)}"
    return "AMQP passive queue.declare"
