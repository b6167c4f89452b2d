"""What the view lets go of, freed a piece at a time between keys.

An index of a million rows sorted by a number holds a million ``(number, time, row)``
entries in blocks of a thousand; let go of at once, they are freed at once: 0.15-0.18 s
(53 ms at 300,000 rows), a frame held up when a filter typed drops the oldest of the
indexes kept (:data:`~evtop.view.taskrows.KEPT_INDEXES`). So the view hands the blocks to
:class:`Dropped` instead, and the live loop frees a few of them per step between keys
(:meth:`Dropped.free`), as it runs a filter's pass, while any are left, and no more once
none is: the blocks of a thousand entries take 0.2-0.6 ms each. What waits is bounded
(``most``): beyond it, the oldest is freed at once.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from evtop.view.orderings import collection_paused

#: Entries in a piece freed at once: two blocks of a sorted list at its default load (a
#: sorted list splits a block at twice its load, so its blocks are pieces as they are).
PIECE = 2000


class Dropped:
    """Lists the view let go of, each freed whole in its turn, oldest first: a list is
    only ever let go of here, never emptied or cut (a reader of the index it came from
    may still hold it: then its holder frees it). A list longer than :data:`PIECE` is
    copied into pieces that long when added, which costs a reference each, against the
    freeing of the objects only it held."""

    def __init__(self) -> None:
        #: Each list with its length when added (a holder may still fill it).
        self._pieces: deque[tuple[int, list[Any]]] = deque()
        self._entries = 0

    def __len__(self) -> int:
        """Entries waiting to be let go of."""
        return self._entries

    def add(self, lists: Iterable[list[Any]], most: int) -> None:
        """Take ``lists`` to free later; what they hold together is freed at once when
        less than a piece (cheaper than a step of the loop). Then the oldest lists
        beyond ``most`` entries waiting are freed at once: the user dropped indexes
        faster than the steps free them, and memory comes first."""
        pieces: list[list[Any]] = []
        for items in lists:
            if len(items) > PIECE:
                pieces += (items[start : start + PIECE] for start in range(0, len(items), PIECE))
            elif items:
                pieces.append(items)
        sizes = list(map(len, pieces))
        entries = sum(sizes)
        if entries < PIECE:
            return
        self._pieces += zip(sizes, pieces, strict=True)
        self._entries += entries
        if self._entries > most:
            with collection_paused():
                while self._entries > most:
                    self._free_oldest()

    def free(self, deadline: float) -> bool:
        """Free pieces, the oldest first, until ``deadline`` (``time.perf_counter``),
        at least one; True once none is left. No collection runs meanwhile: a step of
        freeing is made to be short."""
        if self._pieces:
            with collection_paused():
                self._free_oldest()
                while self._pieces and time.perf_counter() < deadline:
                    self._free_oldest()
        return not self._pieces

    def _free_oldest(self) -> None:
        self._entries -= self._pieces.popleft()[0]  # the last reference to the list here: freed
