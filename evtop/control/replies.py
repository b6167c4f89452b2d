"""What came back from a broadcast, and an honest sentence about it.

Celery's client returns a bare list of one-key dicts and merges duplicate nodenames with
only a warning; a missing reply looks the same as "no such worker". Here every reply is
kept in arrival order, duplicates are named, and the workers that were expected but did
not answer are listed, because "no reply" is not "failed" (the worker may be busy, slow
or on the other side of a network blip).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Status(str, Enum):
    OK = "ok"
    ERROR = "error"
    #: Inspect data (stats, task lists) or any other payload, ``null`` included.
    DATA = "data"


@dataclass(frozen=True)
class Reply:
    node: str
    status: Status
    #: The ``ok`` or ``error`` value (usually text) or the inspect payload, as received.
    value: Any
    #: Seconds after the request was sent.
    after: float

    @classmethod
    def parse(cls, node: str, payload: Any, after: float) -> Reply:
        """Classify a worker's reply: ``{'ok': x}``, ``{'error': x}`` or anything else."""
        if isinstance(payload, dict) and len(payload) == 1:
            key, value = next(iter(payload.items()))
            if key in (Status.OK.value, Status.ERROR.value):
                return cls(node, Status(key), value, after)
        return cls(node, Status.DATA, payload, after)

    @property
    def ok(self) -> bool:
        return self.status is not Status.ERROR

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "status": self.status.value,
            "value": self.value,
            "after": round(self.after, 4),
        }


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f}" if seconds >= 0.1 else f"{seconds:.2f}"


@dataclass(frozen=True)
class BroadcastResult:
    method: str
    arguments: Mapping[str, Any]
    destination: Sequence[str] | None
    #: The workers the caller expected to answer (the destination, or the ones a UI
    #: believes alive); ``None`` when unknown, i.e. a broadcast to all.
    expected: Sequence[str] | None
    timeout: float
    #: False when no reply was asked for (``shutdown``, fire-and-forget).
    reply_wanted: bool
    replies: Sequence[Reply] = ()
    #: Seconds from publishing the request to the end of the collection.
    elapsed: float = 0.0
    #: Messages on the reply queue that were not ours (another ticket) or not a reply.
    ignored: int = 0
    #: Replies that were not JSON (or msgpack, if allowed) or not ``{nodename: reply}``.
    unreadable: int = 0

    @property
    def nodes(self) -> list[str]:
        """Nodenames that replied, each once, in arrival order."""
        return list(dict.fromkeys(reply.node for reply in self.replies))

    @property
    def duplicates(self) -> list[str]:
        """Nodenames that replied more than once: two workers share a name (``-n``)."""
        counts = Counter(reply.node for reply in self.replies)
        return [node for node in self.nodes if counts[node] > 1]

    @property
    def missing(self) -> list[str]:
        replied = set(self.nodes)
        return [node for node in self.expected or () if node not in replied]

    @property
    def unexpected(self) -> list[str]:
        if self.expected is None:
            return []
        wanted = set(self.expected)
        return [node for node in self.nodes if node not in wanted]

    @property
    def complete(self) -> bool:
        """Every expected worker answered (never true when nobody is known to expect)."""
        return self.expected is not None and not self.missing

    @property
    def any_ok(self) -> bool:
        return any(reply.ok for reply in self.replies)

    def summary(self) -> str:
        """ "2 of 3 workers replied within 1.0 s", or without a known total "2 workers ..."."""
        if not self.reply_wanted:
            where = ", ".join(self.destination) if self.destination else "all workers"
            return f"{self.method} sent to {where}; no reply is expected"
        waited = self.elapsed if self.complete else self.timeout
        if self.expected is None:
            count = len(self.nodes)
            who = f"{count} worker{'' if count == 1 else 's'}"
        else:
            total = len(self.expected)
            who = f"{total - len(self.missing)} of {total} worker{'' if total == 1 else 's'}"
        text = f"{who} replied within {_seconds(waited)} s"
        if self.unexpected:
            text += f" (and {len(self.unexpected)} not expected)"
        if self.missing or not self.replies:
            text += "; no reply does not mean a worker is down (try a longer --timeout)"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "arguments": dict(self.arguments),
            "destination": list(self.destination) if self.destination is not None else None,
            "expected": list(self.expected) if self.expected is not None else None,
            "timeout": self.timeout,
            "reply_wanted": self.reply_wanted,
            "elapsed": round(self.elapsed, 4),
            "replies": [reply.to_json() for reply in self.replies],
            "replied": self.nodes,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "duplicates": self.duplicates,
            "ignored": self.ignored,
            "unreadable": self.unreadable,
            "summary": self.summary(),
        }
