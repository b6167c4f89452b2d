"""The task heap: each task event's place in celery's time order, in O(log n) per event.

celery keeps a ``(clock, timestamp, origin, task)`` tuple per task event in a list sorted
by kombu's ``timetuple`` order: Lamport clock first, ties broken by origin
(``hostname.pid``), and timestamps instead when either side has no clock.
``tasks_by_time`` reads it newest first; when it holds ``limit`` entries the oldest is
dropped before the next goes in.

Every worker has its own Lamport clock (they meet only through gossip, and never with
``--without-gossip --without-mingle``), clients' ``task-sent`` clocks are the receiver's,
and prefork workers publish in batches: so most events belong deep inside the order,
not at its end, and a flat list or deque pays O(n) for each. Here the entries are kept
in a list of sorted blocks (as in sortedcontainers' ``SortedList``): an event is placed
by bisecting the blocks' first entries and then one block, both in C on tuple keys, and
only that block's pointers move.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate, chain
from typing import Any

__all__ = ["Entry", "TimeOrder", "in_clock_order"]

#: ``(clock, origin, timestamp, task uuid, task serial)``: clock and origin first, so that
#: plain tuple comparison is kombu's order wherever every entry has a clock. celery keeps
#: a weak reference to the task instead; a weak reference is a container the garbage
#: collector must visit, and so is every tuple holding one, whereas a tuple of strings
#: and numbers drops out of its tracking. The serial tells a task from one created later
#: under the same uuid, whose events celery's dead weak references would not name.
Entry = tuple[Any, Any, Any, Any, Any]

#: A block is split in two when it grows past this many entries. Tried 256 to 8192 on
#: the production-like benchmark streams: the cost per event is flat up to 2048 and grows
#: past it (a block's insert moves more pointers); the largest flat size keeps the list
#: of blocks shortest.
_BLOCK_MAX = 2048


class _Last:
    """Compares above any timestamp: ``(clock, origin, LAST)`` sorts after equal keys."""

    __slots__ = ()

    def __lt__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return True


_LAST = _Last()


def in_clock_order(a: Entry, b: Entry) -> bool:
    """``a`` may precede ``b`` in an order by (clock, origin) alone."""
    return bool(a[0] and b[0]) and (a[0], a[1]) <= (b[0], b[1])


def _before(a: Entry, b: Entry) -> bool:
    """kombu's ``timetuple`` comparison ``a < b``: by (clock, origin) when both have a clock."""
    return (a[1] < b[1] if a[0] == b[0] else a[0] < b[0]) if a[0] and b[0] else a[2] < b[2]


class TimeOrder:
    """celery's task heap with the same contents, in the same order, bounded the same way.

    The entries are a short unordered ``front`` followed by blocks in which every entry
    has a clock and all are in (clock, origin) order. There kombu's comparison is that
    total order, so a bisection on tuple keys finds the position celery's ``insort``
    finds. An entry without a clock (a State fed directly, or a ``task-sent`` that is
    the receiver's first event, which gets clock 0) makes the comparison intransitive,
    and celery's result then depends on which entries its bisection happens to probe:
    such entries, and any that celery's bisection puts among them, make up the front.
    Events placed there replay celery's bisection probe by probe; behind the front its
    outcome is known from the order. The front is the oldest part, so trimming empties
    it, and until then it costs little: celery's bisection reaches it only for an event
    older than all but a few entries.
    """

    __slots__ = ("_blocks", "_firsts", "_front", "_size", "limit")

    def __init__(self, limit: int, entries: Iterable[Entry] = ()) -> None:
        """At most ``limit`` entries; ``entries`` must already be in order."""
        ordered = list(entries)
        self.limit = limit
        start = len(ordered)  # the longest ordered tail goes into blocks
        while (
            start
            and ordered[start - 1][0]
            and (start == len(ordered) or in_clock_order(*ordered[start - 1 : start + 1]))
        ):
            start -= 1
        self._front = ordered[:start]
        step = _BLOCK_MAX // 2
        self._blocks = [ordered[i : i + step] for i in range(start, len(ordered), step)]
        #: The first entry of each block, bisected to find the block an entry goes in.
        self._firsts = [block[0] for block in self._blocks]
        self._size = len(ordered)

    def __len__(self) -> int:
        return self._size

    @property
    def unordered(self) -> int:
        """How many of the oldest entries are outside plain (clock, origin) order."""
        return len(self._front)

    def __iter__(self) -> Iterator[Entry]:
        """Oldest first; not safe while entries are added (the State holds its lock)."""
        return chain(self._front, chain.from_iterable(self._blocks))

    def entries(self, limit: int | None = None, reverse: bool = True) -> list[Entry]:
        """A copy of the first ``limit`` entries (all when None), newest first if ``reverse``."""
        parts = [self._front, *self._blocks]
        if limit is None:
            out = list(chain.from_iterable(parts))
            if reverse:
                out.reverse()
            return out
        out = []
        for part in reversed(parts) if reverse else parts:
            if len(out) >= limit:
                break
            out += reversed(part) if reverse else part
        del out[limit:]
        return out

    def clear(self) -> None:
        self._front.clear()
        self._blocks.clear()
        self._firsts.clear()
        self._size = 0

    def add(self, clock: Any, timestamp: Any, origin: Any, uuid: str | None, serial: int) -> None:
        """Place one task event where celery would, dropping the oldest first when full."""
        blocks = self._blocks
        if self._size == self.limit:  # full: every event drops one, so this is inline
            if self._front:
                del self._front[0]
            else:
                first = blocks[0]
                del first[0]
                if first:
                    self._firsts[0] = first[0]
                else:
                    del blocks[0]
                    del self._firsts[0]
            self._size -= 1
        entry = (clock, origin, timestamp, uuid, serial)
        if not (clock and blocks):
            self._insert_replayed(entry)
            return
        block = blocks[-1]
        last = block[-1]
        # celery appends an entry newer than the newest (kombu's comparison, inlined).
        if last[0] < clock or (clock == last[0] and last[1] < origin):
            block.append(entry)
            index = len(blocks) - 1
        elif self._front:
            self._insert_replayed(entry)
            return
        else:  # all in (clock, origin) order: insort's place, found by C bisections
            # _ordered_place, inlined: three in four events of a real stream come here.
            probe = (clock, origin, _LAST)
            index = bisect_right(self._firsts, probe) - 1
            if index < 0:  # older than every entry in the blocks
                index = offset = 0
                block = blocks[0]
            else:
                block = blocks[index]
                offset = bisect_right(block, probe)
            block.insert(offset, entry)
            if not offset:
                self._firsts[index] = entry
        self._size += 1
        if len(block) > _BLOCK_MAX:
            self._split(index)

    def _ordered_place(self, entry: Entry) -> tuple[int, int]:
        """(block, offset) where ``insort`` puts a clocked entry among the blocks."""
        probe = (entry[0], entry[1], _LAST)
        index = bisect_right(self._firsts, probe) - 1
        if index < 0:  # older than every entry in the blocks
            return 0, 0
        return index, bisect_right(self._blocks[index], probe)

    def _insert_replayed(self, entry: Entry) -> None:
        """celery's append-or-``insort``, replayed where its comparison may be intransitive."""
        front, blocks = self._front, self._blocks
        newest = blocks[-1][-1] if blocks else front[-1] if front else None
        if newest is not None and _before(newest, entry):
            low = self._size
        elif entry[0] and blocks:
            index, ahead = self._ordered_place(entry)
            # Behind the front, ``entry < x`` holds from the ordered place on. If that
            # place is at least as far from the start as the front is long, celery's
            # bisection never reaches the front and ends there.
            for block in blocks[:index]:
                if ahead >= len(front):
                    break
                ahead += len(block)
            if ahead >= len(front):
                low = len(front) + ahead
            else:
                low = self._bisect(entry, lambda position: position - len(front) >= ahead)
        else:
            ends = list(accumulate(map(len, blocks)))

            def precedes(position: int) -> bool:
                position -= len(front)
                index = bisect_right(ends, position)
                return _before(entry, blocks[index][position - (ends[index - 1] if index else 0)])

            low = self._bisect(entry, precedes)
        self._size += 1
        if low < len(front):
            front.insert(low, entry)
        elif not entry[0]:  # no clock: the ordered entries before it join the front
            self._move_to_front(low - len(front))
            front.append(entry)
        elif not blocks:
            blocks.append([entry])
            self._firsts.append(entry)
        else:  # celery's bisection ended behind the front, where the order puts it
            index, offset = self._ordered_place(entry)
            blocks[index].insert(offset, entry)
            if not offset:
                self._firsts[index] = entry
            if len(blocks[index]) > _BLOCK_MAX:
                self._split(index)

    def _bisect(self, entry: Entry, precedes: Callable[[int], bool]) -> int:
        """``bisect_right`` over all entries with kombu's comparison, probing as ``insort``.

        ``precedes(position)`` answers ``entry < entries[position]`` behind the front.
        """
        front = self._front
        low, high = 0, self._size
        while low < high:
            middle = (low + high) // 2
            if _before(entry, front[middle]) if middle < len(front) else precedes(middle):
                high = middle
            else:
                low = middle + 1
        return low

    def _move_to_front(self, count: int) -> None:
        """Move the oldest ``count`` ordered entries to the end of the front."""
        front, blocks, firsts = self._front, self._blocks, self._firsts
        while count:
            block = blocks[0]
            if len(block) <= count:
                front += block
                count -= len(block)
                del blocks[0]
                del firsts[0]
            else:
                front += block[:count]
                del block[:count]
                firsts[0] = block[0]
                count = 0

    def _split(self, index: int) -> None:
        block = self._blocks[index]
        half = len(block) // 2
        tail = block[half:]
        del block[half:]
        self._blocks.insert(index + 1, tail)
        self._firsts.insert(index + 1, tail[0])
