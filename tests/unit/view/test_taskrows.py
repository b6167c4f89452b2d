"""The task rows kept up to date event by event, against the same rows sorted afresh.

Random event streams (out-of-order clocks, evictions, parents, events that go past
``feed``) meet random sort and filter changes; at each refresh the rows must be what
State holds, and every order what a from-scratch stable sort of them gives.
"""

from __future__ import annotations

import math
import operator
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evtop.events import states
from evtop.events.state import State
from evtop.view import taskrows
from evtop.view.query import parse
from evtop.view.sheet import Order, sort_items
from evtop.view.taskrows import TaskRows
from evtop.view.tasks import TaskItem, TaskSheet
from evtop.view.tasktypes import TypeSheet
from tests.support.cluster import T0, task, worker

SHEET = TaskSheet()
TYPES = ["task-sent", "task-received", "task-started", "task-succeeded", "task-failed", "task-retried"]
HOSTS = ["celery@w1", "celery@w2", "celery@w3"]
NAMES = ["proj.add", "proj.mul", "proj.slow"]
FILTERS = ["", "add", "state:success", "!state:success", "worker=celery@w2", "mul fail", "s:"]
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
    if type_ == "task-succeeded":
        fields["runtime"] = draw(st.one_of(st.none(), st.sampled_from([0.5, 1.5, 2.0]), st.floats(0, 5)))
    stamp = T0 + draw(st.integers(0, 30)) / 4
    return task(type_, uuid, stamp, clock, hostname=draw(st.sampled_from(HOSTS)), **fields)


def reference(rows: TaskRows, order: Order, filter_text: str) -> list[str]:
    """The uuids a from-scratch sort shows: newest first, filtered, stable-sorted."""
    newest_first = sorted(rows.rows.values(), key=operator.attrgetter("time"), reverse=True)
    query = parse(filter_text, SHEET.fields)
    shown = [row for row in newest_first if query.matches(SHEET.search(row))]
    if order.column == "time":
        shown = shown if order.descending else shown[::-1]
    else:
        shown = sort_items(shown, operator.attrgetter(order.column), order.descending)
    return [row.uuid for row in shown]


def type_stats(state: State) -> dict[str, tuple]:
    """Per-type counts and runtimes straight from State, as the screen computed them."""
    counts: dict[str, Counter] = {}
    runtimes: dict[str, list[float]] = {}
    for each in state.tasks.data.values():
        counts.setdefault(each.name, Counter())[each.state] += 1
        runtime = each.runtime
        if each.state == states.SUCCESS and isinstance(runtime, float) and runtime >= 0:
            runtimes.setdefault(each.name, []).append(runtime)
    return {
        name: (sum(c.values()), c[states.SUCCESS], c[states.FAILURE], sorted(runtimes.get(name, [])))
        for name, c in counts.items()
        if name
    }


def check(rows: TaskRows, state: State, order: Order, filter_text: str) -> None:
    data = state.tasks.data
    assert set(rows.rows) == set(data)
    for uuid, row in rows.rows.items():
        assert row == TaskItem.of(data[uuid], row.time)
    table = SHEET.table(rows, T0, order, filter_text)
    expected = reference(rows, order, filter_text)
    assert [row.uuid for row in table.items] == expected
    assert table.total == len(data)
    for position, uuid in enumerate(expected):
        assert table.index_of(uuid) == position
    for uuid in set(data) - set(expected):
        assert table.index_of(uuid) is None
    items = {item.name: item for item in TypeSheet().table(rows, T0, Order("total", True), "").items}
    stats = type_stats(state)
    assert set(items) == set(stats)
    for name, (total, succeeded, failed, runtimes) in stats.items():
        item = items[name]
        assert (item.total, item.succeeded, item.failed) == (total, succeeded, failed)
        assert item.max == (runtimes[-1] if runtimes else None)
        assert item.mean == (pytest.approx(math.fsum(runtimes) / len(runtimes)) if runtimes else None)


steps = st.lists(
    st.one_of(
        events(clocked=False),
        events(clocked=False),
        st.just("refresh"),
        st.just("sync"),
        st.tuples(st.sampled_from(SHEET.sort_columns), st.booleans(), st.sampled_from(FILTERS)),
        st.just("bypass"),
    ),
    max_size=150,
)


@pytest.mark.parametrize(
    ("rebuild_share", "kept"),
    [(taskrows.REBUILD_SHARE, taskrows.KEPT_INDEXES), (0.0, taskrows.KEPT_INDEXES), (math.inf, 1)],
)
@settings(max_examples=200, deadline=None)
@given(steps=steps, max_tasks=st.sampled_from([6, 10, 1000]))
def test_rows_and_every_order_match_a_fresh_sort(rebuild_share, kept, steps, max_tasks):
    """Also with every refresh rebuilding the indexes, and with none doing so."""
    state = State(max_tasks_in_memory=max_tasks, clock=lambda: T0)
    rows = TaskRows(state)
    order, filter_text = Order("time", True), ""
    bypass = False
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(taskrows, "REBUILD_SHARE", rebuild_share)
        patch.setattr(taskrows, "KEPT_INDEXES", kept)
        for step in steps:
            if step == "bypass":
                bypass = True  # the next event reaches State some other way
            elif step == "sync":
                rows.sync()  # what is not on screen falls behind
            elif isinstance(step, dict):
                (state.event if bypass else rows.feed)(step)
                bypass = False
            else:
                if step != "refresh":
                    column, descending, filter_text = step
                    order = Order(column, descending)
                rows.sync()
                check(rows, state, order, filter_text)
        rows.sync()
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
