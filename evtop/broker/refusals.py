"""What the broker refused, in one line that says what to change.

RabbitMQ refuses a declaration, binding, consume or publish by closing the channel with a
code and a sentence naming the resource -- ``ACCESS_REFUSED - access to queue
'celeryev.1f..' in vhost '/' refused for user 'mon'`` -- but not the permission. Which
permission it checked follows from the refused method (RabbitMQ's access control table:
declaring needs configure, binding needs write on the queue and read on the exchange,
consuming needs read, publishing write), so the line evtop logs names both. The other
refusals evtop handles on purpose are recognised here too: a missing exchange (no worker
has sent events yet), a queue someone else consumes, a queue that exists with other
arguments (no retry can fix that), and a Redis ACL saying no.

The broker's sentences are matched, not its codes alone: one code covers several causes
(403 is both a missing permission and a queue in exclusive use), and kombu's in-process
transports raise the same sentences without the codes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from evtop.errors import EvtopError


class Kind(str, Enum):
    MISSING_EXCHANGE = "missing exchange"
    NO_PERMISSION = "no permission"
    IN_USE = "in use"
    MISMATCH = "mismatch"


@dataclass(frozen=True)
class Refusal:
    kind: Kind
    #: One line for the operator; never holds a password (the broker's sentences do not).
    message: str
    #: The exchange or queue the broker named (a uuid in it shown as ``<uuid>``).
    resource: str = ""
    vhost: str = ""

    @property
    def fatal(self) -> bool:
        """A queue's arguments do not change by themselves: retrying would loop forever."""
        return self.kind is Kind.MISMATCH


class BrokerRefused(EvtopError):
    """The broker refused something evtop cannot work without, and waiting will not help."""


#: (refused method, kind of resource) -> the permission RabbitMQ checked.
PERMISSIONS = {
    ("Exchange.declare", "exchange"): "configure",
    ("Queue.declare", "queue"): "configure",
    ("Queue.bind", "queue"): "write",
    ("Queue.bind", "exchange"): "read",
    ("Basic.consume", "queue"): "read",
    ("Basic.publish", "exchange"): "write",
}

_WHERE = r"'(?P<name>[^']*)' in vhost '(?P<vhost>[^']*)'"
_NO_EXCHANGE = re.compile(rf"NOT_FOUND - no exchange {_WHERE}")
_ACCESS = re.compile(rf"access to (?P<kind>queue|exchange) {_WHERE} refused for user '(?P<user>[^']*)'")
_IN_USE = re.compile(rf"queue {_WHERE} in exclusive use")
_LOCKED = re.compile(rf"exclusive access to locked queue {_WHERE}")
_INEQUIVALENT = re.compile(
    rf"inequivalent arg '(?P<arg>[^']*)' for (?P<kind>queue|exchange) {_WHERE}: (?P<detail>.*)"
)
_NOPERM = re.compile(r"(?:NOPERM )?(?P<text>(?:this user|User \S+) has no permissions? to [^\n]*)")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def explain(exc: BaseException, *, pattern: str | None = None) -> Refusal | None:
    """The refusal ``exc`` reports, or None for anything else (a lost link, a timeout).

    ``pattern`` is the Redis channel pattern evtop subscribes to, named when an ACL
    refuses it (Redis's own message names no channel).
    """
    text = str(getattr(exc, "reply_text", None) or exc)
    method = str(getattr(exc, "method_name", "") or "")
    if found := _NO_EXCHANGE.search(text):
        name, vhost = found["name"], found["vhost"]
        return Refusal(
            Kind.MISSING_EXCHANGE, f"there is no exchange {name!r} in vhost {vhost!r}", name, vhost
        )
    if found := _ACCESS.search(text):
        return _no_permission(found, method)
    if found := _IN_USE.search(text) or _LOCKED.search(text):
        name, vhost = found["name"], found["vhost"]
        return Refusal(
            Kind.IN_USE,
            f"queue {name!r} in vhost {vhost!r} is in exclusive use by another connection"
            " (another evtop with the same --queue?)",
            name,
            vhost,
        )
    if found := _INEQUIVALENT.search(text):
        arg, kind, name, vhost = found["arg"], found["kind"], found["name"], found["vhost"]
        return Refusal(
            Kind.MISMATCH,
            f"{kind} {name!r} in vhost {vhost!r} already exists with another {arg} than evtop declares"
            f" ({found['detail'].strip()}): give evtop the {kind}'s settings, or delete the {kind}"
            " so that evtop declares it anew",
            name,
            vhost,
        )
    if found := _NOPERM.search(text):
        channels = f", the channel pattern &{pattern}" if pattern else ""
        return Refusal(
            Kind.NO_PERMISSION,
            f"the Redis ACL refused: {found['text']} (evtop needs +psubscribe and +ping{channels},"
            " and +select for a database other than 0)",
        )
    return None


def _no_permission(found: re.Match[str], method: str) -> Refusal:
    kind, vhost, user = found["kind"], found["vhost"], found["user"]
    name = _UUID.sub("<uuid>", found["name"])
    permission = PERMISSIONS.get((method, kind))
    needed = f"{permission} permission on" if permission else "access to"
    doing = f" (refused: {method})" if method else ""
    return Refusal(
        Kind.NO_PERMISSION,
        f"the broker user {user!r} has no {needed} {kind} {name!r} in vhost {vhost!r}{doing}",
        name,
        vhost,
    )
