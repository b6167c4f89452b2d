"""What Health found, as the TUI's tables, panes and header read it (no terminal here).

Every finding comes from a real :class:`~evtop.events.health.Health` fed the same events
as the State, as the TUI's event source does; the view only reads it.
"""

from __future__ import annotations

from evtop.events.health import Gap, Health
from evtop.events.state import State
from evtop.view import details
from evtop.view.sheet import Order
from evtop.view.summary import gap_message, trust_text
from evtop.view.taskrows import TaskRows
from evtop.view.tasks import TaskSheet
from evtop.view.trust import LOST, Trust
from evtop.view.workers import WorkerSheet
from tests.support.events import T0, task_event, worker_event

SLOW = "celery@slow"
OTHER = "celery@other"
HOUR = 3600.0
NEWEST = Order("time", True)


def feed(*events: dict) -> tuple[State, TaskRows]:
    """State and Health fed ``events`` as the TUI's source does; rows as of one refresh."""
    state, health = State(), Health()  # Health's "now": the newest receive time, as on a replay
    rows = TaskRows(state)
    for event in events:
        health.observe(event)
        rows.feed(event)
    rows.sync()
    rows.trust = Trust.of(health)
    return state, rows


def beats(hostname: str, start: float, end: float, *, behind: float = 0.0, processed: int = 0) -> list[dict]:
    """Heartbeats every 2 s heard from ``start`` to ``end``, stamped ``behind`` seconds slow."""
    count = int((end - start) / 2) + 1
    return [
        worker_event(
            "worker-heartbeat", hostname, start + 2 * i, sent=start + 2 * i - behind, processed=processed
        )
        for i in range(count)
    ]


#: Where each task column is, by its key.
AT = {column.id: i for i, column in enumerate(TaskSheet.columns)}


def task_row(rows: TaskRows, now: float, uuid: str) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
    table = TaskSheet().table(rows, now, NEWEST, "")
    index = table.index_of(uuid)
    assert index is not None
    return table.cells(index), table.styles(index)


def an_hour_behind() -> tuple[State, TaskRows]:
    """A worker whose clock is an hour slow: a task received at T0 + 0.5 and started at
    T0 + 0.6 by evtop's clock, still running at T0 + 18.6 (the newest heartbeat)."""
    sent = {"received": T0 + 0.5 - HOUR, "started": T0 + 0.6 - HOUR}
    task = [
        task_event(
            "task-received", "t1", T0 + 0.5, 1, hostname=SLOW, sent=sent["received"], name="proj.crunch"
        ),
        task_event("task-started", "t1", T0 + 0.6, 2, hostname=SLOW, sent=sent["started"]),
    ]
    events = sorted(beats(SLOW, T0, T0 + 18, behind=HOUR) + task, key=lambda e: e["local_received"])
    return feed(*events, worker_event("worker-heartbeat", SLOW, T0 + 18.6, sent=T0 + 18.6 - HOUR))


def test_a_running_tasks_runtime_and_received_are_on_the_receive_clock():
    state, rows = an_hour_behind()
    cells, styles = task_row(rows, T0 + 18.6, "t1")
    received, runtime = cells[AT["received"]], cells[AT["runtime"]]
    assert runtime == "18.0s"  # not 1h00m: the worker's clock is an hour behind
    assert received == TaskSheet().cells(rows.rows["t1"]._replace(received=T0 + 0.5), 0.0)[AT["received"]]
    assert styles[AT["runtime"]] == "state.started"
    # What scripts read stays the worker's own stamps.
    assert state.tasks["t1"].started == T0 + 0.6 - HOUR
    # Without Health's findings the same row reads an hour off: the correction is the view's.
    plain = TaskRows(state)
    plain.sync()
    assert TaskSheet().table(plain, T0 + 18.6, NEWEST, "").cells(0)[AT["runtime"]] == "1h00m"


def test_the_task_and_worker_panes_say_the_worker_clock_and_the_running_time():
    state, rows = an_hour_behind()
    task = dict(details.task_info(state, "t1", rows.trust, T0 + 18.6).rows)
    assert task["running for"] == "18.0s" and "runtime" not in task
    assert task["worker clock"] == "1h00m behind evtop's: the times above are the worker's"
    worker = dict(details.worker_info(state, SLOW, T0 + 18.6, rows.trust).rows)
    assert worker["clock"] == "1h00m behind evtop's"
    assert "lost tasks" not in worker  # it is online


def lost_cluster() -> tuple[State, TaskRows]:
    """SLOW went quiet at T0 + 4 with a task started and one received; OTHER stays."""
    events = [
        *beats(SLOW, T0, T0 + 4),
        task_event("task-received", "done", T0 + 0.1, 1, hostname=SLOW, name="proj.a"),
        task_event("task-started", "done", T0 + 0.2, 2, hostname=SLOW),
        task_event("task-succeeded", "done", T0 + 0.3, 3, hostname=SLOW, runtime=0.1),
        task_event("task-received", "stuck", T0 + 1.0, 4, hostname=SLOW, name="proj.a"),
        task_event("task-started", "stuck", T0 + 1.1, 5, hostname=SLOW),
        task_event("task-received", "queued", T0 + 1.2, 6, hostname=SLOW, name="proj.a"),
        task_event("task-received", "fine", T0 + 1.3, 7, hostname=OTHER, name="proj.a"),
        *beats(OTHER, T0, T0 + 20),
    ]
    return feed(*sorted(events, key=lambda e: e["local_received"]))


def test_tasks_on_a_worker_gone_quiet_read_lost_while_celerys_state_stays():
    state, rows = lost_cluster()
    assert rows.trust.offline == {SLOW}  # silent for over twice its heartbeat interval
    for uuid in ("stuck", "queued"):
        cells, styles = task_row(rows, T0 + 20, uuid)
        assert cells[AT["state"]] == LOST and styles[AT["state"]] == "state.lost"
        assert cells[AT["runtime"]] == "-"  # no longer running: how long it ran is unknown
    assert task_row(rows, T0 + 20, "done")[0][AT["state"]] == "SUCCESS"
    assert task_row(rows, T0 + 20, "fine")[0][AT["state"]] == "RECEIVED"  # its worker is online
    assert state.tasks["stuck"].state == "STARTED" and state.tasks["queued"].state == "RECEIVED"
    # Filters and sorts see celery's states: state=started still finds the lost task.
    table = TaskSheet().table(rows, T0 + 20, NEWEST, "state=started")
    assert [table.key(i) for i in range(len(table.items))] == ["stuck"]
    pane = dict(details.task_info(state, "stuck", rows.trust, T0 + 20).rows)
    assert pane["state"] == "LOST (was STARTED when its worker went offline; no final event came)"
    assert pane["runtime"] == "-"  # not "running for": it is not running any more
    worker = dict(details.worker_info(state, SLOW, T0 + 20, rows.trust, lost=rows.lost_on(SLOW)).rows)
    assert worker["lost tasks"] == "2 (received or running here, never finished)"
    assert rows.lost == 2 and trust_text(rows.trust, rows.lost) == "2 lost on offline workers"
    assert rows.lost_on(SLOW) == 2 and rows.lost_on(OTHER) == 0


def test_a_task_running_in_a_custom_state_shows_its_runtime_and_is_lost_with_its_worker():
    """celery's PROGRESS recipe: a running task's own events put it in a custom state."""
    events = [
        *beats(SLOW, T0, T0 + 4),
        task_event("task-started", "busy", T0 + 1, 1, hostname=SLOW, name="proj.a"),
        task_event("task-progress", "busy", T0 + 2, 2, hostname=SLOW, current=1, total=4),
        task_event("task-started", "ended", T0 + 1.5, 3, hostname=SLOW, name="proj.a"),
        task_event("task-progress", "ended", T0 + 2.5, 4, hostname=SLOW, current=1, total=4),
        task_event("task-revoked", "ended", T0 + 3, 5, hostname=SLOW, terminated=True),
    ]
    _state, rows = feed(*events)
    assert rows.trust.offline == frozenset() and rows.lost == 0
    cells, styles = task_row(rows, T0 + 4, "busy")
    assert cells[AT["state"]] == "PROGRESS" and cells[AT["progress"]] == "25%"
    assert cells[AT["runtime"]] == "3.010s" and styles[AT["runtime"]] == "state.started"  # running
    cells, styles = task_row(rows, T0 + 4, "ended")
    assert cells[AT["state"]] == "PROGRESS" and cells[AT["runtime"]] == "-"  # revoked: not running
    _state, rows = feed(*events, *beats(OTHER, T0, T0 + 20))  # SLOW silent since T0 + 4
    assert rows.trust.offline == {SLOW} and rows.lost == rows.lost_on(SLOW) == 1
    cells, _styles = task_row(rows, T0 + 20, "busy")
    assert cells[AT["state"]] == LOST and cells[AT["runtime"]] == "-"
    assert task_row(rows, T0 + 20, "ended")[0][AT["state"]] == "PROGRESS"


def test_the_lost_count_follows_the_rows_as_tasks_end_leave_and_workers_come_back():
    state, rows = lost_cluster()
    rows.feed(task_event("task-succeeded", "stuck", T0 + 21, 8, hostname=SLOW, runtime=1.0))
    rows.sync()
    assert rows.lost == 1  # "queued" is still lost
    state.tasks.limit = len(state.tasks)  # full: each new task evicts the oldest
    for i, uuid in enumerate(("new1", "new2", "new3")):  # evicting "done", "stuck", "queued"
        rows.feed(task_event("task-received", uuid, T0 + 22 + i / 10, 9 + i, hostname=OTHER, name="proj.a"))
    rows.sync()
    assert "queued" not in state.tasks.data and rows.lost == 0  # evicted: nothing left to find
    rows.feed(task_event("task-received", "again", T0 + 23, 12, hostname=SLOW, name="proj.a"))
    rows.sync()
    assert rows.lost == 1  # its worker is still offline as of the last refresh's findings
    rows.trust = Trust()  # ... and once it is heard again, nothing is lost
    assert rows.lost == 0 and trust_text(rows.trust, rows.lost) == ""


def test_worker_offline_makes_its_unfinished_tasks_lost_at_once():
    events = [
        *beats(SLOW, T0, T0 + 2),
        task_event("task-started", "stuck", T0 + 2.5, 1, hostname=SLOW, name="proj.a"),
        worker_event("worker-offline", SLOW, T0 + 3),
    ]
    _state, rows = feed(*events)
    assert task_row(rows, T0 + 3, "stuck")[0][2] == LOST


def test_missed_tasks_per_worker_in_the_table_and_pane():
    # Its heartbeats count 5 task starts; only 2 task-started events came.
    events = [
        worker_event("worker-heartbeat", SLOW, T0, sent=T0, processed=10),
        task_event("task-started", "a", T0 + 0.5, 1, hostname=SLOW, sent=T0 + 0.5),
        task_event("task-started", "b", T0 + 0.7, 2, hostname=SLOW, sent=T0 + 0.7),
        worker_event("worker-heartbeat", SLOW, T0 + 2, sent=T0 + 2, processed=15),
        *beats(OTHER, T0, T0 + 2, processed=3),
    ]
    state, rows = feed(*events)
    table = WorkerSheet().table(rows, T0 + 2, Order("missed", True), "")
    assert table.key(0) == SLOW
    cells, styles = table.cells(0), table.styles(0)
    titles = [column.title for column in WorkerSheet.columns]
    assert cells[titles.index("MISSED")] == "3" and styles[titles.index("MISSED")] == "worker.missed"
    assert table.cells(1)[titles.index("MISSED")] == "0" and table.styles(1)[titles.index("MISSED")] is None
    pane = dict(details.worker_info(state, SLOW, T0 + 2, rows.trust).rows)
    assert pane["missed tasks"] == "3 (started, by its heartbeats; no event came)"
    assert trust_text(rows.trust) == "3 task starts never seen"


def test_the_header_names_workers_without_task_events_from_healths_finding():
    """What replaced the TUI's own scan: Health's without-task-events finding."""
    idle = [worker_event("worker-heartbeat", SLOW, T0 + i, sent=T0 + i, processed=7) for i in (0, 2)]
    _state, rows = feed(*idle, task_event("task-sent", "u1", T0 + 1, 1, hostname="client@c"))
    assert trust_text(rows.trust) == ""  # idle: no alarm, whatever a client sent
    busy = worker_event("worker-heartbeat", SLOW, T0 + 4, sent=T0 + 4, processed=8)
    _state, rows = feed(*idle, busy)
    assert trust_text(rows.trust) == (
        "no task events from celery@slow: without -E? (evtop control enable-events)"
    )
    _state, rows = feed(*idle, task_event("task-started", "x", T0 + 3, 3, hostname=SLOW, sent=T0 + 3), busy)
    assert trust_text(rows.trust) == ""  # task events do arrive
    hostile = [worker_event("worker-heartbeat", SLOW, T0 + i, sent=T0 + i, processed="lots") for i in (0, 2)]
    assert trust_text(feed(*hostile)[1].trust) == ""


def test_outage_windows_in_the_header_and_message():
    gaps = (Gap("celery@w1", T0, T0 + 19.2), Gap("celery@\x1b[2Jw2", T0 + 30, T0 + 41))
    assert trust_text(Trust(gaps=gaps[:1])) == "missed 19.2s of celery@w1's events"
    assert trust_text(Trust(gaps=gaps)) == "missed 11.0s of celery@␛[2Jw2's events (+1 more)"
    assert gap_message(gaps[0]) == (
        "events were missed: about 19 s of celery@w1's after a reconnect "
        "(07:22:22 to 07:22:41 UTC by its clock)"
    )
