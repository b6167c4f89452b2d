"""What the view lets go of, freed a piece at a time: bounded steps, drained in the end,
nothing held once drained, never more waiting than asked, and no list it was given
emptied or cut."""

from __future__ import annotations

import gc
import math
import weakref

import pytest

from evtop.view import dropped
from evtop.view.dropped import Dropped

PIECE = 4


class Entry:
    """An entry that says when it is freed (weak references) and whether a collection
    could run then."""

    def __init__(self, freed_with_gc: list[bool] | None = None) -> None:
        self.freed_with_gc = freed_with_gc

    def __del__(self) -> None:
        if self.freed_with_gc is not None:
            self.freed_with_gc.append(gc.isenabled())


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch):
    monkeypatch.setattr(dropped, "PIECE", PIECE)


def blocks(*sizes: int) -> tuple[list[list[Entry]], list[weakref.ref[Entry]]]:
    """Lists of entries, and a weak reference to each entry."""
    made = [[Entry() for _ in range(size)] for size in sizes]
    return made, [weakref.ref(entry) for block in made for entry in block]


def alive(refs: list[weakref.ref[Entry]]) -> int:
    return sum(ref() is not None for ref in refs)


def test_each_step_frees_a_piece_at_least_the_oldest_first_until_none_is_left():
    made, refs = blocks(3, 4, 2, 10)
    queue = Dropped()
    queue.add(made, most=100)
    del made
    assert len(queue) == 19 and alive(refs) == 19  # nothing freed when dropped
    freed = []
    while True:
        done = queue.free(-math.inf)  # the deadline gone: one piece a step
        freed.append(19 - alive(refs))
        if done:
            break
    # 3, 4, 2, then the long list copied into pieces of four: 4, 4, 2
    assert freed == [3, 7, 9, 13, 17, 19]
    assert len(queue) == 0 and queue.free(-math.inf)  # drained: nothing held, nothing to do


def test_a_step_frees_until_its_deadline():
    made, refs = blocks(*[4] * 50)
    queue = Dropped()
    queue.add(made, most=1000)
    del made
    assert queue.free(math.inf) and alive(refs) == 0 and len(queue) == 0


def test_what_is_dropped_together_under_a_piece_is_freed_at_once():
    made, refs = blocks(1, 2)
    queue = Dropped()
    queue.add(made, most=100)
    del made
    assert len(queue) == 0 and alive(refs) == 0 and queue.free(-math.inf)


def test_beyond_most_entries_waiting_the_oldest_are_freed_at_once():
    first, first_refs = blocks(4, 4, 4)
    second, second_refs = blocks(4, 4)
    queue = Dropped()
    queue.add(first, most=12)
    queue.add(second, most=12)
    del first, second
    assert len(queue) == 12  # the two oldest pieces freed at once to make room
    assert [ref() is None for ref in first_refs] == [True] * 8 + [False] * 4
    assert alive(second_refs) == 8


def test_a_list_still_held_elsewhere_is_let_go_of_never_emptied_or_cut():
    made, _ = blocks(4, 4, 9)
    held = [list(block) for block in made]
    queue = Dropped()
    queue.add(made, most=100)
    while not queue.free(-math.inf):
        pass
    assert made == held  # a reader of the index they came from sees them whole


def test_a_list_its_holder_still_fills_counts_as_it_was_when_dropped():
    """A pass dropped while an old table still reads it fills its last block further."""
    made, _ = blocks(4, 4)
    queue = Dropped()
    queue.add(made, most=100)
    made[-1] += [Entry(), Entry()]
    assert len(queue) == 8
    assert not queue.free(-math.inf) and len(queue) == 4
    assert queue.free(-math.inf) and len(queue) == 0


def test_no_collection_runs_while_a_step_frees():
    freed_with_gc: list[bool] = []
    queue = Dropped()
    queue.add([[Entry(freed_with_gc) for _ in range(4)] for _ in range(3)], most=100)
    assert gc.isenabled()
    while not queue.free(-math.inf):
        pass
    assert freed_with_gc == [False] * 12 and gc.isenabled()
