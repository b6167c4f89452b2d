"""The TUI app without a terminal: keys in, rendered text out (urwid canvases).

Remote control goes through the real :class:`~evtop.control.client.Control` to a fake
pidbox worker on kombu's ``memory://`` (tests/unit/control/fakes.py); real workers answer
in tests/integration/test_tui_live.py.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import pytest

from evtop.broker.status import ConnectionStatus
from evtop.control.client import Control
from evtop.events.health import Health
from evtop.events.state import State
from evtop.events.stats import IngestStats
from evtop.tui import mode
from evtop.tui.actions import ACTIONS
from evtop.tui.app import CHROME_ROWS, App
from evtop.tui.bridge import Bridge
from evtop.tui.control_runner import ControlRunner
from evtop.tui.dialogs import ScrollBox
from evtop.tui.keymap import KEYMAP, TABLE, bindings, help_lines, hints, keys_label
from evtop.view import dropped, orderings, taskrows
from evtop.view.taskrows import TaskRows
from tests.support.cluster import T0, cluster, cluster_events, task
from tests.support.events import worker_event
from tests.support.live import wait_until
from tests.unit.control.fakes import FakeWorker, Out, memory_config

SIZE = (100, 20)


def make_app(runner=None, read_only=False, state=None, rows=None):
    app = App(
        state or cluster(),
        IngestStats(),
        ConnectionStatus("redis://h:6379/0", clock=lambda: T0 + 100),
        runner=runner,
        read_only=read_only,
        no_control="no control in this test",
        bridge=runner.bridge if runner else Bridge(),
        clock=lambda: T0 + 100,
        actions=ACTIONS,
        rows=rows,
    )
    app.size = SIZE
    app.refresh()
    return app


def screen(app: App) -> str:
    return "\n".join(line.decode() for line in app.render(SIZE).text)


def pane_text(app: App) -> str:
    """Every line of the top pane, scrolled or not."""
    box = app.layers[-1].listbox
    if isinstance(box, ScrollBox):
        return "\n".join(box.lines)
    return "\n".join(row.text for row in box.body)


def press(app: App, *keys: str) -> str:
    for key in keys:
        app.press(key)
    return screen(app)


# --- the keymap ------------------------------------------------------------------------------


def test_no_key_means_two_things_in_one_context():
    seen: dict[tuple[str, str], str] = {}
    for binding in KEYMAP:
        for context in binding.contexts:
            for key in binding.keys:
                assert (context, key) not in seen, (context, key, seen.get((context, key)), binding.command)
                seen[context, key] = binding.command


def test_every_table_command_has_an_action_and_every_action_a_binding():
    assert {b.command for b in bindings(TABLE)} <= set(ACTIONS)
    assert set(ACTIONS) <= {b.command for b in KEYMAP}


def test_help_and_hints_come_from_the_table():
    lines = [line.split() for line in help_lines()]
    for binding in KEYMAP:
        assert [*keys_label(binding).split(), *binding.help.split()] in lines, binding
    assert hints().startswith("?:help  q:quit  1:tasks")
    assert keys_label(next(b for b in KEYMAP if b.command == "page-down")) == "PgDn, ^F"
    assert keys_label(next(b for b in KEYMAP if b.command == "tag-toggle")) == "Space"  # as in htop


# --- moving and screens ----------------------------------------------------------------------


def test_the_table_shows_tasks_and_selection_follows_the_keys():
    app = make_app()
    text = screen(app)
    assert "[Tasks] 6/6" in text and "uuid-5" in text.splitlines()[4]
    assert app.view.selection is None and app.selected().uuid == "uuid-5"  # the top row: following
    press(app, "j", "down")
    assert app.view.selection == "uuid-3"
    press(app, "G")
    assert app.view.selection == "uuid-0"
    press(app, "k", "g")
    assert app.view.selection is None and app.selected().uuid == "uuid-5"


def test_a_screen_shown_again_follows_the_newest_rows_if_it_did_when_left():
    state = cluster()
    app = make_app(state=state)
    press(app, "2")
    state.event(task("task-received", "new", T0 + 50, 99, name="proj.add"))  # while away
    app.refresh()
    press(app, "1")
    assert app.selected().uuid == "new"  # not uuid-5, the top row when the screen was left
    press(app, "j", "2")  # a row chosen off the top stays chosen
    state.event(task("task-received", "newer", T0 + 51, 100, name="proj.add"))
    app.refresh()
    press(app, "1")
    assert app.selected().uuid == "uuid-5" and app.view.selection == "uuid-5"


def test_selection_stays_on_its_task_when_rows_move():
    state = cluster()
    app = make_app(state=state)
    press(app, "j")  # uuid-4, off the top row
    state.event(task("task-received", "new", T0 + 50, 99, name="proj.add"))
    app.refresh()
    assert app.view.selection == "uuid-4" and app.selected().uuid == "uuid-4"


def test_screens_filter_and_sort():
    app = make_app()
    assert "[Workers] 2/2" in press(app, "2")
    assert "[Task types] 3/3" in press(app, "3")
    text = press(app, "/", *"mul", "enter")
    assert "[Task types] 1/3" in text and "filter: mul" in text
    text = press(app, "1")
    assert "[Tasks] 6/6" in text  # filters are per screen
    text = press(app, "s")  # the column right of the event order: text sorts A to Z first
    assert "sort: TASK ▲" in text and "TASK▲" in text
    assert "sort: TASK ▼" in press(app, "S")
    text = press(app, "/", "esc")  # a cancelled prompt changes nothing
    assert "filter:" not in text.splitlines()[2]


def test_enter_on_a_type_and_t_on_a_worker_list_their_tasks():
    app = make_app()
    press(app, "3", "g")
    assert app.selected().name == "proj.add"
    text = press(app, "enter")
    assert "[Tasks] 4/6" in text and "filter: name=proj.add" in text
    press(app, "2", "G", "t")  # celery@w2 ran nothing
    assert "[Tasks] 0/6" in screen(app)
    press(app, "2", "g", "t")
    assert "[Tasks] 6/6" in screen(app) and "filter: worker=celery@w1" in screen(app)


def test_hints_and_help_show_only_the_keys_of_the_screen():
    app = make_app()
    hints_line = screen(app).splitlines()[-1]
    assert "c:revoke" in hints_line and "+:grow" not in hints_line
    text = press(app, "2")
    assert "c:revoke" not in text.splitlines()[-1] and "+:grow" in text.splitlines()[-1]
    press(app, "?")
    assert "pool process" in pane_text(app) and "revoke the task" not in pane_text(app)
    press(app, "q", "1", "?")
    assert "revoke the task" in pane_text(app) and "pool process" not in pane_text(app)
    press(app, "q", "4")
    assert "c:revoke" not in screen(app).splitlines()[-1] and "Enter:open" not in screen(app)


def test_panes_open_and_close():
    app = make_app()
    press(app, "G", "k", "k")
    assert app.selected().uuid == "uuid-2"
    text = press(app, "t")
    assert "Traceback of uuid-2 (FAILURE)" in text and "KeyError: 'k'" in text
    press(app, "q")
    assert app.context == "tasks" and not app.done
    text = press(app, "g", "t")
    assert "no traceback: the task is RECEIVED" in text
    assert "Task uuid-5" in press(app, "enter")
    press(app, "esc")
    assert "Result of uuid-5" in press(app, "r")


def fed_app(max_tasks=10_000):
    """An app whose events arrive as in the live TUI: through ``TaskRows.feed``."""
    state = State(max_tasks_in_memory=max_tasks, clock=lambda: T0 + 100)
    rows = TaskRows(state)
    app = make_app(state=state, rows=rows)
    for event in cluster_events():
        rows.feed(event)
    app.refresh()
    return app, rows


def test_the_header_shows_the_tasks_held_out_of_the_cap():
    app, _ = fed_app(max_tasks=100_000)
    assert "tasks 6/100,000  workers 1/2 online" in screen(app)
    assert "tasks 6/10,000" in screen(make_app())


def test_fed_events_move_rows_and_the_selection_stays_on_its_task():
    app, rows = fed_app()
    press(app, "s", "S", "G")  # by name, descending: the last row is the oldest proj.add
    assert app.view.selection == "uuid-0"
    rows.feed(task("task-received", "new-1", T0 + 50, 99, name="proj.zzz"))
    rows.feed(task("task-succeeded", "uuid-0", T0 + 51, 100, runtime=0.1))
    app.refresh()
    assert app.table.items[0].uuid == "new-1"
    assert app.view.selection == "uuid-0" and app.selected().state == "SUCCESS"
    assert "[Tasks] 7/7" in screen(app)


def test_a_refresh_without_a_change_on_screen_draws_nothing():
    app, rows = fed_app()
    size = (SIZE[0], SIZE[1] - CHROME_ROWS)
    drawn = app.listbox.render(size, focus=True)
    app.refresh()
    assert app.listbox.render(size, focus=True) is drawn  # urwid's cached canvas
    rows.feed(task("task-started", "uuid-5", T0 + 60, 101))  # the top row changes
    app.refresh()
    redrawn = app.listbox.render(size, focus=True)
    assert redrawn is not drawn
    assert "STARTED" in b"".join(redrawn.text).decode()


def test_pause_keeps_fed_rows_until_resumed():
    app, rows = fed_app()
    press(app, "p")
    rows.feed(task("task-received", "new-1", T0 + 50, 99, name="proj.add"))
    app.refresh()
    assert "PAUSED" in screen(app) and app.table.index_of("new-1") is None
    assert "[Tasks] 6/6" in screen(app)
    press(app, "p")
    assert app.table.index_of("new-1") == 0 and "[Tasks] 7/7" in screen(app)


def test_pause_keeps_the_rows():
    state = cluster()
    app = make_app(state=state)
    press(app, "p")
    state.event(task("task-received", "new", T0 + 50, 99, name="proj.add"))
    app.refresh()
    assert "PAUSED" in screen(app) and app.table.index_of("new") is None
    press(app, "p")
    assert app.table.index_of("new") is not None


def test_quit():
    app = make_app()
    press(app, "q")
    assert app.done


# --- remote control --------------------------------------------------------------------------


@pytest.fixture
def control():
    config = memory_config()
    revoked = lambda worker, request: [Out({worker.name: {"ok": "tasks flagged as revoked: uuid-5"}})]  # noqa: E731
    with FakeWorker(config, "celery@w1", answer=revoked) as fake:
        yield fake, ControlRunner(Control(config), Bridge(), timeout=1.0)


def drain_until(app: App, predicate, timeout=10.0):
    def check():
        app.bridge.drain()
        return predicate()

    wait_until(check, timeout=timeout)


def test_revoke_asks_first_and_n_sends_nothing(control):
    fake, runner = control
    app = make_app(runner)
    selected = app.selected()
    text = press(app, "c")
    assert f"Revoke task uuid-5 (proj.add, {selected.state} on {selected.worker})?" in text
    assert "Workers will not start it. [y/N]" in text
    assert "revoke cancelled: nothing was sent" in press(app, "n")
    assert app.context == "tasks" and runner.pending == 0 and fake.requests == []


@pytest.mark.parametrize("key", ["n", "esc", "q", "enter", " ", "x", "c", "j"])
def test_any_key_but_y_cancels_a_question(control, key):
    fake, runner = control
    app = make_app(runner)
    press(app, "c")
    assert app.context == "confirm"
    press(app, key)
    assert app.context == "tasks" and runner.pending == 0 and fake.requests == []


@pytest.mark.parametrize("typed", ["y", "yes", "terminat", ""])
def test_terminate_needs_the_word_typed(control, typed):
    fake, runner = control
    app = make_app(runner)
    text = press(app, "x")
    assert "Terminate task uuid-5 (proj.add" in text and "type terminate and Enter to confirm" in text
    assert "cancelled: nothing was sent" in press(app, *typed, "enter")
    assert app.context == "tasks" and runner.pending == 0 and fake.requests == []


def test_terminate_typed_sends_terminate(control):
    fake, runner = control
    app = make_app(runner)
    press(app, "x", *"terminate", "enter")
    drain_until(app, lambda: runner.pending == 0)
    assert fake.requests[0]["arguments"] == {"task_id": "uuid-5", "terminate": True, "signal": "SIGTERM"}


def test_revoke_confirmed_sends_and_shows_the_replies(control):
    fake, runner = control
    app = make_app(runner)
    press(app, "c", "y")
    assert "revoke: sent, waiting for replies..." in screen(app)
    drain_until(app, lambda: runner.pending == 0)
    assert fake.requests[0]["method"] == "revoke"
    assert fake.requests[0]["arguments"] == {"task_id": "uuid-5", "terminate": False, "signal": "SIGTERM"}
    text = screen(app)
    assert "Replies to revoke" in text and "tasks flagged as revoked: uuid-5" in text
    assert "1 of 1 worker replied" in text


def test_rate_limit_prompt_validates_then_confirms(control):
    fake, runner = control
    app = make_app(runner)
    text = press(app, "l", *"10/x", "enter")
    assert "unknown unit" in text and fake.requests == []
    press(app, "l", *"10/m", "enter")
    assert "Set the rate limit of proj.add to 10/m on every worker? [y/N]" in screen(app)
    press(app, "y")
    drain_until(app, lambda: runner.pending == 0)
    assert fake.requests[-1]["arguments"] == {"task_name": "proj.add", "rate_limit": "10/m"}


@pytest.mark.parametrize("typed", ["", "none", "None", "0", "0/m", " 0 "])
def test_removing_a_rate_limit_says_so(control, typed):
    fake, runner = control
    app = make_app(runner)
    assert "Remove the rate limit of proj.add on every worker? [y/N]" in press(app, "l", *typed, "enter")
    press(app, "y")
    drain_until(app, lambda: runner.pending == 0)
    assert fake.requests[-1]["method"] == "rate_limit"
    assert fake.requests[-1]["arguments"] == {"task_name": "proj.add", "rate_limit": None}


def test_time_limit_from_the_types_screen(control):
    fake, runner = control
    app = make_app(runner)
    press(app, "3", "G")
    name = app.selected().name
    press(app, "L", *"30 60", "enter", "y")
    drain_until(app, lambda: runner.pending == 0)
    assert fake.requests[-1]["arguments"] == {"task_name": name, "hard": 60.0, "soft": 30.0}


def test_read_only_refuses_before_asking(control):
    fake, runner = control
    app = make_app(runner, read_only=True)
    for key in ("c", "x", "l", "L"):
        text = press(app, key)
        assert "read-only (--read-only): control commands are disabled" in text
        assert app.context == "tasks"
    assert fake.requests == []


def test_without_a_runner_control_keys_say_why():
    app = make_app()
    assert "no control in this test" in press(app, "x")


def test_a_bug_in_a_key_or_refresh_is_reported_not_fatal(caplog):
    import urwid

    from evtop.tui.mode import _survive

    with _survive("handling the key 'x'"):
        raise KeyError("oops")
    assert "internal error while handling the key 'x' (evtop keeps running)" in caplog.text
    with pytest.raises(urwid.ExitMainLoop), _survive("quitting"):
        raise urwid.ExitMainLoop


def test_a_terminal_too_small_shows_a_notice_and_no_key_acts_blind(control):
    fake, runner = control
    app = make_app(runner)
    press(app, "c")
    assert app.context == "confirm"
    text = "\n".join(line.decode() for line in app.render((20, 5)).text)
    assert "terminal too small" in text and "20x5, need 30x8" in text
    press(app, "y")  # the question is not on screen: the key closes it, nothing is sent
    assert app.context == "tasks" and runner.pending == 0 and fake.requests == []
    press(app, "c", "2")
    assert app.context == "tasks" and app.layers == []
    press(app, "q")
    assert app.done  # quitting still works
    text = "\n".join(line.decode() for line in app.render(SIZE).text)
    assert "[Tasks]" in text and "Revoke" not in text and "too small" not in text


# --- what the stream missed, and Ctrl-C ------------------------------------------------------


def test_a_gap_after_a_reconnect_is_said_once_and_stays_in_the_header():
    clock = [T0]
    status = ConnectionStatus("redis://h:6379/0", clock=lambda: clock[0])
    health = Health(clock=lambda: clock[0])
    status.subscribe(health.on_status)
    state = State()
    rows = TaskRows(state)

    def heard(at: float) -> None:
        clock[0] = at
        event = worker_event("worker-heartbeat", "celery@w1", at, sent=at)
        health.observe(event)
        rows.feed(event)

    app = App(state, IngestStats(), status, clock=lambda: clock[0], actions=ACTIONS, rows=rows, health=health)
    app.size = SIZE
    status.connected()
    heard(T0)
    app.refresh()
    assert "missed" not in screen(app)
    status.lost("Connection reset by peer", retry_in=0.5)
    status.connected()  # evtop noticed a short outage; the worker's clock shows 19 s missing
    heard(T0 + 19)
    app.refresh()
    text = screen(app)
    assert "missed 19.0s of celery@w1's events" in text  # the counts line
    assert "events were missed: about 19 s of celery@w1's after a reconnect" in text  # message
    press(app, "j")  # a key clears the message line; the header keeps the finding
    app.refresh()
    text = screen(app)
    assert "events were missed" not in text and "missed 19.0s of celery@w1's events" in text


@pytest.mark.parametrize("layer", ["", "i", "/", "?"])
def test_ctrl_c_quits_as_interrupted_from_every_layer_and_q_does_not(layer):
    app = make_app()
    if layer:
        press(app, layer)
    assert not app.done
    press(app, "ctrl c")
    assert app.done and app.interrupted
    app = make_app()
    press(app, "q")
    assert app.done and not app.interrupted


# --- workers: the pane and the actions -------------------------------------------------------

STATS = {
    "pool": {
        "implementation": "celery.concurrency.prefork:TaskPool",
        "max-concurrency": 2,
        "processes": [11, 12],
    },
    "prefetch_count": 8,
    "broker": {"transport": "redis", "hostname": "127.0.0.1", "port": 6379, "virtual_host": "0"},
    "rusage": {"utime": 1.5, "stime": 0.25, "maxrss": 40000},
    "total": {"proj.add": 3, "proj.mul": 1},
    "uptime": 75,
}
ANSWERS = {
    "stats": STATS,
    "active": [
        {"id": "uuid-4", "name": "proj.slow", "args": [1], "kwargs": {}, "time_start": T0, "worker_pid": 11}
    ],
    "reserved": [],
    "scheduled": [
        {"eta": "2026-01-01T00:00:00", "priority": 0, "request": {"id": "later", "name": "proj.add"}}
    ],
    "registered": ["proj.add", "proj.mul", "proj.slow\x1b[31m"],
    "active_queues": [
        {"name": "celery", "exchange": {"name": "celery", "type": "direct"}, "routing_key": "celery"}
    ],
}


def inspector(silent=()):
    def answer(worker, request):
        method = request["method"]
        if method in silent:
            return []
        if method in ANSWERS:
            return [Out({worker.name: ANSWERS[method]})]
        return [Out({worker.name: {"ok": f"{method} done"}})]

    return answer


@pytest.fixture
def inspected():
    config = memory_config()
    with FakeWorker(config, "celery@w1", answer=inspector(silent=("reserved",))) as fake:
        yield fake, ControlRunner(Control(config), Bridge(), timeout=1.0)


def test_the_worker_pane_shows_events_then_each_answer(inspected):
    fake, runner = inspected
    app = make_app(runner)
    press(app, "2", "g")
    assert app.selected().hostname == "celery@w1"
    press(app, "enter")
    assert app.context == "worker-pane" and "Worker celery@w1" in screen(app)
    assert "asking through the pidbox: 0 of 6 replied so far" in pane_text(app)
    assert "tasks in memory  6" in pane_text(app)
    drain_until(app, lambda: runner.pending == 0)
    text = pane_text(app)
    assert "5 of 6 replied within 1 s (R asks again)" in text
    assert {r["destination"][0] for r in fake.requests} == {"celery@w1"}
    for expected in (
        "pool                 celery.concurrency.prefork:TaskPool",
        "concurrency          2",
        "processes            11, 12",
        "prefetch count       8",
        "broker               redis://127.0.0.1:6379/0",
        "rusage               utime 1.5, stime 0.25, maxrss 40000",
        "totals: 4 tasks done since start",
        "uuid-4  proj.slow  args [1]",
        "later  proj.add  eta 2026-01-01T00:00:00",
        "no reply within 1 s (busy, or gone)",
        "celery  exchange celery (direct)  routing key celery",
    ):
        assert expected in text, expected
    assert "\x1b" not in text and "proj.slow" in text  # a worker's text is sanitized
    assert "R:refresh" in screen(app).splitlines()[-1]
    press(app, "R")
    assert "0 of 6 replied so far" in pane_text(app)
    drain_until(app, lambda: runner.pending == 0)
    assert len(fake.requests) == 12 and "5 of 6 replied" in pane_text(app)
    press(app, "esc")
    assert app.context == "workers"


def test_the_worker_pane_says_why_nothing_is_asked(inspected):
    fake, runner = inspected
    app = make_app(runner, read_only=True)
    press(app, "2", "g", "i")
    assert "not asked: --read-only sends nothing to the workers" in pane_text(app)
    press(app, "R")
    assert fake.requests == [] and runner.pending == 0
    app = make_app()
    press(app, "2", "g", "enter")
    assert "not asked: no control in this test" in pane_text(app)


@pytest.mark.parametrize(
    ("keys", "question", "method", "arguments"),
    [
        (("+",), "Add one pool process to celery@w1? [y/N]", "pool_grow", {"n": 1}),
        (("-",), "Stop one idle pool process of celery@w1? [y/N]", "pool_shrink", {"n": 1}),
        (("e",), "Make celery@w1 send task events? [y/N]", "enable_events", {}),
        (("E",), "Make celery@w1 stop sending task events? [y/N]", "disable_events", {}),
        (
            ("a", *"10,3", "enter"),
            "Set the autoscale range to at most 10, at least 3 processes on celery@w1? [y/N]",
            "autoscale",
            {"max": 10, "min": 3},
        ),
        (
            ("o", *"reports", "enter"),
            "Consume from queue reports on celery@w1? [y/N]",
            "add_consumer",
            {"queue": "reports", "exchange": None, "exchange_type": "direct", "routing_key": None},
        ),
        (
            ("O", *"reports", "enter"),
            "Stop consuming from queue reports on celery@w1? [y/N]",
            "cancel_consumer",
            {"queue": "reports"},
        ),
    ],
)
def test_worker_actions_ask_first_then_go_to_that_worker_only(inspected, keys, question, method, arguments):
    fake, runner = inspected
    app = make_app(runner)
    press(app, "2", "g", *keys)
    assert question in screen(app)
    press(app, "n")
    assert fake.requests == [] and "cancelled: nothing was sent" in screen(app)
    press(app, *keys, "y")
    drain_until(app, lambda: runner.pending == 0)
    (request,) = fake.requests
    assert request["method"] == method and request["arguments"] == arguments
    assert request["destination"] == ["celery@w1"]
    assert f"{method} done" in pane_text(app) and "1 of 1 worker replied" in screen(app)


def test_a_bad_autoscale_range_is_refused_before_asking(inspected):
    fake, runner = inspected
    app = make_app(runner)
    assert "give MAX,MIN, e.g. 10,3" in press(app, "2", "g", "a", *"10", "enter")
    assert "must not be below MIN" in press(app, "a", *"2,5", "enter")
    assert app.context == "workers" and fake.requests == []


@pytest.mark.parametrize("typed", ["y", "yes", "celery@w2", ""])
def test_shutdown_needs_the_name_or_the_word(inspected, typed):
    fake, runner = inspected
    app = make_app(runner)
    text = press(app, "2", "g", "D")
    assert "Shut down worker celery@w1: a warm shutdown" in text
    assert "type celery@w1 or shutdown and Enter to confirm" in text
    assert "shutdown cancelled: nothing was sent" in press(app, *typed, "enter")
    assert fake.requests == []


@pytest.mark.parametrize("typed", ["celery@w1", "shutdown"])
def test_shutdown_typed_goes_to_that_worker_from_its_pane(inspected, typed):
    fake, runner = inspected
    app = make_app(runner)
    press(app, "2", "g", "enter")
    drain_until(app, lambda: runner.pending == 0)
    fake.requests.clear()
    pane = app.context
    press(app, "D", *typed, "enter")
    drain_until(app, lambda: runner.pending == 0 and fake.requests)  # no reply: wait for the worker
    (request,) = fake.requests
    assert request["method"] == "shutdown" and request["destination"] == ["celery@w1"]
    assert "shutdown sent to celery@w1; no reply is expected" in screen(app)
    # Said on the message line only: no replies pane opened over the worker's, nothing to close.
    assert app.context == pane and len(app.layers) == 1
    press(app, "esc")
    assert app.context == "workers"
    press(app, "q")
    assert app.done


def test_worker_actions_refuse_read_only_and_without_control(inspected):
    fake, runner = inspected
    app = make_app(runner, read_only=True)
    for key in ("+", "-", "a", "o", "O", "e", "E", "D"):
        assert "read-only (--read-only): control commands are disabled" in press(app, "2", key)
        assert app.context == "workers"
    assert "no control in this test" in press(make_app(), "2", "D")
    assert "no worker selected" in press(make_app(state=State()), "2", "+")
    assert fake.requests == []


# --- queues ----------------------------------------------------------------------------------


def test_the_queue_screen_says_why_it_cannot_read_and_shows_a_reading():
    from evtop.broker.queues import QueueReading, QueueRow
    from evtop.view.queues import QueueBoard

    watched = []
    board = QueueBoard(source="Redis LLEN")
    app = App(
        cluster(),
        IngestStats(),
        ConnectionStatus("redis://h:6379/0", clock=lambda: T0 + 100),
        no_control="no control in this test",
        clock=lambda: T0 + 100,
        actions=ACTIONS,
        queues=board,
        watch_queues=watched.append,
    )
    app.size = SIZE
    app.refresh()
    assert watched[-1] is False
    text = press(app, "4")
    assert watched[-1] is True and "[Queues] 0/0" in text and "reading the queues from Redis LLEN..." in text
    rows = (
        QueueRow("celery", 3, 1, None, ["celery@w1"], -1.5),
        QueueRow("idle\x1b[2J", 40, 0, None, [], 2.0),
    )
    board.take(QueueReading(T0 + 98, rows, note="a note"))
    text = press(app, "<")  # by name: a text column sorts A to Z first
    assert "[Queues] 2/2" in text and "read 2.000s ago from Redis LLEN; a note" in text
    lines = text.splitlines()
    assert lines[4].split() == ["celery", "3", "-", "1", "-1.5", "celery@w1"]
    assert lines[5].split()[1:] == ["40", "-", "0", "+2.0", "-"] and "\x1b" not in text
    board.take(QueueReading(T0 + 99, note="cannot reach the broker", failed=True))
    text = press(app, "/", *"celery", "enter")
    assert "[Queues] 1/2" in text and "failed: cannot reach the broker" in text  # the rows stay
    assert board.status(T0 + 100) == "read 1.000s ago, failed: cannot reach the broker (Redis LLEN)"
    press(app, "1")
    assert watched[-1] is False
    assert "no broker to ask" in press(make_app(), "4")


# --- filter as you type, search, sort, mouse, clipboard ----------------------------------------


def test_typing_in_the_filter_prompt_narrows_once_per_batch_of_keys():
    app = make_app()
    shown = []
    show_table = app.show_table
    app.show_table = lambda now=None: (shown.append(app.view.filter_text), show_table(now))[1]
    app.press("/")
    shown.clear()
    for key in "state:fail":  # one batch: typed fast or pasted
        app.press(key)
    assert shown == []  # nothing filtered per key...
    app.settle()
    assert shown == ["state:fail"]  # ... once for the batch
    assert "[Tasks] 1/6" in screen(app)
    app.press("esc")  # restores the filter from before (none)
    assert app.view.filter_text == "" and "[Tasks] 6/6" in screen(app)


def sixty_tasks_of_three_types() -> App:
    state = State(clock=lambda: T0 + 100)
    names = ("proj.add", "proj.mul", "proj.slow")
    for i in range(60):
        state.event(task("task-received", f"t{i:02d}", T0 + i, i + 1, name=names[i % 3]))
    return make_app(state=state)


@contextlib.contextmanager
def small_passes(first_rows: int, first_scan: int, first_chunk: int) -> Iterator[None]:
    """A filter over any number of rows counted between frames, in chunks of 4, its first
    rows found as told: what a million rows make happen, over a few."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(taskrows, "COUNT_AT_ONCE", 0)
        patch.setattr(orderings, "FIRST_ROWS", first_rows)
        patch.setattr(orderings, "FIRST_SCAN", first_scan)
        patch.setattr(orderings, "FIRST_CHUNK", first_chunk)
        patch.setattr(orderings, "COUNT_CHUNK", 4)
        yield


def test_a_filter_over_many_tasks_shows_its_first_rows_then_counts_the_rest_between_frames():
    app = sixty_tasks_of_three_types()
    with small_passes(first_rows=5, first_scan=16, first_chunk=4):
        text = press(app, "/", *"proj.m")
        counted = re.search(r"\[Tasks\] counting… (\d+)\+/60", text)
        assert counted and int(counted[1]) < 20
        assert [line.split()[0] for line in text.splitlines() if "proj.mul" in line] == [
            "t58", "t55", "t52", "t49", "t46"  # the newest first, at once
        ]  # fmt: skip
        seen = []
        while app.rows.counting:  # what the loop does between keys, a step at a time
            app.rows.sync(0.0)
            app.show_counting()
            seen.append(screen(app).splitlines()[2].split()[1])
        assert seen[-1] == "20/60" and all(shown.startswith("counting…") for shown in seen[:-1])
        press(app, "enter")
        text = press(app, "/", *"proj.a")  # typed anew: counted anew, until Esc puts back the one before
        assert "[Tasks] counting… " in text
        text = press(app, "esc")
        assert "[Tasks] 20/60" in text and not app.rows.counting
        text = press(app, "/", *"proj.s", "enter", "end")  # past the first rows: all counted at once
        assert "[Tasks] 20/60" in text and "filter: proj.s" in text
        assert app.view.selection == "t02" and not app.rows.counting


def test_the_selection_stays_on_its_row_while_a_filter_that_keeps_it_is_counted():
    """The selected row, kept by the filter typed, stays selected while the rest is
    counted (shown after the rows found so far, then where it comes), as it does once the
    count is done; a selected row the filter hides gives way as after a filter done at once."""
    app = sixty_tasks_of_three_types()
    with small_passes(first_rows=2, first_scan=1, first_chunk=1):
        press(app, *"j" * 10)
        assert app.view.selection == "t49"  # a proj.mul task
        text = press(app, "/", *"proj.m")
        places = []
        while True:
            assert "counting…" in text or not app.rows.counting
            assert app.view.selection == "t49"
            places.append(app.listbox.focus_position)
            assert app.table.key(places[-1]) == "t49"
            if not app.rows.counting:
                break
            app.rows.sync(0.0)
            app.show_counting()
            text = screen(app)
        assert places[:2] == [0, 2] and places[-1] == 3  # alone, after t58 t55, then its place
        assert "[Tasks] 20/60" in text
        press(app, "enter", "/", *"proj.s")  # hides t49: the selection gives way
        while app.rows.counting:
            app.rows.sync(0.0)
            app.show_counting()
        assert app.view.selection != "t49" and app.table.index_of(app.view.selection) is not None


def test_search_moves_the_selection_and_n_wraps_around():
    app = make_app()
    press(app, "f3", *"proj.add", "enter")
    assert app.view.selection == "uuid-5" and "[Tasks] 6/6" in screen(app)
    press(app, "n")
    assert app.view.selection == "uuid-2"
    press(app, "n", "n", "n")  # uuid-1, uuid-0, then around to the top
    assert app.view.selection == "uuid-5" and "search wrapped around" in screen(app)
    press(app, "f3", *"zzz")
    assert "not found: zzz" in app.message_line.text
    press(app, "esc")  # back where the search started
    assert app.view.selection == "uuid-5"


def test_mouse_clicks_and_wheel_act_as_their_keys():
    app = make_app()
    screen(app)
    app.mouse("mouse press", 1, 2, 6)  # the third table row
    assert app.view.selection == "uuid-3"
    app.mouse("mouse press", 5, 2, 6)  # wheel down: three rows
    assert app.view.selection == "uuid-0"
    app.mouse("mouse press", 4, 2, 6)
    assert app.view.selection == "uuid-3"
    app.mouse("mouse press", 1, 2, 17)  # below the last row: nothing
    assert app.view.selection == "uuid-3"
    view = screen(app).splitlines()[2]
    app.mouse("mouse press", 1, view.index("3 Task types") + 1, 2)
    assert "[Task types] 3/3" in screen(app)
    titles = screen(app).splitlines()[3]
    app.mouse("mouse press", 1, titles.index("FAIL%") + 1, 3)
    assert "sort: FAIL% ▼" in screen(app)
    hints_row = screen(app).splitlines()[-1]
    app.mouse("mouse press", 1, hints_row.index("?:help"), SIZE[1] - 1)
    assert "evtop keys" in screen(app)
    app.mouse("mouse press", 5, 10, 8)  # the wheel scrolls the pane
    assert "-- more --" in screen(app) and "General" not in screen(app)


def test_the_sort_menu_picks_by_title_and_a_click_picks_too():
    app = make_app()
    text = press(app, "f6")
    assert "Sort Tasks by" in text and " LAST EVENT ▼" in text
    press(app, "j", "enter")  # TASK: text, A to Z
    assert "sort: TASK ▲" in screen(app)
    text = press(app, "f6")
    row = text.splitlines().index(next(line for line in text.splitlines() if line.startswith(" RUNTIME")))
    app.mouse("mouse press", 1, 3, row)
    assert "sort: RUNTIME ▼" in screen(app) and app.context == "tasks"


def test_y_writes_osc_52_with_the_sanitized_id():
    written: list[str] = []
    app = make_app()
    app.terminal = written.append
    text = press(app, "j", "y")
    assert written == ["\x1b]52;c;dXVpZC00\x07"]  # base64 of uuid-4
    assert "copied uuid-4" in text
    app.terminal = None
    assert "no terminal to copy through: uuid-4" in press(app, "y")


def test_a_search_for_an_id_prefix_finds_that_row_first_and_says_when_the_filter_hides_it():
    app = make_app()
    press(app, "G", "#", *"uuid-3", "enter")  # from the last row: found ahead of it, by its id
    assert app.view.selection == "uuid-3"
    press(app, "/", *"name:mul", "enter")
    text = press(app, "#", *"uuid-5", "enter")
    assert "uuid-5: that task is hidden by the filter (Esc clears it)" in text
    press(app, "3", "#", *"proj.s", "enter")  # on the types screen, a type's name
    assert app.view.selection == "proj.slow"


def test_a_click_on_a_screen_tab_closes_a_pane_first():
    app = make_app()
    press(app, "?")
    view = screen(app).splitlines()[2]
    app.mouse("mouse press", 1, view.index("2 Workers") + 1, 2)
    assert app.context == "workers" and "[Workers] 2/2" in screen(app)


class AlarmLoop:
    """The two alarm calls of urwid's MainLoop that the settler uses, run by hand."""

    def __init__(self):
        self.alarms: dict[int, tuple[float, object]] = {}
        self.made = 0

    def set_alarm_in(self, seconds, callback):
        self.made += 1
        self.alarms[self.made] = (seconds, callback)
        return self.made

    def remove_alarm(self, handle):
        return self.alarms.pop(handle, None) is not None

    def fire(self):
        (handle, (seconds, callback)), *rest = self.alarms.items()
        assert not rest
        del self.alarms[handle]
        callback(self, None)
        return seconds


def test_typed_keys_settle_once_after_a_pause_as_long_as_the_last_settling_took():
    app = make_app()
    clock = iter([0.0, 0.0, 10.0, 10.2, 20.0, 25.0, 30.0, 30.0])  # took 0, 0.2, 5 s, 0
    applied = []
    after: list[int] = []  # what was applied when the work left for later was scheduled
    settler = mode._Settler(app, lambda: after.append(len(applied)), clock=lambda: next(clock))
    settler.loop = loop = AlarmLoop()
    for text in ("s", "st"):  # two batches before the alarm: the first alarm is replaced
        app.defer("filter", lambda text=text: applied.append(text))
        settler.soon()
    assert len(loop.alarms) == 1 and loop.fire() == mode.SETTLE_AFTER and applied == ["st"]
    app.defer("filter", lambda: applied.append("sta"))
    settler.soon()
    assert loop.fire() == mode.SETTLE_AFTER  # the last settling was instant
    app.defer("filter", lambda: applied.append("stat"))
    settler.soon()
    assert loop.fire() == pytest.approx(0.2)  # it took 0.2 s: wait for a pause that long
    app.defer("filter", lambda: applied.append("state"))
    settler.soon()
    assert loop.fire() == mode.SETTLE_MOST and applied == ["st", "sta", "stat", "state"]  # 5 s: capped
    assert after == [1, 2, 3, 4]


def test_steps_between_keys_free_what_the_rows_dropped_a_piece_each_then_stop():
    """An index dropped (the oldest kept, when a ninth order is shown) is freed by steps of
    the loop between keys, a piece each when a step has no time left, also while paused;
    once nothing waits, no step is set: the idle loop sleeps until the next refresh."""
    state = State(clock=lambda: T0 + 100)
    for i in range(60):
        state.event(task("task-received", f"t{i:02d}", T0 + i, i + 1, name=("a", "b", "c")[i % 3]))
    app = make_app(state=state)
    catching = mode._CatchingUp(app)
    catching.loop = loop = AlarmLoop()
    catching.after(0.0)
    assert not loop.alarms

    def steps() -> int:
        count = 0
        while loop.alarms:
            assert count < 100, "steps set while nothing waits"
            loop.fire()
            count += 1
        return count

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(taskrows, "KEPT_INDEXES", 1)
        patch.setattr(dropped, "PIECE", 8)
        patch.setattr(mode, "CATCH_UP_BUDGET", 0.0)
        press(app, "s")  # TASK: shown from its first rows...
        catching.after(0.0)
        assert steps() == 1 and not app.rows.dropped  # ... built whole by the next step
        press(app, "s", "p")  # STATE, then paused: the TASK order is dropped
        assert len(app.rows.dropped) == 2 * 60  # in three groups of 20 rows and 20 time keys
        catching.after(0.0)
        assert steps() == 3 * 2 * 3  # pieces of 8, 8 and 4 entries
    assert not app.rows.dropped and not app.behind and not loop.alarms
    assert app.rows.behind  # the STATE order waits for the resume, with no step set meanwhile
    press(app, "p")  # resumed: refreshed whole
    catching.after(0.0)
    assert not loop.alarms and "sort: STATE" in screen(app)


# --- many tasks at once, workflow trees, running tasks (#13) ----------------------------------


def flat(text: str) -> str:
    """The screen as one line: a question wraps on the bottom lines."""
    return " ".join(line.strip() for line in text.splitlines())


def workflow_state():
    """The cluster plus a workflow: root r (done) -> a (STARTED) -> b (RECEIVED), r -> c (sent)."""
    state = cluster()
    for event in (
        task("task-received", "r", T0 + 10, 50, name="flow.root", root_id="r"),
        task("task-succeeded", "r", T0 + 11, 51, runtime=1.0),
        task("task-received", "a", T0 + 12, 52, name="flow.a", root_id="r", parent_id="r"),
        task("task-started", "a", T0 + 13, 53),
        task("task-received", "b", T0 + 14, 54, name="flow.b", root_id="r", parent_id="a"),
        task("task-sent", "c", T0 + 15, 55, name="flow.c", root_id="r", parent_id="r"),
    ):
        state.event(event)
    return state


def test_space_tags_and_the_control_keys_act_on_the_tags(control):
    fake, runner = control
    app = make_app(runner)
    text = press(app, " ")  # uuid-5 (RECEIVED) tagged, the selection moves down
    assert app.tagged == {"uuid-5"} and app.view.selection == "uuid-4"
    assert "tagged: 1" in text and "*uuid-5" in text
    press(app, " ", " ")  # uuid-4 (STARTED), uuid-3 (SUCCESS)
    text = flat(press(app, "c"))
    assert "Revoke 2 tasks (1 RECEIVED, 1 STARTED), leaving out 1 finished?" in text
    assert "1 of them are running, and a revoke does not stop a running task: x terminates" in text
    assert "[y/x/N]" in text
    press(app, "y")
    drain_until(app, lambda: runner.pending == 0)
    assert len(fake.requests) == 1  # one broadcast for them all
    assert fake.requests[0]["arguments"]["task_id"] in (["uuid-5", "uuid-4"], ["uuid-4", "uuid-5"])
    assert fake.requests[0]["arguments"]["terminate"] is False


def test_star_tags_what_the_filter_shows_and_u_untags(control):
    fake, runner = control
    app = make_app(runner)
    text = press(app, "/", *"name=proj.add", "enter", "*")
    assert app.tagged == {"uuid-0", "uuid-1", "uuid-2", "uuid-5"} and "tagged: 4" in text
    text = flat(press(app, "x"))
    assert "Terminate 1 task (1 RECEIVED), leaving out 3 finished:" in text
    press(app, *"terminate", "enter")
    drain_until(app, lambda: runner.pending == 0)
    assert fake.requests[0]["arguments"] == {"task_id": "uuid-5", "terminate": True, "signal": "SIGTERM"}
    text = press(app, "q", "u")
    assert app.tagged == set() and "untagged 4 tasks" in text and "tagged:" not in text


def test_revoking_a_running_task_says_so_and_x_offers_terminate(control):
    fake, runner = control
    app = make_app(runner)
    press(app, "j")
    assert app.selected().state == "STARTED"
    text = flat(press(app, "c"))
    assert "Revoke task uuid-4 (proj.slow, STARTED on celery@w1)? It is running" in text
    assert "a revoke does not stop a running task: x terminates it instead. [y/x/N]" in text
    text = flat(press(app, "x"))
    assert "Terminate task uuid-4 (proj.slow, STARTED on celery@w1): SIGTERM" in text
    press(app, *"terminate", "enter")
    drain_until(app, lambda: runner.pending == 0)
    assert fake.requests[0]["arguments"] == {"task_id": "uuid-4", "terminate": True, "signal": "SIGTERM"}


def test_a_task_running_in_a_custom_state_is_running_to_the_revoke_question(control):
    """celery's PROGRESS recipe: the task's own events while it runs; a revoke does not stop it."""
    _fake, runner = control
    state = cluster()
    state.event(task("task-received", "p", T0 + 10, 50, name="proj.resize"))
    state.event(task("task-started", "p", T0 + 11, 51))
    state.event(task("task-progress", "p", T0 + 12, 52, current=1, total=4))
    app = make_app(runner, state=state)
    assert app.selected().uuid == "p" and app.selected().state == "PROGRESS"
    text = flat(press(app, "c"))
    assert "Revoke task p (proj.resize, PROGRESS on celery@w1)? It is running" in text
    press(app, "n", " ", " ")  # p and uuid-5 (RECEIVED) tagged
    text = flat(press(app, "c"))
    assert "Revoke 2 tasks (1 PROGRESS, 1 RECEIVED)?" in text
    assert "1 of them are running, and a revoke does not stop a running task" in text


def test_the_tree_pane_and_a_subtree_revoke(control):
    fake, runner = control
    state = workflow_state()
    app = make_app(runner, state=state)
    press(app, "/", *"uuid=a", "enter")
    text = press(app, "w")
    assert app.context == "tree" and "Workflow of a" in text
    assert "root r: 4 tasks in memory (1 PENDING, 1 RECEIVED, 1 STARTED, 1 SUCCESS)" in text
    first = next(line.strip() for line in text.splitlines() if "flow." in line)
    assert first == "flow.root SUCCESS r on celery@w1"
    assert "├─ flow.a STARTED a on celery@w1  ◀ this task" in text
    assert "│  └─ flow.b RECEIVED b" in text and "└─ flow.c PENDING c" in text
    text = flat(press(app, "c"))  # on flow.a: a and b
    assert "Revoke 2 tasks (1 RECEIVED, 1 STARTED) of the subtree of flow.a a?" in text
    press(app, "n")
    press(app, "g", "c")  # on the first heading line: the whole workflow, the finished root left out
    text = flat(screen(app))
    assert "Revoke 3 tasks (1 PENDING, 1 RECEIVED, 1 STARTED) of the whole workflow, leaving out 1" in text
    press(app, "y")
    drain_until(app, lambda: runner.pending == 0)
    assert sorted(fake.requests[0]["arguments"]["task_id"]) == ["a", "b", "c"]


def test_the_tree_follows_state_changes_and_keeps_its_focus():
    state = workflow_state()
    app = make_app(state=state)
    press(app, "/", *"uuid=b", "enter", "w")
    state.event(task("task-succeeded", "a", T0 + 20, 60, runtime=7.0))
    state.event(task("task-received", "d", T0 + 21, 61, name="flow.d", root_id="r", parent_id="b"))
    app.refresh()
    text = screen(app)
    assert "flow.a SUCCESS" in text and "└─ flow.d RECEIVED d" in text and "5 tasks in memory" in text
    assert "flow.b RECEIVED b on celery@w1  ◀ this task" in text
    assert "flow.b" in app.active_listbox.focus.base_widget.text


def test_finished_tags_are_left_out_and_evicted_tags_dropped(control):
    fake, runner = control
    app, rows = fed_app(max_tasks=6)
    app.runner = runner
    press(app, "G", " ")  # uuid-0: SUCCESS
    assert app.tagged == {"uuid-0"}
    assert "nothing to revoke: the task has finished" in press(app, "c")
    assert app.context == "tasks" and fake.requests == []
    rows.feed(task("task-received", "new-1", T0 + 50, 99, name="proj.add"))  # evicts uuid-0
    app.refresh()
    assert app.tagged == set() and "tagged:" not in screen(app)


def test_a_huge_group_is_counted_whole_and_drawn_in_part(control):
    from evtop.tui.treepane import MAX_DRAWN

    fake, runner = control
    state = State(max_tasks_in_memory=20_000, clock=lambda: T0 + 100)
    state.event(task("task-received", "root", T0, 1, name="flow.root", root_id="root"))
    for i in range(MAX_DRAWN + 2):
        state.event(
            task("task-sent", f"c{i}", T0 + 1, i + 2, name="flow.child", root_id="root", parent_id="root")
        )
    app = make_app(runner, state=state)
    press(app, "/", *"uuid=root", "enter", "w")
    assert f"root root: {MAX_DRAWN + 3} tasks in memory ({MAX_DRAWN + 2} PENDING, 1 RECEIVED)" in screen(app)
    text = press(app, "G")
    assert "... and 3 more tasks (counted above, not drawn)" in text
    text = flat(press(app, "c"))
    assert (
        f"Revoke {MAX_DRAWN + 3} tasks ({MAX_DRAWN + 2} PENDING, 1 RECEIVED) of the whole workflow?" in text
    )
    press(app, "y")
    drain_until(app, lambda: runner.pending == 0)
    assert len(fake.requests) == 1 and len(fake.requests[0]["arguments"]["task_id"]) == MAX_DRAWN + 3


def test_a_tree_that_takes_long_to_read_is_rebuilt_less_often():
    from evtop.tui.treepane import REBUILD_SHARE, TreePane
    from evtop.view.tree import workflow

    state = workflow_state()
    times = iter([0.0, 1.0, 2.0, 1 / REBUILD_SHARE + 0.1, 1 / REBUILD_SHARE + 0.2])  # each read: 1 s
    tree = workflow(state, "b")
    assert tree is not None
    shown = TreePane(state, tree, clock=lambda: next(times))
    shown.refresh()  # at 0, reading until 1: the next no sooner than 1 / share
    state.event(task("task-succeeded", "a", T0 + 20, 60, runtime=7.0))
    shown.refresh()  # at 2: skipped
    assert {node.uuid: node.state for node in shown.tree.nodes}["a"] == "STARTED"
    shown.refresh()
    assert {node.uuid: node.state for node in shown.tree.nodes}["a"] == "SUCCESS"


def test_a_reply_naming_thousands_of_tasks_is_cut_in_the_pane():
    from evtop.tui.actions import REPLY_LINE_MAX

    def flagged(worker, request):
        ids = request["arguments"]["task_id"]
        return [Out({worker.name: {"ok": f"tasks {', '.join(ids)} flagged as revoked"}})]

    config = memory_config()
    with FakeWorker(config, "celery@w1", answer=flagged) as fake:
        runner = ControlRunner(Control(config), Bridge(), timeout=1.0)
        state = State(max_tasks_in_memory=20_000, clock=lambda: T0 + 100)
        for i in range(2000):
            state.event(task("task-sent", f"{i:036d}", T0, i + 1, name="proj.add"))
        app = make_app(runner, state=state)
        press(app, "*", "c", "y")
        drain_until(app, lambda: runner.pending == 0)
        assert len(fake.requests) == 1 and len(fake.requests[0]["arguments"]["task_id"]) == 2000
    assert app.context == "pane" and "Replies to revoke" in screen(app)
    first = app.active_listbox.lines[0]
    whole = len("celery@w1: OK tasks ") + 2000 * 38 - 2 + len(" flagged as revoked")
    assert first.startswith("celery@w1: OK tasks 0000")
    assert first.endswith(f"… ({whole - REPLY_LINE_MAX:,} more characters)")
