"""Counters for the ingest boundary: every event received is either applied or dropped.

The invariant ``received == applied + sum(dropped.values())`` is what lets a user (and a
test) trust that nothing vanished silently. Counters are written by the one thread that
consumes events and read by anyone; Python int updates from a single writer need no lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

#: Why an event was dropped. A fixed set, so the counters stay bounded whatever arrives.
DECODE_ERROR: Final = "decode_error"  # not valid JSON/UTF-8/msgpack, parser bombs, broken envelopes
DISALLOWED_CONTENT: Final = "disallowed_content"  # pickle, yaml, kombu's raw types, msgpack w/o opt-in
NOT_AN_OBJECT: Final = "not_an_object"  # body or list element that is not a JSON object
UNKNOWN_TYPE: Final = "unknown_type"  # missing/non-string/ill-formed/oversized event type
MISSING_FIELD: Final = "missing_field"  # a field the event cannot be understood without
BAD_FIELD: Final = "bad_field"  # such a field is present but unusable
HANDLER_ERROR: Final = "handler_error"  # the consumer (State, dump, ...) raised on it
DROP_REASONS: Final = (
    DECODE_ERROR,
    DISALLOWED_CONTENT,
    NOT_AN_OBJECT,
    UNKNOWN_TYPE,
    MISSING_FIELD,
    BAD_FIELD,
    HANDLER_ERROR,
)


@dataclass
class IngestStats:
    """What crossed the validation boundary, by outcome."""

    received: int = 0
    applied: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    #: Messages taken off the broker (one message may hold a batch of events).
    messages: int = 0
    #: String or container fields cut to their size cap (the event itself was kept).
    fields_truncated: int = 0
    #: Optional fields removed because their value was unusable (the event was kept).
    fields_removed: int = 0

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] += count

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def balanced(self) -> bool:
        """True when every received event is accounted for."""
        return self.received == self.applied + self.dropped_total

    def counts(self) -> tuple[int, ...]:
        """The counters another boundary adds with :meth:`add` (a reader process's, sent to
        evtop): messages, received, each reason's drops in ``DROP_REASONS`` order, fields
        truncated, fields removed. ``applied`` is left out: the adding side counts its own."""
        dropped = self.dropped
        return (
            self.messages,
            self.received,
            *(dropped[reason] for reason in DROP_REASONS),
            self.fields_truncated,
            self.fields_removed,
        )

    def add(self, counts: tuple[int, ...]) -> None:
        """Add what :meth:`counts` gave (or a difference of two of them)."""
        messages, received, *dropped, truncated, removed = counts
        self.messages += messages
        self.received += received
        for reason, count in zip(DROP_REASONS, dropped, strict=True):
            if count:
                self.drop(reason, count)
        self.fields_truncated += truncated
        self.fields_removed += removed

    def as_dict(self) -> dict[str, object]:
        return {
            "received": self.received,
            "applied": self.applied,
            "dropped": dict(self.dropped),
            "messages": self.messages,
            "fields_truncated": self.fields_truncated,
            "fields_removed": self.fields_removed,
        }
