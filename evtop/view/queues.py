"""The queue screen: every task queue's backlog, its consumers and how fast it moves.

Its rows come from the broker, not from events: a :class:`QueueBoard` keeps the latest
reading a background watch delivered (or why there is none: a replay has no broker),
and :class:`QueueSheet` filters and sorts it like the other screens.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evtop.broker.queues import QueueReading, QueueRow
from evtop.text.sanitize import sanitize
from evtop.view.cells import NONE, duration_text
from evtop.view.columns import Align, Column
from evtop.view.sheet import ArrangedSheet, Order, Table

UNKNOWN = "?"


@dataclass(frozen=True, slots=True)
class QueueItem:
    name: str
    messages: int
    unacked: int | None
    consumers: int | None
    #: None when the workers were not asked (``--read-only``) or did not answer.
    workers: tuple[str, ...] | None
    change: float | None

    @classmethod
    def of(cls, row: QueueRow, workers_known: bool) -> QueueItem:
        return cls(
            sanitize(row.name),
            row.messages,
            row.unacked,
            row.consumers,
            tuple(sanitize(w) for w in row.workers) if workers_known else None,
            row.change,
        )


class QueueBoard:
    """The latest queue reading, kept for the screen (written on the UI thread only)."""

    def __init__(self, unavailable: str = "", *, source: str = "") -> None:
        #: Why the broker cannot be asked at all ("" when it can).
        self.unavailable = unavailable
        #: Where the numbers come from (:func:`~evtop.broker.queues.sampled_from`).
        self.source = sanitize(source)
        self.reading: QueueReading | None = None
        self._items: list[QueueItem] = []

    def take(self, reading: QueueReading) -> None:
        self.reading = reading
        if not reading.failed:  # a failed reading keeps the last rows on screen, marked stale
            self._items = [QueueItem.of(row, reading.workers_known) for row in reading.rows]

    def items(self) -> list[QueueItem]:
        return list(self._items)

    def status(self, now: float) -> str:
        """A few words for the view line: how old the rows are, where they come from, and
        what is missing."""
        if self.unavailable:
            return f"queues unavailable: {self.unavailable}"
        where = f" from {self.source}" if self.source else ""
        reading = self.reading
        if reading is None:
            return f"reading the queues{where}..."
        age = f"read {duration_text(max(now - reading.time, 0.0))} ago"
        if reading.failed:  # what failed first: the line is cut at the terminal's width
            return f"{age}, failed: {sanitize(reading.note)}" + (f" ({self.source})" if self.source else "")
        age += where
        return f"{age}; {sanitize(reading.note)}" if reading.note else age


class QueueSheet(ArrangedSheet[QueueItem]):
    title = "Queues"
    columns = (
        Column("name", "QUEUE", 16, grow=2),
        Column("messages", "MESSAGES", 9, align=Align.RIGHT),
        Column("unacked", "UNACKED", 7, align=Align.RIGHT, drop=2),
        Column("consumers", "CONSUMERS", 9, align=Align.RIGHT, drop=1),
        Column("change", "CHANGE/S", 8, align=Align.RIGHT, drop=3),
        Column("workers", "WORKERS", 10, grow=3),
    )
    fields = ("name", "workers")
    default_sort = "messages"
    default_descending = True
    sort_columns = ("messages", "name", "consumers", "change")

    def table(self, board: QueueBoard, now: float, order: Order, filter_text: str) -> Table[QueueItem]:
        return self.arrange(board.items(), now, order, filter_text)

    def key(self, item: QueueItem) -> str:
        return item.name

    def search(self, item: QueueItem) -> dict[str, str]:
        return {"name": item.name.lower(), "workers": " ".join(item.workers or ()).lower()}

    def sort_key(self, column: str) -> Callable[[QueueItem], Any]:
        return operator.attrgetter(column)

    def cells(self, item: QueueItem, now: float) -> tuple[str, ...]:
        return (
            item.name,
            str(item.messages),
            NONE if item.unacked is None else str(item.unacked),
            NONE if item.consumers is None else str(item.consumers),
            NONE if item.change is None else f"{item.change:+.1f}",
            UNKNOWN if item.workers is None else ", ".join(item.workers) or NONE,
        )

    def styles(self, item: QueueItem) -> tuple[str | None, ...]:
        idle = item.messages and not item.consumers
        growing = item.change is not None and item.change > 0
        return (
            None,
            "queue.stuck" if idle else None,
            None,
            "queue.stuck" if idle else None,
            "queue.growing" if growing else None,
            None,
        )
