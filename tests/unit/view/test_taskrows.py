"""The task rows kept up to date event by event, against the same rows sorted afresh.

Random event streams (out-of-order clocks, evictions, parents, events that go past
``feed``) meet random sort and filter changes; at each refresh the rows must be what
State holds, and every order what a from-scratch stable sort of them gives.
"""

from __future__ import annotations

import math
import operator
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from itertools import pairwise

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sortedcontainers import SortedList

from evtop.events import states
from evtop.events.state import State
from evtop.view import dropped, orderings, taskrows
from evtop.view.query import narrows, parse
from evtop.view.sheet import Order, sort_items
from evtop.view.taskrows import TaskRows
from evtop.view.tasks import TaskItem, TaskSheet
from evtop.view.tasktypes import TypeSheet
from evtop.view.trust import Trust
from tests.support.cluster import T0, task, worker

SHEET = TaskSheet()
TYPES = [
    "task-sent",
    "task-received",
    "task-started",
    "task-succeeded",
    "task-failed",
    "task-retried",
    "task-revoked",
    "task-progress",  # a custom state: celery's PROGRESS recipe
]
HOSTS = ["celery@w1", "celery@w2", "celery@w3"]
NAMES = ["proj.add", "proj.mul", "proj.slow"]
#: Filters as typed one letter or word at a time (each narrows the one before it),
#: and others that do not narrow them.
FILTERS = [
    "",
    "a",
    "ad",
    "add",
    "add (1",
    "state:s",
    "state:success",
    "state=success",
    "!state:success",
    "!state:success mul",
    "worker=celery@w2",
    "mul fail",
    "s:",
    "u0",
    "u01",
]
UUIDS = [f"u{i:02d}" for i in range(24)]


@st.composite
def events(draw, clocked=True):
    type_ = draw(st.sampled_from(TYPES))
    uuid = draw(st.sampled_from(UUIDS))
    clock = draw(st.integers(1, 40)) if clocked else draw(st.integers(0, 40))
    fields = {}
    if type_ in ("task-sent", "task-received"):
        fields["name"] = draw(st.sampled_from(NAMES))
        fields["args"] = f"({draw(st.integers(0, 3))},)"
        if draw(st.booleans()):
            fields["parent_id"] = draw(st.sampled_from(UUIDS))
    if type_ == "task-progress":
        fields.update(current=draw(st.integers(0, 4)), total=4)
    if type_ == "task-succeeded":
        fields["runtime"] = draw(st.one_of(st.none(), st.sampled_from([0.5, 1.5, 2.0]), st.floats(0, 5)))
    stamp = T0 + draw(st.integers(0, 30)) / 4
    return task(type_, uuid, stamp, clock, hostname=draw(st.sampled_from(HOSTS)), **fields)


def reference(rows: TaskRows, order: Order, filter_text: str) -> list[str]:
    """The uuids a from-scratch sort shows: newest first, filtered, stable-sorted."""
    query = parse(filter_text, SHEET.fields)
    shown = [row for row in rows.rows.values() if query.matches(SHEET.search(row))]
    return [row.uuid for row in in_order(shown, order)]


def type_stats(state: State) -> dict[str, tuple]:
    """Per-type counts and runtimes straight from State, as the screen computed them."""
    counts: dict[str, Counter] = {}
    runtimes: dict[str, list[float]] = {}
    running: Counter = Counter()
    revoked: Counter = Counter()
    for each in state.tasks.data.values():
        counts.setdefault(each.name, Counter())[each.state] += 1
        # Started, or in a custom state (never reached before it started here), not ended.
        ended = each.revoked or each.rejected
        running[each.name] += each.state == states.STARTED or (each.state == "PROGRESS" and not ended)
        revoked[each.name] += each.state in (states.REVOKED, states.REJECTED) or (
            each.state == "PROGRESS" and bool(ended)
        )
        runtime = each.runtime
        if each.state == states.SUCCESS and isinstance(runtime, float) and runtime >= 0:
            runtimes.setdefault(each.name, []).append(runtime)
    return {
        name: (
            sum(c.values()),
            c[states.SUCCESS],
            c[states.FAILURE],
            running[name],
            revoked[name],
            sorted(runtimes.get(name, [])),
        )
        for name, c in counts.items()
        if name
    }


def check(rows: TaskRows, state: State, order: Order, filter_text: str) -> None:
    data = state.tasks.data
    assert set(rows.rows) == set(data)
    for uuid, row in rows.rows.items():
        assert row == TaskItem.of(data[uuid], row.time)
    check_orders(rows, order, filter_text)
    assert SHEET.table(rows, T0, order, filter_text).total == len(data)
    items = {item.name: item for item in TypeSheet().table(rows, T0, Order("total", True), "").items}
    stats = type_stats(state)
    assert set(items) == set(stats)
    for name, (total, succeeded, failed, running, revoked, runtimes) in stats.items():
        item = items[name]
        assert (item.total, item.succeeded, item.failed) == (total, succeeded, failed)
        assert (item.running, item.revoked) == (running, revoked)
        assert item.max == (runtimes[-1] if runtimes else None)
        assert item.mean == (pytest.approx(math.fsum(runtimes) / len(runtimes)) if runtimes else None)


def check_orders(rows: TaskRows, order: Order, filter_text: str) -> None:
    """The table in ``order``, read row by row (first rows before the whole index, when
    the order is new) and then searched by key, is a fresh sort of the rows as held;
    and the rows that read LOST are counted as held (on every worker, offline or not)."""
    for host in HOSTS:
        rows.trust = Trust(offline=frozenset({host}))
        lost = [row for row in rows.rows.values() if rows.trust.lost(row.unfinished, row.worker)]
        assert rows.lost == len(lost)
    rows.trust = Trust()
    table = SHEET.table(rows, T0, order, filter_text)
    if table.counting is not None:  # a filter's pass underway: its first rows, as it began
        check_counting(rows, table)
        return
    expected = reference(rows, order, filter_text)
    assert [row.uuid for row in table.items] == expected
    assert table.total == len(rows.rows)
    for position, uuid in enumerate(expected):
        assert table.index_of(uuid) == position
    for uuid in set(rows.rows) - set(expected):
        assert table.index_of(uuid) is None


def check_counting(rows: TaskRows, table) -> None:
    """The first rows of a filter being counted (as many as found so far, maybe none, and
    the selected row after them): each one the filter keeps, in the table's order, found
    by key."""
    assert rows.counting and rows.behind
    first = list(table.items)
    assert all(table.query.matches(SHEET.search(row)) for row in first)
    assert len({row.uuid for row in first}) == len(first)
    assert first == in_order(first, table.order)
    for position, row in enumerate(first):
        if row.uuid in rows.rows:
            assert table.index_of(row.uuid) == position


def in_order(items: list[TaskItem], order: Order) -> list[TaskItem]:
    """``items`` as the table shows them in ``order``: newest first, then stable-sorted."""
    newest_first = sorted(items, key=operator.attrgetter("time"), reverse=True)
    if order.column == "time":
        return newest_first if order.descending else newest_first[::-1]
    return sort_items(newest_first, operator.attrgetter(order.column), order.descending)


AT_ONCE = taskrows.COUNT_AT_ONCE
steps = st.lists(
    st.one_of(
        events(clocked=False),
        events(clocked=False),
        st.just("refresh"),
        st.just("sync"),
        st.tuples(
            st.sampled_from(SHEET.sort_columns),
            st.booleans(),
            st.sampled_from(FILTERS),
            st.one_of(st.none(), st.sampled_from(UUIDS)),  # the row selected
        ),
        st.just("bypass"),
    ),
    max_size=150,
)


@pytest.mark.parametrize(
    ("rebuild_share", "kept", "budget", "first_rows", "count_at_once"),
    [
        (taskrows.REBUILD_SHARE, taskrows.KEPT_INDEXES, math.inf, orderings.FIRST_ROWS, AT_ONCE),
        (0.0, taskrows.KEPT_INDEXES, math.inf, 3, AT_ONCE),
        (math.inf, 1, math.inf, 3, AT_ONCE),
        (taskrows.REBUILD_SHARE, taskrows.KEPT_INDEXES, 0.0, 3, AT_ONCE),
        (math.inf, taskrows.KEPT_INDEXES, 0.0, 1, AT_ONCE),
        (taskrows.REBUILD_SHARE, taskrows.KEPT_INDEXES, 0.0, 1, 0),
        (math.inf, 2, 0.0, 2, 0),
    ],
)
@settings(max_examples=200, deadline=None)
@given(steps=steps, max_tasks=st.sampled_from([6, 10, 1000]), groups=st.sampled_from([1, 8]))
def test_rows_and_every_order_match_a_fresh_sort(
    rebuild_share, kept, budget, first_rows, count_at_once, steps, max_tasks, groups
):
    """Also with every refresh rebuilding the indexes, and with none doing so; with
    refreshes that move a few rows each (``budget`` 0: one chunk), where the orders must
    still match the rows as held; with new orders shown by their first few rows; with
    every filter counted between refreshes a few rows at a time while events come
    (``count_at_once`` 0), once counted the same rows as a filter searched at once, and
    meanwhile its rows found so far in order (the row selected after them, if kept)."""
    state = State(max_tasks_in_memory=max_tasks, clock=lambda: T0)
    rows = TaskRows(state)
    order, filter_text = Order("time", True), ""
    bypass = False
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(taskrows, "REBUILD_SHARE", rebuild_share)
        patch.setattr(taskrows, "KEPT_INDEXES", kept)
        patch.setattr(taskrows, "CHUNK", 2)
        patch.setattr(orderings, "FIRST_ROWS", first_rows)
        patch.setattr(orderings, "FIRST_GROUPS", groups)
        patch.setattr(taskrows, "COUNT_AT_ONCE", count_at_once)
        patch.setattr(orderings, "COUNT_CHUNK", 2)
        patch.setattr(orderings, "FIRST_SCAN", 4)
        patch.setattr(orderings, "FIRST_CHUNK", 2)
        patch.setattr(dropped, "PIECE", 2)  # what is dropped is freed a step at a time...
        patch.setattr(taskrows, "PIECE", 2)
        for step in steps:
            if step == "bypass":
                bypass = True  # the next event reaches State some other way
            elif step == "sync":
                rows.sync(budget)  # what is not on screen falls behind
                rows.dropped.free(-math.inf)  # ... meanwhile
            elif isinstance(step, dict):
                (state.event if bypass else rows.feed)(step)
                bypass = False
            else:
                if step != "refresh":
                    column, descending, filter_text, rows.selected = step
                    order = Order(column, descending)
                rows.sync(budget)
                if rows.behind:  # a chunk moved: the rest waits, what is held is consistent
                    check_orders(rows, order, filter_text)
                else:
                    check(rows, state, order, filter_text)
        while rows.behind:
            rows.sync(budget)
        check(rows, state, order, filter_text)
        while not rows.dropped.free(-math.inf):
            pass
        check(rows, state, order, filter_text)


def newest_first_by_state(state: State) -> list[str]:
    return [uuid for uuid, _ in state.tasks_by_time()]


@settings(max_examples=200, deadline=None)
@given(st.lists(events(), max_size=150), st.integers(1, 4))
def test_time_order_is_states_clock_order(stream, syncs):
    """Out-of-order clocks and equal clocks from different workers: the rows in time order
    are State's ``tasks_by_time`` (no eviction here: a trimmed heap orders differently)."""
    state = State(clock=lambda: T0)
    rows = TaskRows(state)
    for index, event in enumerate(stream):
        rows.feed(event)
        if index % syncs == 0:
            rows.sync()
    rows.sync()
    table = SHEET.table(rows, T0, Order("time", True), "")
    assert [row.uuid for row in table.items] == newest_first_by_state(state)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(UUIDS), st.integers(0, 12)), max_size=80))
def test_without_clocks_time_order_is_states_timestamp_order(stream):
    state = State(clock=lambda: T0)
    rows = TaskRows(state)
    for uuid, quarter in stream:
        rows.feed(task("task-received", uuid, T0 + quarter / 4, 0, name="proj.add"))
    rows.sync()
    table = SHEET.table(rows, T0, Order("time", True), "")
    assert [row.uuid for row in table.items] == newest_first_by_state(state)


def test_a_refresh_without_events_changes_nothing_and_evictions_leave():
    state = State(max_tasks_in_memory=3, clock=lambda: T0)
    rows = TaskRows(state)
    rows.feed(worker("online", "celery@w1", T0))
    for i in range(5):
        rows.feed(task("task-received", f"u{i}", T0 + i, i + 1, name="proj.add"))
    assert rows.sync()
    assert not rows.sync()  # nothing came: nothing to do
    table = SHEET.table(rows, T0, Order("time", True), "")
    assert [row.uuid for row in table.items] == ["u4", "u3", "u2"]
    rows.feed(task("task-succeeded", "u2", T0 + 9, 9, runtime=1.0))
    # u5 pushes out u2, received first: State's LRU order ignores later events of a task.
    rows.feed(task("task-received", "u5", T0 + 10, 10, name="proj.add"))
    assert rows.sync()
    assert [row.uuid for row in SHEET.table(rows, T0, Order("time", True), "").items] == ["u5", "u4", "u3"]


def test_a_refresh_on_a_budget_moves_a_chunk_and_drops_evicted_rows_at_once():
    """Under a flood a refresh moves a chunk of the changed rows; the rest waits (behind),
    but tasks State evicted meanwhile leave the rows at once, not when the rest is done."""
    state = State(max_tasks_in_memory=3, clock=lambda: T0)
    rows = TaskRows(state)
    for i in range(3):
        rows.feed(task("task-received", f"u{i}", T0 + i, i + 1, name="proj.add"))
    rows.sync()
    for i in range(3, 6):  # three new tasks push out the three held
        rows.feed(task("task-received", f"u{i}", T0 + i, i + 1, name="proj.add"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(taskrows, "REBUILD_SHARE", math.inf)
        patch.setattr(taskrows, "CHUNK", 1)
        assert rows.sync(0.0)
        assert rows.behind
        assert len(rows.rows) == 1 and set(rows.rows) <= set(state.tasks.data)
        check_orders(rows, Order("time", True), "")
        while rows.behind:
            rows.sync(0.0)
    check(rows, state, Order("time", True), "")


def test_a_budgeted_sync_keeps_the_rows_in_the_order_state_made_their_tasks():
    """Rows taken a chunk at a time join oldest first, as State holds its tasks, so the
    rows of evicted tasks are found at the front: no live row is moved to find them."""
    state = State(max_tasks_in_memory=4, clock=lambda: T0)
    rows = TaskRows(state)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(taskrows, "REBUILD_SHARE", math.inf)
        patch.setattr(taskrows, "CHUNK", 2)
        for first in (0, 6):
            for i in range(first, first + 6):
                rows.feed(task("task-received", f"u{i}", T0 + i, i + 1, name="proj.add"))
            rows.feed(task("task-started", f"u{first + 3}", T0 + first + 6, first + 7))
            while rows.behind:
                rows.sync(0.0)
            assert list(rows.rows) == list(state.tasks.data)
    assert list(rows.rows) == ["u8", "u9", "u10", "u11"]
    check(rows, state, Order("time", True), "")


def test_a_new_order_shows_its_first_rows_then_is_built_whole_by_the_next_sync():
    state = State(clock=lambda: T0)
    rows = TaskRows(state)
    for i in range(50):
        rows.feed(task("task-received", f"t{i:02d}", T0 + i, i + 1, name=NAMES[i % 3]))
        rows.feed(task("task-succeeded", f"t{i:02d}", T0 + i, i + 1, runtime=float(i % 7)))
    rows.sync()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(orderings, "FIRST_ROWS", 5)
        table = SHEET.table(rows, T0, Order("runtime", False), "")
        assert rows.behind  # the rest of the order waits for the sync after the draw
        assert [table.items[i].uuid for i in range(5)] == reference(rows, Order("runtime", False), "")[:5]
        rows.sync()
    assert not rows.behind
    check_orders(rows, Order("runtime", False), "")


def held(count: int) -> TaskRows:
    """Rows of ``count`` succeeded tasks of three names, runtimes 0 to 6 s."""
    rows = TaskRows(State(clock=lambda: T0))
    for i in range(count):
        rows.feed(task("task-received", f"t{i:02d}", T0 + i, 2 * i + 1, name=NAMES[i % 3]))
        rows.feed(task("task-succeeded", f"t{i:02d}", T0 + i, 2 * i + 2, runtime=float(i % 7)))
    rows.sync()
    return rows


def free_in_steps(rows: TaskRows) -> int:
    """Steps of the live loop until what ``rows`` dropped is freed, one piece each."""
    steps = 1
    while not rows.dropped.free(-math.inf):
        steps += 1
    return steps


def test_the_oldest_index_kept_is_dropped_whole_then_freed_a_piece_at_a_time():
    """A ninth index kept (here a second) drops the oldest: its entries wait to be freed
    between keys, not at once, a piece per step, and none is held once freed."""
    rows = held(50)
    row = rows.rows["t10"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(taskrows, "KEPT_INDEXES", 1)
        patch.setattr(dropped, "PIECE", 8)
        SHEET.table(rows, T0, Order("time", True), "")
        unindexed = sys.getrefcount(row)
        SHEET.table(rows, T0, Order("runtime", False), "")
        rows.sync()  # built whole: an entry (-runtime, time, row) for each row
        indexed = sys.getrefcount(row)
        assert indexed > unindexed and not rows.dropped
        SHEET.table(rows, T0, Order("runtime", False), "zzz")  # keeps no row
        assert len(rows.dropped) == 50 and sys.getrefcount(row) == indexed
        assert free_in_steps(rows) == 7  # 50 entries in pieces of 8 at most
    assert len(rows.dropped) == 0 and sys.getrefcount(row) == unindexed
    check_orders(rows, Order("runtime", False), "zzz")


def test_a_filters_pass_dropped_by_the_next_letter_is_freed_between_keys():
    rows = held(50)
    with counted_between_refreshes(first_rows=5, scan=16), pytest.MonkeyPatch.context() as patch:
        patch.setattr(dropped, "PIECE", 4)
        SHEET.table(rows, T0, Order("time", True), "proj")
        assert rows.counting and not rows.dropped
        (index,) = [kept.value.index for kept in rows._kept.values()]
        found = index.counted  # the rows found so far
        SHEET.table(rows, T0, Order("time", True), "zzz")  # narrows nothing: that pass is dropped
        assert len(rows.dropped) == 2 * found > 0  # those rows and their time keys
        free_in_steps(rows)
        while rows.behind:
            rows.sync(0.0)
    assert not rows.dropped
    check_orders(rows, Order("time", True), "zzz")


def test_what_a_flood_lets_go_of_is_freed_between_keys():
    """Changes no index needs any more, and every index when a flood has them rebuilt."""
    rows = held(50)
    runtime = Order("runtime", True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dropped, "PIECE", 4)
        patch.setattr(taskrows, "PIECE", 4)
        SHEET.table(rows, T0, runtime, "")
        rows.sync()
        SHEET.table(rows, T0, Order("time", True), "")  # the runtime order is not shown...
        for i in range(10):  # ... and falls 10 changes behind, in the log
            rows.feed(task("task-started", f"t{i:02d}", T0 + 100, 200 + i))
        rows.sync()
        assert not rows.dropped
        SHEET.table(rows, T0, runtime, "")  # shown: the changes it took are let go of
        assert len(rows.dropped) == 10
        free_in_steps(rows)
        for i in range(20):  # more than a quarter of the rows changed: every index rebuilt
            rows.feed(task("task-started", f"t{i:02d}", T0 + 200, 300 + i))
        rows.sync()
        # The time index of 50 rows (rows and keys), the runtime order's entries
        assert len(rows.dropped) == 2 * 50 + 50
        free_in_steps(rows)
    check_orders(rows, runtime, "")


@contextmanager
def counted_between_refreshes(first_rows: int = 1, scan: int = 4) -> Iterator[list[str]]:
    """Every filter counted a chunk (of two rows) at a time, its ``first_rows`` found
    among ``scan``; yields the filter text of each chunk searched, in order."""
    searched: list[str] = []
    search = taskrows._search

    def recorded(sheet, query, rows):
        searched.append(query.text)
        return search(sheet, query, rows)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(taskrows, "_search", recorded)
        patch.setattr(taskrows, "COUNT_AT_ONCE", 0)
        patch.setattr(orderings, "FIRST_ROWS", first_rows)
        patch.setattr(orderings, "COUNT_CHUNK", 2)
        patch.setattr(orderings, "FIRST_SCAN", scan)
        patch.setattr(orderings, "FIRST_CHUNK", 2)
        yield searched


def terms(texts: list[str]) -> set[tuple]:
    """The queries ``texts`` mean: a space typed after a word (``add `` after ``add``) is
    the same query, whose pass goes on rather than starting again."""
    return {parse(text, SHEET.fields).terms for text in texts}


@settings(max_examples=300, deadline=None)
@given(
    before=st.lists(events(clocked=False), min_size=4, max_size=40),
    column=st.sampled_from(SHEET.sort_columns),
    descending=st.booleans(),
    typed=st.sampled_from(["add (1", "state:success", "!state:success mul", "u01", "proj w1", "state:s,f"]),
    steps=st.lists(st.one_of(st.sampled_from(["letter", "sync"]), events(False), events(False)), max_size=80),
    max_tasks=st.sampled_from([8, 1000]),
    selected=st.one_of(st.none(), st.sampled_from(UUIDS)),
)
def test_a_filter_counted_between_refreshes_ends_as_one_searched_at_once(
    before, column, descending, typed, steps, max_tasks, selected
):
    """Typed a letter at a time over the order shown, each letter counted a chunk per
    refresh while events come (new tasks, changed ones, evictions): the first rows each
    match, in order, the ``selected`` row after them if kept, a newer letter cancels the
    pass before it (no chunk of it is searched after), and once counted the table is the
    rows as held, filtered and sorted afresh."""
    state = State(max_tasks_in_memory=max_tasks, clock=lambda: T0)
    rows = TaskRows(state)
    for event in before:
        rows.feed(event)
    rows.sync()
    order = Order(column, descending)
    letters = [typed[:end] for end in range(1, len(typed) + 1)]
    shown = ""
    rows.selected = selected
    with counted_between_refreshes() as searched:
        SHEET.table(rows, T0, order, shown)  # the order shown before the filter is typed
        rows.sync()
        for step in [*steps, *["letter"] * len(letters)]:
            if step == "letter":
                if not letters:
                    continue
                shown = letters.pop(0)
                done = len(searched)
                table = SHEET.table(rows, T0, order, shown)  # the key: the first rows at once
                assert terms(searched[done:]) <= terms([shown])
                searched.clear()
            elif step == "sync":  # a step between keys, then the count redrawn
                rows.sync(0.0)
                table = SHEET.table(rows, T0, order, shown)
            else:
                rows.feed(step)
                continue
            if table.counting is not None:
                check_counting(rows, table)
            assert terms(searched) <= terms([shown])  # nothing searched for a letter typed before
        while rows.behind:
            rows.sync(0.0)
            assert terms(searched) <= terms([shown])
    check(rows, state, order, typed)


def test_a_filter_over_many_rows_shows_its_first_rows_and_counts_the_rest_between_refreshes():
    state = State(clock=lambda: T0)
    rows = TaskRows(state)
    for i in range(60):
        rows.feed(task("task-received", f"t{i:02d}", T0 + i, i + 1, name=NAMES[i % 3]))
    rows.sync()
    order = Order("time", True)
    with counted_between_refreshes(first_rows=5, scan=16), pytest.MonkeyPatch.context() as patch:
        patch.setattr(SortedList, "DEFAULT_LOAD_FACTOR", 4)  # the rows kept fill blocks of 4
        table = SHEET.table(rows, T0, order, "proj")
        assert rows.counting and table.counting is not None and table.counting < 60
        assert [row.uuid for row in table.items] == reference(rows, order, "proj")[:5]
        table = SHEET.table(rows, T0, order, "proj.a")  # a letter more: that pass begins
        assert [row.uuid for row in table.items] == reference(rows, order, "proj.a")[:5]
        counts = []
        while rows.counting:
            rows.sync(0.0)
            counts.append(SHEET.table(rows, T0, order, "proj.a").counting)
        assert counts[-1] is None and counts[:-1] == sorted(counts[:-1])  # rising, then done
        assert len(counts) > 3  # a chunk of two rows at a time
        check_orders(rows, order, "proj.a")
        assert SHEET.table(rows, T0, order, "proj.a").counting is None
        (index,) = [kept.value.index for kept in rows._kept.values() if kept.value.query.text == "proj.a"]
        index.whole()._rows._check()  # the time index made of those blocks is sound
    table = SHEET.table(rows, T0, order, "proj.a")
    assert len(table.items) == 20


@settings(max_examples=300, deadline=None)
@given(
    stream=st.lists(events(clocked=False), min_size=1, max_size=60),
    column=st.sampled_from(SHEET.sort_columns),
    descending=st.booleans(),
    typed=st.sampled_from(["a", "add", "add (1", "state:success", "!state:success", "u01", "w1", "zzz"]),
    scan=st.integers(1, 8),
    chunk=st.integers(1, 5),
    load=st.sampled_from([4, 6, 1000]),
    listed=st.booleans(),
)
def test_a_filters_pass_in_display_order_ends_as_the_one_shot_search(
    stream, column, descending, typed, scan, chunk, load, listed
):
    """A filter's pass over the rows of an order, a chunk at a time: the rows it shows
    meanwhile are always the first rows of the final table, in its order (a screen that
    fills, never a row out of place or one the filter does not keep); the index it ends
    with, made from its blocks without a sort, is the one-shot search's, row for row and
    position for position, and a valid sorted list. The rows it reads are a list of them
    (``listed``, as the time index gives them) or an index read as the pass goes."""
    state = State(clock=lambda: T0)
    rows = TaskRows(state)
    for event in stream:
        rows.feed(event)
    rows.sync()
    query = parse(typed, SHEET.fields)
    search = partial(taskrows._search, SHEET, query)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SortedList, "DEFAULT_LOAD_FACTOR", load)
        patch.setattr(orderings, "FIRST_ROWS", 3)
        patch.setattr(orderings, "FIRST_SCAN", scan)
        patch.setattr(orderings, "FIRST_CHUNK", 1)
        patch.setattr(orderings, "COUNT_CHUNK", chunk)
        shown = orderings.build_index(column, descending, rows.by_time.in_time())
        once = orderings.build_index(column, descending, search(rows.by_time.in_time()))
        display = shown.display(descending)
        counting = orderings.Counting(column, descending, list(display) if listed else display, search)
        expected = [once.at(position, descending) for position in range(len(once))]
        assert counting.counted <= len(expected)
        while True:
            first = [counting.at(position, descending) for position in range(len(counting))]
            assert first == expected[: len(first)]
            assert len(first) == min(3, counting.counted)
            for position, row in enumerate(first):
                assert counting.locate(row, descending) == position
            if counting.step(0.0):
                break
    made = counting.whole()
    assert [made.at(position, descending) for position in range(len(made))] == expected
    for position, row in enumerate(expected):
        assert made.locate(row, descending) == position
    assert made.in_time() == once.in_time()
    lists = (
        [made._rows]
        if column == "time"
        else [*made._groups.values(), made._values]
        if column in orderings.TEXT_COLUMNS
        else [made._known, made._unknown._rows]
    )
    for each in lists:
        each._check()
    late = TaskItem("late", "proj.add", "", "", None, None, 1.0, "", "", (-1, "", -1))
    made.add(late)  # the index takes changes as one built at once does
    assert made.locate(late, descending) is not None


def test_a_filter_that_leaves_few_rows_is_counted_between_refreshes_the_screen_filling():
    """Few rows match among the first rows of the order shown: the letter searches those
    only (none, or a few, on screen at once) and the rest between refreshes, the rows
    found joining the screen in order as they are found; the next letter drops it."""
    state = State(clock=lambda: T0)
    rows = TaskRows(state)
    for i in range(60):
        rows.feed(
            task("task-received", f"t{i:02d}", T0 + i, i + 1, name="proj.rare" if i % 10 == 3 else "proj.add")
        )
    rows.sync()
    order = Order("time", True)
    with counted_between_refreshes(first_rows=5, scan=4) as searched:
        table = SHEET.table(rows, T0, order, "rare")
        assert searched == ["rare"] * 2  # the first four rows at once, two at a time
        assert rows.counting and table.counting == 0 and len(table.items) == 0
        shown = []
        while rows.counting:
            rows.sync(0.0)
            table = SHEET.table(rows, T0, order, "rare")
            shown.append([row.uuid for row in table.items])
        assert shown[0] == [] and ["t53"] in shown and ["t53", "t43"] in shown
        assert shown[-1] == ["t53", "t43", "t33", "t23", "t13", "t03"]
        assert all(earlier == later[: len(earlier)] for earlier, later in pairwise(shown))
        check_orders(rows, order, "rare")
        searched.clear()
        SHEET.table(rows, T0, order, "add")
        assert rows.counting
        SHEET.table(rows, T0, order, "ad")  # a letter taken back: that pass is dropped
        rows.sync(0.0)
        assert searched.count("add") == 2 and "ad" in searched and rows.counting
        while rows.behind:
            rows.sync(0.0)
        assert searched.count("add") == 2  # nothing more of the dropped pass
    check_orders(rows, order, "ad")


@pytest.mark.parametrize(("column", "descending"), [("time", True), ("name", False), ("runtime", True)])
def test_the_selected_row_stays_shown_while_a_filter_that_keeps_it_is_counted(column, descending):
    """The row the user selected, kept by the filter typed but not among the rows found
    so far, is shown after them (where it comes) until its place is known; one the
    filter hides is not."""
    state = State(clock=lambda: T0)
    rows = TaskRows(state)
    for i in range(60):
        rows.feed(task("task-received", f"t{i:02d}", T0 + i, i + 1, name=NAMES[i % 3]))
        rows.feed(task("task-succeeded", f"t{i:02d}", T0 + i, i + 1, runtime=float(i)))
    rows.sync()
    order = Order(column, descending)
    SHEET.table(rows, T0, order, "")
    rows.sync()  # the order shown whole
    expected = reference(rows, order, "mul")
    selected = expected[-1]  # far down: its place is the last the pass finds
    rows.selected = selected
    with counted_between_refreshes(first_rows=3, scan=2):
        table = SHEET.table(rows, T0, order, "mul")
        while rows.counting:
            found = len(table.items) - 1
            assert found <= 3 and [row.uuid for row in table.items] == [*expected[:found], selected]
            assert table.index_of(selected) == found
            rows.sync(0.0)
            table = SHEET.table(rows, T0, order, "mul")
        assert table.index_of(selected) == len(expected) - 1
        rows.selected = hidden = reference(rows, order, "add")[-1]
        table = SHEET.table(rows, T0, order, "mul w")
        assert rows.counting and hidden not in [row.uuid for row in table.items]
        assert table.index_of(hidden) is None


TERMS = [
    *("a", "ad", "s", "su", "state:s", "state:su", "state=su", "!s", "!su", "!state:su"),
    *("state:su,a", "state:s,ad", "state=su,a", "state:a,", "!state:su,a"),  # either value
]


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.sampled_from(TERMS), max_size=3),
    st.lists(st.sampled_from(TERMS), max_size=3),
    st.fixed_dictionaries({field: st.sampled_from(["", "a", "ad", "su", "xsux"]) for field in SHEET.fields}),
)
@example(["state:su"], ["state=su"], dict.fromkeys(SHEET.fields, "xsux"))
@example(["!su"], ["!s"], dict.fromkeys(SHEET.fields, "s"))
@example(["state:su,a"], ["state:su"], dict.fromkeys(SHEET.fields, "a"))
@example(["state=su,a"], ["state=su"], dict.fromkeys(SHEET.fields, "a"))
def test_a_filter_that_narrows_another_keeps_only_rows_the_other_keeps(new, old, fields):
    """What lets the filter typed one letter further search only the rows it had."""
    query, other = parse(" ".join(new), SHEET.fields), parse(" ".join(old), SHEET.fields)
    if narrows(query, other) and query.matches(fields):
        assert other.matches(fields)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TERMS), st.lists(st.sampled_from(["", "a", "ad", "su", "xsux", "s"]), max_size=8))
def test_a_term_over_many_values_holds_where_it_holds_for_each(term, values):
    (parsed,) = parse(term, SHEET.fields).terms
    assert list(parsed.holds_each(values)) == [parsed.holds(value) for value in values]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=6), min_size=6, max_size=6), st.sampled_from([None, *SHEET.fields]))
def test_the_filters_bulk_search_reads_what_the_row_search_reads(texts, field):
    row = TaskItem(*texts[:4], None, None, None, *texts[4:], (1, "", 1))
    searched = SHEET.search(row)
    (bulk,) = SHEET.search_texts(field, [row])
    if field is not None:
        assert bulk == searched[field]
    else:  # every word without white space is in some field's text iff it is in this
        for word in {part for value in searched.values() for part in value.split()} | {"x", "ß"}:
            assert (word in bulk) == any(word in value for value in searched.values())


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(NAMES), st.one_of(st.none(), st.sampled_from([0.5, 1.0, 2.0]))), max_size=60
    )
)
def test_indexes_built_from_sorted_rows_are_valid_sorted_lists(values):
    """Indexes fill sortedcontainers' lists without sorting (rows come sorted): the
    library's own invariant check must pass, and a row added after lands in order."""
    made = [
        TaskItem(f"u{i}", name, "", "", None, None, runtime, "", "", (i, "", i))
        for i, (name, runtime) in enumerate(values)
    ]
    for column, descending in [("time", True), ("name", True), ("runtime", True), ("runtime", False)]:
        index = orderings.build_index(column, descending, made)
        lists = (
            [index._rows]
            if column == "time"
            else [*index._groups.values(), index._values]
            if column == "name"
            else [index._known, index._unknown._rows]
        )
        for each in lists:
            each._check()
        for direction in (True, False) if orderings.holds_both_directions(column) else (descending,):
            shown = [index.at(position, direction) for position in range(len(index))]
            assert list(index.display(direction)) == shown  # what a filter's first rows are read from
        late = TaskItem("late", "proj.add", "", "", None, None, 1.0, "", "", (-1, "", -1))
        index.add(late)
        assert index.locate(late, descending) is not None
