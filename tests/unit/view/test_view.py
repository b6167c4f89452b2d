"""The view layer as data: columns, filters, sheets, detail panes, summary lines.

No terminal here: these are the values every renderer draws, so they are checked
exactly. A separate test keeps urwid and blessed out of ``evtop.view`` and State.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evtop.broker.status import ConnectionStatus
from evtop.events.state import State
from evtop.events.stats import IngestStats
from evtop.view import cells, details
from evtop.view.columns import GAP, Column, layout
from evtop.view.query import parse
from evtop.view.sheet import Order, sort_choices, sort_items, sort_title
from evtop.view.summary import Counts, counts_text, source_text
from evtop.view.taskrows import TaskRows
from evtop.view.tasks import TaskSheet
from evtop.view.tasktypes import TypeSheet
from evtop.view.viewstate import Screen, ViewState
from evtop.view.viewstate import sheet_for as view_sheet
from evtop.view.workers import WorkerSheet
from tests.support.cluster import T0, cluster, task, worker
from tests.support.events import HOSTILE, assert_terminal_safe


def build(sheet, state, now, order, filter_text):
    rows = TaskRows(state)
    rows.sync()
    return sheet.table(rows, now, order, filter_text)


# --- columns ---------------------------------------------------------------------------------

COLUMNS = (
    Column("a", "A", 8, grow=1, most=12),
    Column("b", "B", 5),
    Column("c", "C", 6, grow=2, drop=1),
    Column("d", "D", 4, drop=2),
)


@given(st.integers(min_value=0, max_value=400))
def test_layout_fills_the_width_exactly_while_a_column_can_grow(width):
    widths = layout(COLUMNS, width)
    shown = [w for w in widths if w]
    total = sum(shown) + GAP * (len(shown) - 1)
    assert total <= width  # squeezed when too narrow, never wider
    if width >= 8 + 5 + 6 + 4 + 3:
        assert all(widths)
        assert widths[0] <= 12
        assert total == width  # "c" has no cap, so the room is always used


def test_layout_drops_the_highest_drop_first():
    assert layout(COLUMNS, 8 + 5 + 6 + 2)[3] == 0  # "d" (drop=2) goes first
    widths = layout(COLUMNS, 8 + 5 + 1)
    assert widths[2] == widths[3] == 0 and widths[:2] == [8, 5]


# --- filter ----------------------------------------------------------------------------------

FIELDS = ("uuid", "name", "state", "worker")


@pytest.mark.parametrize(
    ("text", "row", "expected"),
    [
        ("add", {"name": "proj.add", "state": "success"}, True),
        ("ADD fail", {"name": "proj.add", "state": "success"}, False),
        ("state:fail", {"name": "proj.fail", "state": "success"}, False),
        ("s:succ", {"name": "x", "state": "success"}, True),
        ("name=proj.add", {"name": "proj.add_many"}, False),
        ("name=proj.add", {"name": "proj.add"}, True),
        ("!state:success", {"state": "success"}, False),
        ("!state:success", {"state": "failure"}, True),
        ("", {"name": "anything"}, True),
        ("state:failure,retry", {"state": "retry"}, True),
        ("state:failure,retry", {"state": "failure"}, True),
        ("state:failure,retry", {"state": "success"}, False),
        ("state=fail,retry", {"state": "failure"}, False),  # exact: either whole value
        ("state=failure,retry", {"state": "retry"}, True),
        ("!state:failure,retry", {"state": "retry"}, False),
        ("!state:failure,retry", {"state": "success"}, True),
        ("state:fail,", {"state": "failure"}, True),  # half typed: the empty value is left out
        ("1,", {"name": "f(1, 2)"}, True),  # a plain word keeps its comma (args text)
        ("1,", {"name": "f(1)"}, False),
    ],
)
def test_filter_words(text, row, expected):
    assert parse(text, FIELDS).matches(row) is expected


def test_filter_reports_unknown_fields_instead_of_matching_nothing():
    query = parse("colour:red add", FIELDS)
    assert query.unknown_fields == ("colour",)
    assert query.matches({"name": "proj.add"})


# --- sheets ----------------------------------------------------------------------------------


def test_task_table_newest_first_with_cells_as_shown():
    state = cluster()
    table = build(TaskSheet(), state, T0 + 100, Order("time", True), "")
    assert [table.key(i) for i in range(len(table.items))] == [f"uuid-{i}" for i in range(5, -1, -1)]
    slow = table.index_of("uuid-4")
    assert table.cells(slow)[2:] == ("STARTED", "", "celery@w1", "07:22:26", "1m35s", "(4,)")
    assert table.styles(slow)[2] == "state.started" and table.styles(slow)[6] == "state.started"
    assert table.cells(table.index_of("uuid-1"))[6] == "1.500s"


def test_custom_events_with_current_and_total_show_progress_until_the_task_ends():
    state = cluster()
    state.event(task("task-progress", "uuid-4", T0 + 50, 90, current=2, total=5, step="resize"))
    table = build(TaskSheet(), state, T0 + 100, Order("time", True), "")
    row = table.index_of("uuid-4")
    assert table.cells(row)[2:4] == ("PROGRESS", "40%")  # celery's custom state, from task-progress
    assert table.styles(row)[2:4] == ("state.custom", "state.custom")
    for current, total, shown in ((3, 3, "100%"), (7, 3, "100%"), (-1, 3, "0%"), (1, 3, "33%")):
        state.event(task("task-progress", "uuid-4", T0 + 51, 91, current=current, total=total))
        assert build(TaskSheet(), state, T0 + 100, Order("time", True), "").cells(row)[3] == shown
    for current, total in ((1, 0), ("1", 2), (None, 2), (float("nan"), 2), (True, 2)):
        state.event(task("task-progress", "uuid-4", T0 + 52, 92, current=current, total=total))
        assert build(TaskSheet(), state, T0 + 100, Order("time", True), "").cells(row)[3] == ""
    state.event(task("task-progress", "uuid-4", T0 + 53, 93, current=4, total=5))
    state.event(task("task-succeeded", "uuid-4", T0 + 54, 94, runtime=3.0))
    table = build(TaskSheet(), state, T0 + 100, Order("time", True), "")
    assert table.cells(row)[2:4] == ("SUCCESS", "")  # a finished task's last progress is not shown
    state.event(task("task-progress", "uuid-5", T0 + 55, 95, current=4, total=5))
    state.event(task("task-revoked", "uuid-5", T0 + 56, 96, terminated=True))
    table = build(TaskSheet(), state, T0 + 100, Order("time", True), "")
    assert table.cells(table.index_of("uuid-5"))[2:4] == ("PROGRESS", "")  # celery's rank; ended


def test_task_table_sorts_with_unknown_values_last_both_ways():
    state = cluster()
    for descending in (True, False):
        table = build(TaskSheet(), state, T0 + 100, Order("runtime", descending), "")
        runtimes = [item.runtime for item in table.items]
        known = [r for r in runtimes if r is not None]
        assert known == sorted(known, reverse=descending)
        assert runtimes[len(known) :] == [None] * (len(runtimes) - len(known))


def test_sort_items_is_stable():
    items = [("b", 1), ("a", None), ("c", 1)]
    assert sort_items(items, lambda x: x[1], True) == [("b", 1), ("c", 1), ("a", None)]


def test_task_table_filter_counts_what_it_hid():
    table = build(TaskSheet(), cluster(), T0 + 100, Order("time", True), "name=proj.add !state:received")
    assert [item.uuid for item in table.items] == ["uuid-2", "uuid-1", "uuid-0"]
    assert table.total == 6


def test_type_statistics():
    table = build(TypeSheet(), cluster(), T0 + 100, Order("total", True), "")
    add = table.items[table.index_of("proj.add")]
    assert (add.total, add.waiting, add.running, add.succeeded, add.failed) == (4, 1, 0, 2, 1)
    assert add.failure_rate == pytest.approx(1 / 3)
    assert (add.mean, add.p95, add.max) == (1.0, 1.5, 1.5)
    assert table.cells(table.index_of("proj.add"))[8] == "33.3"
    assert table.styles(table.index_of("proj.add"))[5] == "state.failure"
    slow = table.items[table.index_of("proj.slow")]
    assert slow.failure_rate is None and table.cells(table.index_of("proj.slow"))[8] == "-"
    assert table.items[0].name == "proj.add"  # most tasks first


def test_type_statistics_count_a_task_running_in_a_custom_state_under_run():
    state = cluster()
    for uuid, clock in (("p1", 50), ("p2", 60)):
        state.event(task("task-received", uuid, T0 + 10, clock, name="proj.slow"))
        state.event(task("task-started", uuid, T0 + 11, clock + 1))
        state.event(task("task-progress", uuid, T0 + 12, clock + 2, current=1, total=2))
    state.event(task("task-revoked", "p2", T0 + 13, 70, terminated=True))  # stays PROGRESS
    slow = build(TypeSheet(), state, T0 + 100, Order("total", True), "").items
    item = next(item for item in slow if item.name == "proj.slow")
    assert state.tasks["p2"].state == "PROGRESS"
    assert (item.total, item.waiting, item.running) == (3, 0, 2)  # uuid-4 STARTED, p1 PROGRESS
    assert item.revoked == 1  # p2: revoked, though celery keeps its PROGRESS


def test_worker_table_online_first_and_offline_marked():
    table = build(WorkerSheet(), cluster(), T0 + 100, Order("status", False), "")
    assert [item.hostname for item in table.items] == ["celery@w1", "celery@w2"]
    w1, w2 = (table.cells(i) for i in range(2))
    assert w1[1] == "online" and w2[1] == "offline"
    assert w1[4] == "0"  # missed tasks: none without a Health finding
    assert w1[5] == "6"  # tasks of w1 still in memory
    assert w1[7] == "1.000s" and w1[8] == "py-celery 5.6.3"
    assert table.styles(1)[1] == "worker.offline"


@pytest.mark.parametrize("text", HOSTILE)
def test_every_cell_of_every_sheet_is_terminal_safe(text):
    state = State(clock=lambda: T0)
    state.event(worker("online", text, T0, sw_ident=text))
    state.event(task("task-received", text, T0, 1, hostname=text, name=text, args=text, kwargs=text))
    state.event(task("task-failed", text, T0, 2, hostname=text, exception=text, traceback=text))
    state.event(task("task-progress", text, T0, 3, hostname=text, current=1, total=2, note=text, **{text: 1}))
    for sheet, column in ((TaskSheet(), "time"), (WorkerSheet(), "status"), (TypeSheet(), "total")):
        table = build(sheet, state, T0, Order(column, True), "")
        for index in range(len(table.items)):
            for cell in table.cells(index):
                assert_terminal_safe(cell)
    for pane in (
        details.task_info(state, text),
        details.task_result(state, text),
        details.task_traceback(state, text),
        details.worker_info(state, text, T0),
    ):
        assert pane is not None
        for line in [pane.title, *pane.lines()]:
            assert_terminal_safe(line)


# --- detail panes ----------------------------------------------------------------------------


def test_task_info_has_every_field_and_keeps_traceback_lines():
    lines = details.task_info(cluster(), "uuid-2").lines()
    text = "\n".join(lines)
    for expected in (
        "name       proj.add",
        "state      FAILURE",
        "worker     celery@w1",
        "started    2026-11-23 07:22:24.100000 UTC",
        "exception  KeyError('k')",
        "args       (2,)",
    ):
        assert expected in text
    assert lines[-3:] == ["Traceback (most recent call last):", "  x", "KeyError: 'k'"]


def test_task_info_shows_the_fields_of_custom_events_and_the_progress():
    state = cluster()
    state.event(task("task-progress", "uuid-4", T0 + 50, 90, current=3, total=12, step="resize"))
    text = "\n".join(details.task_info(state, "uuid-4").lines())
    for expected in (
        "state     PROGRESS",
        "current   3",
        "total     12",
        "step      resize",
        "progress  3 of 12 (25%)",
    ):
        assert expected in text
    assert "progress" not in "\n".join(details.task_info(state, "uuid-3").lines())


def test_panes_for_gone_or_unfinished_tasks_say_so():
    state = cluster()
    assert "no longer in memory" in details.task_info(state, "nope").lines()[0]
    assert details.task_traceback(state, "uuid-0") is None
    assert details.task_result(state, "uuid-4").lines() == ["No result yet: the task is STARTED."]
    assert details.task_result(state, "uuid-2").lines() == ["exception  KeyError('k')"]


def test_worker_info():
    text = "\n".join(details.worker_info(cluster(), "celery@w2", T0 + 100).lines())
    assert "status           offline" in text and "last event       1m40s ago" in text


# --- cells and summary -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0123, "0.012s"),
        (12.34, "12.3s"),
        (245, "4m05s"),
        (7380, "2h03m"),
        (3 * 86400 + 4 * 3600, "3d04h"),
        (float("nan"), "-"),
        (-1, "-"),
        ("5", "-"),
        (None, "-"),
        (True, "-"),
    ],
)
def test_duration_text(value, expected):
    assert cells.duration_text(value) == expected


@given(st.one_of(st.floats(), st.integers(), st.text(), st.none()))
def test_time_texts_never_raise(value):
    assert cells.clock_text(value) and cells.datetime_text(value)


def test_summary_lines():
    status = ConnectionStatus("redis://h:6379/0", clock=lambda: 100.0)
    assert (
        source_text(status.snapshot(), 100.0, replay=False, ended=False) == "connecting to redis://h:6379/0"
    )
    status.connected()
    assert source_text(status.snapshot(), 111.0, replay=False, ended=False).endswith(
        "no events yet (workers running? same vhost/db/key prefix?)"
    )
    status.lost("Connection refused", 3.0)
    assert source_text(status.snapshot(), 101.0, replay=False, ended=False) == (
        "reconnecting to redis://h:6379/0 in 2.000s (Connection refused)"
    )
    stats = IngestStats(received=10, applied=8)
    stats.drop("decode_error", 2)
    assert counts_text(Counts(10, 3, 10_000, 1, 2, 4.4), stats) == (
        "events 10 (4/s)  tasks 3/10,000  workers 1/2 online  dropped 2 (decode_error 2)"
    )
    assert counts_text(Counts(3_200_000, 12_345, 0, 8, 8, 12_000.0), IngestStats()) == (
        "events 3,200,000 (12,000/s)  tasks 12,345  workers 8/8 online"
    )


def test_viewstate_is_per_screen():
    view = ViewState().with_filter("add").select("u1").show(Screen.WORKERS)
    assert view.filter_text == "" and view.selection is None
    view = view.move_sort(1).reverse_sort().show(Screen.TASKS)
    assert view.filter_text == "add" and view.selection == "u1" and view.order == Order("time", True)
    assert view.show(Screen.WORKERS).order == Order("active", False)


def test_the_sort_column_moves_along_the_screen_and_starts_in_its_natural_direction():
    view = ViewState()  # tasks, by the event order (no column), newest first
    assert sort_choices(view_sheet(Screen.TASKS)) == [
        "time",
        "name",
        "state",
        "worker",
        "received",
        "runtime",
    ]
    assert view.move_sort(1).order == Order("name", False)  # text: A to Z first
    assert view.move_sort(-1).order == Order("runtime", True)  # wraps; numbers: highest first
    assert view.sort_by("received").order == Order("received", True)  # a time: newest first
    assert view.move_sort(1).move_sort(-1).order == Order("time", True)
    types = view.show(Screen.TYPES)
    assert types.sort_by("failure_rate").order == Order("failure_rate", True)
    assert sort_title(view_sheet(Screen.TYPES), "failure_rate") == "FAIL%"
    assert sort_title(view_sheet(Screen.TASKS), "time") == "LAST EVENT"


def test_state_and_views_never_import_a_terminal_library():
    code = (
        "import sys, evtop.view.viewstate, evtop.view.details, evtop.view.summary, evtop.events.state;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('urwid', 'blessed')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
