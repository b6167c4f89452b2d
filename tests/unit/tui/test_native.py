"""What makes the TUI feel like htop and k9s, on a real pty read through pyte: time zones,
filtering as you type, search, sorting, the mouse (xterm SGR and X10 reports written to
the pty), the clipboard (the OSC 52 bytes read from it) and the scrolling help screen.
"""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest

from evtop.tui.keymap import MOUSE_HELP, help_lines
from evtop.view.query import FILTER_HELP
from tests.support.events import T0, lifecycle, task_event, write_recording
from tests.support.live import wait_until
from tests.support.terminal import REPO, Terminal

F3, F6 = "\x1bOR", "\x1b[17~"
FAILED = "f0000000-0000-4000-8000-000000000001"
RETRIED = "e0000000-0000-4000-8000-000000000002"


@pytest.fixture
def recording(tmp_path):
    """30 succeeded proj.add tasks, then one failed and one retried (the newest)."""
    events = [
        *lifecycle(30),
        task_event("task-received", FAILED, T0 + 40, 200, name="proj.flaky", args="()", kwargs="{}"),
        task_event("task-failed", FAILED, T0 + 40.2, 201, exception="ValueError('boom')", traceback="tb"),
        task_event("task-received", RETRIED, T0 + 41, 202, name="proj.flaky", args="()", kwargs="{}"),
        task_event("task-retried", RETRIED, T0 + 41.2, 203, exception="Retry()"),
    ]
    return write_recording(tmp_path / "r.jsonl", events)


def replay(recording: str, *args: str, rows: int = 30, cols: int = 170, **terminal: object) -> Terminal:
    """Wide enough by default for whole uuids."""
    return Terminal("--replay", recording, "--speed", "max", *args, rows=rows, cols=cols, **terminal)  # type: ignore[arg-type]


def opened(term: Terminal) -> str:
    """The uuid of the selected task, read from its details pane (then closed)."""
    term.send("i")
    line = term.wait_line(" Task ", "q: close")
    term.send("q")
    term.wait_gone("q: close")
    return line.split(" Task ", 1)[1].split()[0]


def quit_cleanly(term: Terminal) -> None:
    term.send("q")
    status, err = term.wait_exit()
    assert status == 0, err
    assert "Traceback" not in err and "internal error" not in err


# --- time zones ------------------------------------------------------------------------------


def test_tz_utc_names_the_zone_and_shows_utc_times(recording):
    with replay(recording, "--tz", "UTC") as term:
        term.wait_for("replay finished", "times: UTC")
        term.wait_line(
            "00000000-0000-4000-8000-000000000029", "07:22:50"
        )  # sent 10 ms before T0 + 29, in UTC
        term.send("G")
        assert opened(term) == "00000000-0000-4000-8000-000000000000"
        term.send("i")
        term.wait_line("received", "2026-11-23 07:22:21.990000 UTC")
        term.send("q")
        quit_cleanly(term)


def test_tz_area_city_shows_times_there_in_the_table_and_the_panes(recording):
    with replay(recording, "--tz", "Asia/Tokyo") as term:  # UTC+9 all year
        term.wait_for("replay finished", "times: Asia/Tokyo")
        term.wait_line("00000000-0000-4000-8000-000000000029", "16:22:50")
        term.send("G")
        term.send("i")
        term.wait_line("received", "2026-11-23 16:22:21.990000 JST")
        term.send("q")
        quit_cleanly(term)


def test_local_time_is_the_default_and_named_from_tz(recording):
    with replay(recording, env={"TZ": "America/New_York"}) as term:  # EST in November: UTC-5
        term.wait_for("replay finished", "times: America/New_York")
        term.wait_line("00000000-0000-4000-8000-000000000029", "02:22:50")
        quit_cleanly(term)


def test_a_bad_zone_is_a_one_line_error_and_exit_2():
    result = subprocess.run(
        [sys.executable, "-m", "evtop", "--demo", "--tz", "Mars/Olympus_Mons"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "evtop: error: argument --tz: 'Mars/Olympus_Mons' is not a time zone here: give local, UTC"
        " or an Area/City name of the tz database, e.g. Europe/Paris"
    ]


def _dump(recording: str, *args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "evtop", "--replay", recording, "--speed", "max", "--dump", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={"PYTHONPATH": REPO, "TZ": "America/New_York"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_dump_keeps_celerys_utc_unless_tz_is_given(recording):
    # Local time is New York here: without --tz the dump is still celery's UTC line.
    assert _dump(recording)[0].startswith("celery@h [2026-11-23 07:22:21.990000+00:00] task received: ")
    assert _dump(recording, "--tz", "Asia/Tokyo")[0].startswith(
        "celery@h [2026-11-23 16:22:21.990000+09:00] "
    )
    assert _dump(recording, "--tz", "local")[0].startswith("celery@h [2026-11-23 02:22:21.990000-05:00] ")


# --- filter as you type, search --------------------------------------------------------------


def test_the_table_narrows_as_the_filter_is_typed_and_esc_restores_it(recording):
    with replay(recording) as term:
        term.wait_for("replay finished", "[Tasks] 32/32")
        term.send("/")
        term.wait_for("filter (Enter: keep")
        for key in "state:fail":  # no Enter: every keystroke narrows the table
            term.send(key)
        term.wait_for("[Tasks] 1/32", "filter: state:fail")
        term.send(",retry")  # either value of one field
        text = term.wait_for("[Tasks] 2/32", "filter: state:fail,retry")
        assert "SUCCESS" not in text and "FAILURE" in text and "RETRY" in text
        term.send("\x1b")  # Esc: the filter from before the prompt (none) comes back
        text = term.wait_for("[Tasks] 32/32")
        assert "filter:" not in text and "filter (Enter" not in text
        term.send("/name:flaky\r")  # Enter keeps it
        term.wait_for("[Tasks] 2/32", "filter: name:flaky")
        term.send("/")  # the prompt starts empty; the filter holds until the first key
        term.wait_for("filter (Enter: keep", "[Tasks] 2/32")
        term.send("x")
        term.wait_for("[Tasks] 0/32", "filter: x")
        term.send("\x7f\r")  # emptied and kept: no filter
        assert "filter:" not in term.wait_for("[Tasks] 32/32").splitlines()[2]
        quit_cleanly(term)


def test_search_jumps_as_typed_and_n_and_shift_n_go_on_without_filtering(recording):
    with replay(recording) as term:
        term.wait_for("replay finished", "[Tasks] 32/32")
        term.send(F3)
        term.wait_for("search (Enter: keep")
        term.send("f000")  # a uuid prefix: the selection goes to its task
        term.wait_line("f000")
        term.send("\r")
        assert opened(term) == FAILED
        term.wait_for("[Tasks] 32/32")  # nothing was filtered
        term.send("#")  # the other search key
        term.wait_for("search (Enter: keep")
        term.send("state:success\r")  # from the selection down: the newest success
        assert opened(term) == "00000000-0000-4000-8000-000000000029"
        term.send("n")
        assert opened(term) == "00000000-0000-4000-8000-000000000028"
        term.send("N")
        assert opened(term) == "00000000-0000-4000-8000-000000000029"
        term.send("N")  # above it only the failed and retried tasks: around to the oldest
        term.wait_for("search wrapped around")
        assert opened(term) == "00000000-0000-4000-8000-000000000000"
        quit_cleanly(term)


# --- sorting ---------------------------------------------------------------------------------


def test_sort_column_moves_with_the_angle_keys_and_comes_from_the_f6_menu(recording):
    with replay(recording) as term:
        term.wait_for("replay finished", "sort: LAST EVENT ▼")
        term.send(">")  # the column right of the event order: TASK, text, A to Z first
        text = term.wait_for("sort: TASK ▲", "TASK▲")
        assert "proj.add" in text.splitlines()[4]
        term.send("S")
        text = term.wait_for("sort: TASK ▼", "TASK▼")
        assert "proj.flaky" in text.splitlines()[4]
        term.send("<")
        term.wait_for("sort: LAST EVENT ▼")
        term.send(F6)
        term.wait_for("Sort Tasks by", "RUNTIME", "LAST EVENT ▼")
        term.send("G\r")  # the last entry: RUNTIME, a number, highest first
        term.wait_for("sort: RUNTIME ▼")
        term.send("3")
        term.wait_for("[Task types]", "sort: TOTAL ▼")
        term.send(F6)  # TASK, TOTAL (current), WAIT, RUN, FAIL, FAIL%, ...: titles, not ids
        term.wait_for("Sort Task types by", " TOTAL ▼", " FAIL%")
        term.send("jjjj\r")
        text = term.wait_for("sort: FAIL% ▼", "FAIL%▼")
        assert "failure_rate" not in text
        quit_cleanly(term)


# --- the mouse -------------------------------------------------------------------------------


def sgr(button: int, col: int, row: int) -> str:
    """An xterm SGR (1006) report: press then release at 0-based ``col``, ``row``."""
    return f"\x1b[<{button};{col + 1};{row + 1}M\x1b[<{button};{col + 1};{row + 1}m"


def x10(button: int, col: int, row: int) -> bytes:
    """The same as a legacy X10 report (button 3 is the release)."""
    return b"".join(bytes([0x1B, ord("["), ord("M"), 32 + b, 33 + col, 33 + row]) for b in (button, 3))


def row_of(term: Terminal, needle: str) -> int:
    """The screen row showing ``needle`` (waited for: a closed pane's rows are redrawn)."""
    line = term.wait_line(needle)
    return term.text.splitlines().index(line)


def test_clicks_select_rows_screens_and_sort_columns_and_the_wheel_scrolls(recording):
    with replay(recording) as term:
        term.wait_for("replay finished", "[Tasks] 32/32")
        assert b"\x1b[?1000h" in term.raw  # urwid asked the terminal for mouse reports
        term.send(sgr(0, 3, row_of(term, "000000000027")))
        assert opened(term) == "00000000-0000-4000-8000-000000000027"
        term.send(x10(0, 3, row_of(term, "000000000020")))
        assert opened(term) == "00000000-0000-4000-8000-000000000020"
        term.send(sgr(65, 3, 10))  # wheel down: three rows on
        assert opened(term) == "00000000-0000-4000-8000-000000000017"
        term.send(sgr(64, 3, 10))  # wheel up
        assert opened(term) == "00000000-0000-4000-8000-000000000020"
        view = term.text.splitlines()[2]
        term.send(sgr(0, view.index("2 Workers") + 2, 2))  # the screen tabs on the view line
        term.wait_for("[Workers] 1/1")
        hints = term.text.splitlines()[-1]
        term.send(sgr(0, hints.index("1:tasks") + 1, term.rows - 1))  # a key hint: its key
        term.wait_for("[Tasks] 32/32")
        titles = term.text.splitlines()[3]
        term.send(sgr(0, titles.index("RUNTIME") + 1, 3))  # a column title sorts by it
        term.wait_for("sort: RUNTIME ▼", "RUNTIM▼")  # the arrow takes the last letter's place
        term.send(sgr(0, titles.index("RUNTIME") + 1, 3))  # again: the other way
        term.wait_for("sort: RUNTIME ▲", "RUNTIM▲")
        quit_cleanly(term)


def test_no_mouse_leaves_the_mouse_to_the_terminal(recording):
    with replay(recording, "--no-mouse") as term:
        term.wait_for("replay finished", "[Tasks] 32/32")
        term.send(sgr(0, 3, row_of(term, "000000000027")))  # sent anyway: ignored
        term.send("2")
        term.wait_for("[Workers] 1/1")
        term.send("1")
        term.wait_for("[Tasks] 32/32")
        assert opened(term) == RETRIED  # the selection never moved
        assert b"\x1b[?1000h" not in term.raw and b"\x1b[?1002h" not in term.raw
        quit_cleanly(term)


# --- the clipboard ---------------------------------------------------------------------------


def test_y_copies_the_selected_uuid_with_osc_52(recording):
    with replay(recording) as term:
        term.wait_for("replay finished", "[Tasks] 32/32")
        term.send("j")  # the failed task, below the retried one
        term.send("y")
        term.wait_for(f"copied {FAILED}")
        expected = b"\x1b]52;c;" + base64.b64encode(FAILED.encode()) + b"\x07"
        assert expected in term.raw
        quit_cleanly(term)


# --- the help screen -------------------------------------------------------------------------


def test_help_scrolls_and_says_more_is_below_on_a_small_terminal(recording):
    with replay(recording, rows=10, cols=60) as term:
        term.wait_for("replay finished")
        term.send("?")
        term.wait_for("evtop keys", "-- more --", "General")
        seen = [term.text]
        for _ in range(200):  # page down to the end, keeping every screen
            title = seen[-1].splitlines()[4]  # the pane's title line says where the view is
            if "[END]" in title:
                break
            term.send(" ")
            wait_until(lambda title=title: term.text.splitlines()[4] != title, 10, "Space did not scroll")
            seen.append(term.text)
        else:
            raise AssertionError("the help never reached its end")
        shown = "\n".join(seen)
        for line in [*help_lines("tasks"), *FILTER_HELP, *MOUSE_HELP]:
            assert line.strip()[:20] in shown, line  # every line was on screen at some point
        term.send("g")
        term.wait_for("-- more -- ", "General")
        term.send("j")  # one line down: General scrolls off the top
        term.wait_gone("General")
        term.send("q")
        term.wait_gone("evtop keys")
        quit_cleanly(term)
