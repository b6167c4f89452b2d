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
from collections.abc import Iterable, Iterator
from itertools import accumulate, chain, pairwise
from typing import Any

__all__ = ["Entry", "TimeOrder", "in_clock_order"]

#: ``(clock, origin, timestamp, task uuid, task serial)``: clock and origin first, so that
#: plain tuple comparison is kombu's order wherever every entry has a clock. celery keeps
#: a weak reference to the task instead; a weak reference is a container the garbage
#: collector must visit, and so is every tuple holding one, whereas a tuple of strings
#: and numbers drops out of its tracking. The serial tells a task from one created later
#: under the same uuid, whose events celery's dead weak references would not name.
Entry = tuple[Any, Any, Any, Any, Any]

#: A block is split in two when it grows past this many entries. Tried 256 to 4096 on
#: the production-like benchmark streams: the cost is flat from 512 to 2048.
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


class TimeOrder:
    """celery's task heap with the same contents, in the same order, bounded the same way.

    While every entry has a clock and each adjacent pair is in (clock, origin) order,
    kombu's comparison is that total order, so a bisection on tuple keys finds the
    position celery's ``insort`` finds. An entry without a clock (a State fed directly,
    or a ``task-sent`` that is the receiver's first event, which gets clock 0) makes the
    comparison intransitive, and celery's result then depends on which entries its
    bisection happens to probe: while any pair is out of order (``bad_pairs``), inserts
    replay that bisection step by step on the same positions with kombu's comparison.
    Once the last such pair is dropped, the fast placement resumes.
    """

    __slots__ = ("_blocks", "_firsts", "_size", "bad_pairs", "limit")

    def __init__(self, limit: int, entries: Iterable[Entry] = ()) -> None:
        """At most ``limit`` entries; ``entries`` must already be in order."""
        ordered = list(entries)
        self.limit = limit
        self._blocks = [ordered[i : i + _BLOCK_MAX // 2] for i in range(0, len(ordered), _BLOCK_MAX // 2)]
        #: The first entry of each block, bisected to find the block an entry goes in.
        self._firsts = [block[0] for block in self._blocks]
        self._size = len(ordered)
        #: Adjacent entries not in plain (clock, origin) order, or without a clock.
        self.bad_pairs = sum(not in_clock_order(a, b) for a, b in pairwise(ordered))

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Entry]:
        """Oldest first; not safe while entries are added (the State holds its lock)."""
        return chain.from_iterable(self._blocks)

    def entries(self, limit: int | None = None, reverse: bool = True) -> list[Entry]:
        """A copy of the first ``limit`` entries (all when None), newest first if ``reverse``."""
        if limit is None:
            out = list(chain.from_iterable(self._blocks))
            if reverse:
                out.reverse()
            return out
        out = []
        for block in reversed(self._blocks) if reverse else self._blocks:
            if len(out) >= limit:
                break
            out += reversed(block) if reverse else block
        del out[limit:]
        return out

    def clear(self) -> None:
        self._blocks.clear()
        self._firsts.clear()
        self._size = 0
        self.bad_pairs = 0

    def add(self, clock: Any, timestamp: Any, origin: Any, uuid: str | None, serial: int) -> None:
        """Place one task event where celery would, dropping the oldest first when full."""
        blocks = self._blocks
        if self._size == self.limit:  # full: every event drops one, so the usual case is inline
            first = blocks[0]
            if self.bad_pairs or len(first) == 1:
                self._drop_oldest()
            else:
                del first[0]
                self._firsts[0] = first[0]
                self._size -= 1
        entry = (clock, origin, timestamp, uuid, serial)
        if not blocks:
            self._insert_exact(entry)
            return
        block = blocks[-1]
        last = block[-1]
        # celery appends an entry newer than the newest (kombu's comparison, inlined).
        if (
            (last[1] < origin if clock == last[0] else last[0] < clock)
            if clock and last[0]
            else last[2] < timestamp
        ):
            block.append(entry)
            index = len(blocks) - 1
            if not (clock and last[0]):
                self.bad_pairs += 1
        elif clock and not self.bad_pairs and blocks[0][0][0]:
            # In (clock, origin) order: insort's place, found by C bisections.
            probe = (clock, origin, _LAST)
            index = bisect_right(self._firsts, probe) - 1
            if index < 0:  # older than every entry
                index = 0
                block = blocks[0]
                block.insert(0, entry)
                self._firsts[0] = entry
            else:
                block = blocks[index]
                block.insert(bisect_right(block, probe), entry)
        else:
            self._insert_exact(entry)
            return
        self._size += 1
        if len(block) > _BLOCK_MAX:
            self._split(index)

    def _insert_exact(self, entry: Entry) -> None:
        """celery's ``insort`` replayed probe by probe: the order may be intransitive here."""
        blocks = self._blocks
        ends = list(accumulate(map(len, blocks)))

        def locate(position: int) -> tuple[int, int]:
            index = bisect_right(ends, position)
            return index, position - (ends[index - 1] if index else 0)

        clock, origin, timestamp = entry[0], entry[1], entry[2]
        low, high = 0, self._size
        while low < high:
            middle = (low + high) // 2
            index, offset = locate(middle)
            other = blocks[index][offset]
            if (
                (origin < other[1] if clock == other[0] else clock < other[0])
                if clock and other[0]
                else timestamp < other[2]
            ):
                high = middle
            else:
                low = middle + 1
        before = None
        if low:
            index, offset = locate(low - 1)
            before = blocks[index][offset]
        if low == self._size:
            after = None
            if not blocks:
                blocks.append([])
                self._firsts.append(entry)
            index = len(blocks) - 1
            blocks[index].append(entry)
        else:
            index, offset = locate(low)
            after = blocks[index][offset]
            blocks[index].insert(offset, entry)
            if offset == 0:
                self._firsts[index] = entry
        if before is not None and after is not None and not in_clock_order(before, after):
            self.bad_pairs -= 1
        if before is not None and not in_clock_order(before, entry):
            self.bad_pairs += 1
        if after is not None and not in_clock_order(entry, after):
            self.bad_pairs += 1
        self._size += 1
        if len(blocks[index]) > _BLOCK_MAX:
            self._split(index)

    def _split(self, index: int) -> None:
        block = self._blocks[index]
        half = len(block) // 2
        tail = block[half:]
        del block[half:]
        self._blocks.insert(index + 1, tail)
        self._firsts.insert(index + 1, tail[0])

    def _drop_oldest(self) -> None:
        blocks = self._blocks
        first = blocks[0]
        if self.bad_pairs and self._size > 1:
            following = first[1] if len(first) > 1 else blocks[1][0]
            if not in_clock_order(first[0], following):
                self.bad_pairs -= 1
        del first[0]
        if first:
            self._firsts[0] = first[0]
        else:
            del blocks[0]
            del self._firsts[0]
        self._size -= 1
