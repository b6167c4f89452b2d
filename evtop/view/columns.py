"""Declarative columns and the arithmetic that fits them to a terminal width."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Align(str, Enum):
    LEFT = "left"
    RIGHT = "right"


@dataclass(frozen=True)
class Column:
    """One table column: ``width`` columns at least, plus a share of the spare room."""

    id: str
    title: str
    width: int
    #: Share of the spare width this column takes (0: never wider than ``width``).
    grow: int = 0
    align: Align = Align.LEFT
    #: Dropped first (highest first) when even the minimum widths do not fit.
    drop: int = 0
    #: Never wider than this (a uuid is 36 columns); the rest goes to the other growers.
    most: int | None = None
    #: Sorted highest (newest) first when picked: numbers (right-aligned) and times do,
    #: text sorts A to Z first. None: by the alignment.
    descending_first: bool | None = None

    @property
    def starts_descending(self) -> bool:
        return self.align is Align.RIGHT if self.descending_first is None else self.descending_first


#: The space between two columns.
GAP = 1


def layout(columns: tuple[Column, ...], width: int) -> list[int]:
    """Widths for ``columns`` in ``width`` terminal columns; 0 for a column left out.

    Columns with the highest ``drop`` go first until the minimums fit; the spare room is
    shared by ``grow`` weight (up to each column's ``most``), the remainder going to the
    leftmost growing columns, so the widths add up to exactly the room available while
    any column can still grow (a stable, full-width table).
    """
    shown = list(columns)
    while shown and sum(c.width for c in shown) + GAP * (len(shown) - 1) > width:
        victim = max(shown, key=lambda c: (c.drop, -columns.index(c)))
        if victim.drop == 0:
            break
        shown.remove(victim)
    used = sum(c.width for c in shown) + GAP * max(len(shown) - 1, 0)
    spare = max(width - used, 0)
    widths = {c.id: c.width for c in shown}
    growing = [c for c in shown if c.grow]
    while spare and growing:
        weights = sum(c.grow for c in growing)
        given = 0
        for c in growing:
            share = min(spare * c.grow // weights or 1, spare - given, room(c, widths[c.id]))
            widths[c.id] += share
            given += share
        spare -= given
        growing = [c for c in growing if room(c, widths[c.id])]
    over = used - max(width, 0)
    for column in reversed(shown):  # even the undroppable minimums are too wide: squeeze
        if over <= 0:
            break
        cut = min(widths[column.id] + GAP, over)  # a column cut to nothing frees its gap too
        widths[column.id] = max(widths[column.id] - cut, 0)
        over -= cut
    return [widths.get(c.id, 0) for c in columns]


def room(column: Column, width: int) -> int:
    """How much wider ``column`` may still get."""
    return 1 << 30 if column.most is None else max(column.most - width, 0)
