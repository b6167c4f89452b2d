"""The live TUI end to end on a real pseudo-terminal: ``python -m evtop`` read through pyte.

Driven by ``--replay`` (exact, broker-free) and ``--demo``. Checks what a user sees and
what the terminal is left in after every way of leaving.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pyte
import pytest

from evtop.tui.mode import NO_TERMINAL
from evtop.view.taskrows import COUNT_AT_ONCE
from tests.support.events import (
    BUSY,
    GONE,
    QUIET,
    T0,
    fading_workers,
    hostile_events,
    lifecycle,
    task_event,
    worker_event,
    write_recording,
)
from tests.support.live import wait_until
from tests.support.terminal import REPO, Terminal

#: What urwid writes when it stops: leave the alternate screen, show the cursor again.
RESTORED = (b"\x1b[?1049l", b"\x1b[?25h")


def assert_restored(term: Terminal) -> None:
    def restored() -> bool:
        return all(sequence in bytes(term.raw[-400:]) for sequence in RESTORED)

    # The job can be seen stopped (or exited) before the pty reader has the last bytes.
    with contextlib.suppress(TimeoutError):  # then the assertion below shows the tail
        wait_until(restored, 10, "the terminal was not restored")
    tail = bytes(term.raw[-400:])
    for sequence in RESTORED:
        assert sequence in tail, tail
    modes = term.modes() if term.process.poll() is None else term.exit_modes
    assert modes == term.initial_modes  # stty -a as before


def failing(uuid: str, received: float, clock: int) -> list[dict]:
    return [
        task_event("task-received", uuid, received, clock, name="proj.flaky", args="()", kwargs="{}"),
        task_event("task-started", uuid, received + 0.1, clock + 1),
        task_event(
            "task-failed",
            uuid,
            received + 0.2,
            clock + 2,
            exception="ValueError('boom')",
            traceback='Traceback (most recent call last):\n  File "t.py", line 1\nValueError: boom\n',
        ),
    ]


@pytest.fixture
def recording(tmp_path):
    events = lifecycle(30) + failing("f0000000-0000-4000-8000-000000000001", T0 + 40, 200)
    return write_recording(tmp_path / "r.jsonl", events)


def test_replay_keeps_the_final_state_on_screen_until_q(recording):
    with Terminal("--replay", recording, "--speed", "max") as term:
        text = term.wait_for("replay finished, showing the final state", "tasks 31", timeout=30)
        assert "proj.flaky" in text and "FAILURE" in text and "SUCCESS" in text
        # Still running and still showing the final state a moment later: only q ends it.
        assert term.process.poll() is None
        term.send("3")
        text = term.wait_for("[Task types]", "proj.add")
        assert "100.0" in text  # proj.flaky: every finished task failed
        term.send("q")
        status, err = term.wait_exit()
    assert status == 0, err
    assert "Traceback" not in err
    assert_restored(term)


def test_a_flood_beyond_the_cap_ends_with_the_newest_tasks_in_every_order(tmp_path):
    """12,000 events at full speed through a cap of 1,000 tasks: refreshes move a few ms
    of rows each and catch up between them, keys answered meanwhile; the end state is
    the newest 1,000 tasks, newest first, and a new order (shown by its first rows, then
    built whole) puts them in its order."""
    path = write_recording(tmp_path / "flood.jsonl", lifecycle(4000))
    with Terminal("--replay", path, "--speed", "max", "--max-tasks", "1000", cols=170) as term:
        term.wait_for("[Tasks]")
        term.send("S")  # oldest first (while the replay lasts, on this machine)...
        term.wait_for("sort: LAST EVENT ▲", timeout=30)
        term.send("S")  # ... and back
        # The rows may trail the header by a few refreshes once the replay is done: a
        # refresh moves a few ms of rows, the rest catches up between them.
        newest = "00000000-0000-4000-8000-000000003999 proj.add"
        text = term.wait_for("replay finished", "[Tasks] 1000/1000", "sort: LAST EVENT ▼", newest, timeout=60)
        rows = [line for line in text.splitlines() if "proj.add" in line]
        assert rows[0].startswith("00000000-0000-4000-8000-000000003999"), text
        assert "-000000002999" not in text  # evicted: the 1,000 newest are 3000-3999
        term.send("s")  # the next column, TASK, A to Z: one group...
        term.wait_for("sort: TASK ▲")
        term.send("S")  # ... Z to A: newest first in it, the whole order built after the draw
        text = term.wait_for("sort: TASK ▼")
        assert next(line for line in text.splitlines() if "proj.add" in line) == rows[0]
        term.send("s")
        term.wait_for("sort: STATE ▲")
        term.send("S")
        term.wait_for("sort: STATE ▼")
        term.send("G")  # the last row: the oldest task still held
        term.wait_for("00000000-0000-4000-8000-000000003000")
        term.send("q")
        status, err = term.wait_exit()
    assert status == 0, err


@contextlib.contextmanager
def replayed_received(
    tmp_path, total: int, rare: str, *, every: int, offset: int = 0, rows: int
) -> Iterator[Terminal]:
    """The TUI on ``total`` received tasks, all held, once their replay is finished: task
    ``i`` (its uuid ends in ``i``) is a ``rare`` one every ``every`` from ``offset``, else
    a ``proj.add``."""
    events = [
        task_event("task-received", f"00000000-0000-4000-8000-{i:012d}", T0 + i / 100, i + 1,
                   name=rare if i % every == offset else "proj.add", args="(1, 2)", kwargs="{}")
        for i in range(total)
    ]  # fmt: skip
    path = write_recording(tmp_path / "received.jsonl", events)
    with Terminal("--replay", path, "--speed", "max", "--max-tasks", str(total), cols=170, rows=rows) as term:
        term.wait_for("replay finished", f"[Tasks] {total}/{total}", timeout=60)
        yield term


def test_a_filter_over_many_tasks_shows_its_first_rows_before_the_count_is_done(tmp_path):
    """Over more tasks than a filter is searched at once (:data:`COUNT_AT_ONCE`), while
    most match: the frame drawn just after the letters shows the filter's first rows,
    newest first, with the count still rising; the count ends right."""
    total = COUNT_AT_ONCE + 4000
    with replayed_received(tmp_path, total, "proj.mul", every=10, rows=40) as term:
        mark = len(term.raw)
        term.send("/add")
        adds = total - len(range(0, total, 10))
        term.wait_for(f"[Tasks] {adds}/{total}", "filter: add", timeout=30)
        screen = accepted_counting_frame(term, mark)
    view = screen.display[2]
    assert re.search(r"\[Tasks\] counting… \d+\+/" + str(total), view), view
    shown = [line for line in screen.display if "proj." in line]
    assert len(shown) >= 20 and all("proj.add" in line for line in shown), "\n".join(screen.display)
    assert shown[0].startswith(f"00000000-0000-4000-8000-{total - 1:012d}")  # the newest first


def test_a_filter_that_leaves_few_of_many_tasks_is_counted_between_frames(tmp_path):
    """Over more tasks than a filter is searched at once, while few match: the frame drawn
    just after the letters shows the rows found among the newest (not a pause over every
    row first), with the count still rising; the rest joins them, and the count ends right."""
    total = COUNT_AT_ONCE + 4000
    rare = range(7, total, 500)
    with replayed_received(tmp_path, total, "proj.rare", every=500, offset=7, rows=60) as term:
        mark = len(term.raw)
        term.send("/rare")
        text = term.wait_for(f"[Tasks] {len(rare)}/{total}", "filter: rare", timeout=30)
        shown = [line.split()[0] for line in text.splitlines() if "proj.rare" in line]
        newest = [f"00000000-0000-4000-8000-{i:012d}" for i in reversed(rare)]
        assert shown == newest[: len(shown)] and len(shown) >= 40, text  # all that fit, newest first
        screen = accepted_counting_frame(term, mark)
    found = re.search(r"\[Tasks\] counting… (\d+)\+/" + str(total), screen.display[2])
    assert found and 0 < int(found[1]) < len(rare), screen.display[2]
    shown = [line.split()[0] for line in screen.display if "proj." in line]
    assert shown == newest[: int(found[1])], "\n".join(screen.display)  # those found, newest first


def accepted_counting_frame(term: Terminal, mark: int) -> pyte.Screen:
    """Accept the filter typed and quit; then the screen as it was when the first frame
    after ``mark`` that says ``counting…`` was drawn: what came before it, then that
    frame up to where the next one rewrites the view line."""
    term.send("\r")
    term.wait_gone("Enter:accept")
    term.send("q")
    status, err = term.wait_exit()
    assert status == 0, err
    after = bytes(term.raw[mark:])
    counting = after.find("counting…".encode())
    assert counting > 0, after
    end = after.find(b"[Tasks]", counting)
    screen = pyte.Screen(term.cols, term.rows)
    pyte.ByteStream(screen).feed(bytes(term.raw[:mark]) + after[: end if end > 0 else len(after)])
    return screen


def test_keys_open_details_traceback_and_filter(recording):
    with Terminal("--replay", recording, "--speed", "max") as term:
        term.wait_for("finished, showing the final state")
        term.send("g")  # the newest row is the failed task
        term.send("t")
        text = term.wait_for("Traceback of f0000000-0000-4000-8000-000000000001", "ValueError: boom")
        assert 'File "t.py", line 1' in text  # the traceback keeps its lines
        term.send("\x1b")
        term.wait_gone("Traceback of")
        term.send("/state=success\r")
        text = term.wait_for("[Tasks] 30/31", "filter: state=success")
        assert "FAILURE" not in text
        term.send("?")
        term.wait_for("evtop keys", "show this help")
        term.send("G")  # to the end of the pane: the filter syntax and the mouse come last
        term.wait_for("field=value", "click a column title", "[END]")
        term.send("q")  # closes the help pane, not evtop
        term.wait_gone("evtop keys")
        term.send("c")  # a control key in replay: refused with a reason, nothing sent
        term.wait_for("no workers to send to")
        term.send("q")
        assert term.wait_exit()[0] == 0


def test_hostile_strings_never_reach_the_terminal_raw(tmp_path):
    path = write_recording(tmp_path / "h.jsonl", hostile_events())
    with Terminal("--replay", path, "--speed", "max") as term:
        term.wait_for("finished, showing the final state")
        panes = (("i", "Task hostile-"), ("t", "Traceback of hostile-"), ("r", "Result of hostile-"))
        for key, title in panes:
            term.send(key)
            term.wait_for(title)
            term.send("q")  # not Esc: Esc followed by a key reads as Alt+key
            term.wait_gone(title)
        term.send("2")
        term.wait_for("[Workers]")
        term.send("3")
        term.wait_for("[Task types]")
        term.send("q")
        status, _ = term.wait_exit()
    assert status == 0
    raw = bytes(term.raw)
    for evil in (b"\x1b]0;pwned", b"\x1b]52;", b"\x1b]8;;http", b"\x1b[2J\x1b[H", b"\x1bP+q"):
        assert evil not in raw
    assert "␛]0;pwned␇" in term.text  # shown visibly, as inert symbols
    assert term.screen.title == ""  # and the window title never changed


@pytest.mark.parametrize(
    ("how", "expected"),
    [("sigterm", 0), ("sighup", 0), ("ctrl-c", 130), ("ctrl-c-in-a-pane", 130), ("sigint", 130)],
)
def test_every_way_out_restores_the_terminal(recording, how, expected):
    """Ctrl-C (a key while evtop has the terminal, or SIGINT from elsewhere) exits 130,
    as shells expect of an interrupted command; q, SIGTERM and SIGHUP exit 0."""
    with Terminal("--replay", recording, "--speed", "1") as term:
        term.wait_for("replaying")
        if how.startswith("ctrl-c"):
            if how == "ctrl-c-in-a-pane":
                term.send("?")
                term.wait_for("evtop keys")
            term.send("\x03")
        else:
            term.signal({"sigterm": signal.SIGTERM, "sighup": signal.SIGHUP, "sigint": signal.SIGINT}[how])
        status, err = term.wait_exit()
    assert status == expected, err
    assert "Traceback" not in err
    assert_restored(term)


def test_ctrl_z_restores_the_terminal_and_fg_redraws(recording):
    with Terminal("--replay", recording, "--speed", "max", job_control=True) as term:
        term.wait_for("replay finished", "[Tasks] 31/31")
        term.send("\x1a")  # Ctrl-Z: the line discipline sends SIGTSTP
        wait_until(term.job_stopped, 10, "Ctrl-Z did not stop evtop")
        # It wrote the restore before stopping; the reader thread may not have it yet.
        wait_until(lambda: RESTORED[0] in term.raw[-400:], 10, "no restore before the stop")
        assert_restored(term)  # the shell gets a sane terminal back
        before = len(term.raw)
        term.fg()
        wait_until(lambda: not term.job_stopped() and b"\x1b[?1049h" in term.raw[before:], 10, "no redraw")
        term.send("2")
        term.wait_for("[Workers]")
        term.send("q")
        status, err = term.wait_exit()
    assert status == 0, err
    assert_restored(term)


def test_a_tiny_terminal_gets_a_notice_and_the_screen_comes_back(tmp_path):
    with Terminal("--demo") as term:
        term.wait_for("connected to memory://", "SUCCESS", timeout=30)
        term.resize(3, 10)
        term.wait_for("terminal …", "10x3, nee…")
        term.send("c")  # no key acts blind: nothing is asked, nothing sent
        term.resize(12, 40)
        text = term.wait_for(" evtop  connected to memory://", "[Tasks]", "UUID")
        assert "terminal too small" not in text and "Revoke" not in text
        # A storm of resizes while events flow, down to a 0x0 window, then a normal size.
        for i in range(100):
            term.resize(*[(0, 0), (1, 1), (5, 20), (30, 120), (9, 31)][i % 5])
        term.resize(24, 100)
        text = term.wait_for(" evtop  connected to memory://", "[Tasks]", "WORKER")
        assert term.text.splitlines()[0].startswith(" evtop  connected to memory://")
        term.send("q")
        status, err = term.wait_exit()
    assert status == 0, err
    assert "internal error" not in err and "Traceback" not in err
    assert_restored(term)


def test_demo_shows_a_live_cluster_and_record_captures_it(tmp_path):
    record = tmp_path / "demo.jsonl.gz"
    with Terminal("--demo", "--record", str(record)) as term:
        term.wait_for("connected to memory://", "SUCCESS", timeout=30)
        term.send("2")
        text = term.wait_for("[Workers]", "online")
        assert "celery@" in text
        term.send("q")
        assert term.wait_exit()[0] == 0
    with gzip.open(record, "rt") as recorded:
        events = [json.loads(line) for line in recorded]
    assert any(event.get("event", {}).get("type") == "task-succeeded" for event in events if "event" in event)


def test_without_a_terminal_it_says_so_and_exits_2(recording):
    result = subprocess.run(
        [sys.executable, "-m", "evtop", "--replay", recording],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"evtop: error: {NO_TERMINAL}"]
    assert result.stdout == ""


def test_logs_never_scribble_on_the_screen_and_are_printed_after_exit():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Terminal("-b", f"redis://:hunter2@127.0.0.1:{port}/0") as term:
        text = term.wait_for("connecting to redis://:**@127.0.0.1", timeout=30)
        text = term.wait_for("WARNING/evtop.events.receiver] Cannot connect to redis://:**@", timeout=30)
        assert text.splitlines()[0].startswith(" evtop  connecting to")  # the header is intact
        assert text.splitlines()[-1].startswith("?:help")
        term.send("q")
        status, err = term.wait_exit()
    assert status == 0
    assert "Cannot connect to redis://:**@127.0.0.1" in err  # on stderr once the screen is gone
    assert "hunter2" not in err and b"hunter2" not in bytes(term.raw)


def test_what_health_found_shows_lost_tasks_missed_tasks_and_the_workers_clock(tmp_path):
    """A worker an hour behind runs a task for 18 s by evtop's clock; another worker's
    heartbeats count task starts no event showed, then it goes quiet with a task started.
    Replayed, "now" is the recording's last receive time."""
    slow, gone, hour = "celery@slow", "celery@gone", 3600.0
    events = [
        task_event(
            "task-received", "slow-task", T0 + 0.5, 1, hostname=slow, sent=T0 + 0.5 - hour, name="proj.x"
        ),
        task_event("task-started", "slow-task", T0 + 0.6, 2, hostname=slow, sent=T0 + 0.6 - hour),
        task_event("task-received", "gone-task", T0 + 1.0, 3, hostname=gone, name="proj.y"),
        task_event("task-started", "gone-task", T0 + 1.1, 4, hostname=gone),
    ]
    for i in range(10):  # every 2 s to T0 + 18; the gone worker stops after T0 + 4
        at = T0 + 2 * i
        events.append(worker_event("worker-heartbeat", slow, at, sent=at - hour, processed=1))
        if at <= T0 + 4:
            events.append(worker_event("worker-heartbeat", gone, at, sent=at, processed=5 if i else 0))
    events.append(worker_event("worker-heartbeat", slow, T0 + 18.6, sent=T0 + 18.6 - hour, processed=1))
    recording = write_recording(tmp_path / "r.jsonl", sorted(events, key=lambda e: e["local_received"]))
    with Terminal("--replay", recording, "--speed", "max", cols=140) as term:
        term.wait_for("replay finished", "1 lost on offline workers", "4 task starts never seen")
        slow_row = term.wait_line("slow-tas", "STARTED")
        assert "18.0s" in slow_row and time.strftime("%H:%M:%S", time.gmtime(T0 + 0.5)) in slow_row
        gone_row = term.wait_line("gone-tas", "LOST")
        assert "STARTED" not in gone_row
        term.send("/uuid=gone-task\r")
        term.wait_for("[Tasks] 1/2")
        term.send("i")
        term.wait_for("LOST (was STARTED when its worker went offline; no final event came)")
        term.send("q")
        term.send("2")
        term.wait_for("[Workers] 2/2", "MISSED")
        term.wait_line(gone, "offline", " 4 ")
        term.send("/slow\r")
        term.wait_for("[Workers] 1/2")
        term.send("i")
        term.wait_for("1h00m behind evtop's")
        term.send("\x03")
        status, err = term.wait_exit()
    assert status == 130, err
    assert_restored(term)


def test_a_replayed_worker_is_online_or_offline_as_the_recording_has_it(tmp_path):
    """Liveness follows the recording's time, not today's: at the end of the recording one
    worker still heartbeats, one went silent, one said goodbye."""
    recording = write_recording(tmp_path / "r.jsonl", fading_workers())
    with Terminal("--replay", recording, "--speed", "max", cols=140) as term:
        term.wait_for("replay finished", "workers 1/3 online")
        term.send("2")
        term.wait_for("[Workers] 3/3")
        term.wait_line(BUSY, "online")
        term.wait_line(QUIET, "offline")
        term.wait_line(GONE, "offline")
        term.send("/busy\r")
        term.wait_for("[Workers] 1/3")
        term.send("i")
        term.wait_line("status", "online")
        term.send("q")
        term.send("q")
        status, err = term.wait_exit()
    assert status == 0, err


def test_the_queue_screen_says_where_its_numbers_come_from_without_a_password():
    """Here a broker and a management API nobody answers: the source shows while it is
    read and with the failure (a live reading: tests/integration)."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = f"http://monitor:hunter2@127.0.0.1:{port}"
    broker = f"amqp://guest:hunter2@127.0.0.1:{port}//"
    with Terminal("-b", broker, "--management-url", api, cols=230) as term:
        term.wait_for("connecting to amqp://guest:**@127.0.0.1", timeout=30)
        term.send("4")
        source = f"the RabbitMQ management API at http://monitor:**@127.0.0.1:{port}"
        term.wait_for(f"reading the queues from {source}...", timeout=30)
        term.wait_for(f"failed: cannot reach amqp://guest:**@127.0.0.1:{port}//", f"({source})", timeout=60)
        term.send("q")
        status, err = term.wait_exit()
    assert status == 0, err
    assert b"hunter2" not in bytes(term.raw) and "hunter2" not in err


def test_without_a_broker_the_queue_screen_and_worker_pane_say_why(recording):
    with Terminal("--demo", cols=150) as term:
        term.wait_for("connected to memory://", "SUCCESS", timeout=30)
        term.send("4")
        term.wait_for("[Queues] 0/0", "queues unavailable: the demo cluster is simulated")
        term.send("2")
        term.wait_for("[Workers]", "+:grow")
        term.send("\r")
        term.wait_for("not asked: the demo cluster is simulated and does not answer remote control")
        term.send("+")  # refused before any question
        term.wait_for("the demo cluster is simulated and does not answer remote control")
        assert "Add one pool process" not in term.text
        term.send("q")
        term.send("q")
        status, err = term.wait_exit()
    assert status == 0, err
    with Terminal("--replay", recording, "--speed", "max", cols=150) as term:
        term.wait_for("replay finished", timeout=30)
        term.send("4")
        term.wait_for("queues unavailable: a recording holds events, not the broker's queues")
        term.send("q")
        status, err = term.wait_exit()
    assert status == 0, err
