"""``evtop --dump`` end to end: stdout is pure data, stderr tells the rest, pipes never hurt.

Driven by ``--replay`` (in-process through ``main``) and, where a real process matters
(broken pipes, ASCII locales, a stdout nobody reads), by ``python -m evtop``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyte
import pytest

from evtop.cli import main
from evtop.dump.format import TextFormatter
from evtop.env import Environment
from evtop.events.pipeline import Ingest
from evtop.record.schema import EventRecord, OutageRecord, dumps, outage_line, parse
from tests.support.events import (
    GAP_IN_KOLKATA,
    T0,
    assert_terminal_safe,
    gap_across_an_outage,
    hostile_events,
    lifecycle,
    task_event,
    write_recording,
)
from tests.support.live import wait_until

REPO = str(Path(__file__).resolve().parents[3])


class Run:
    def __init__(self, args, stdout=None, environ=None):
        self.env = Environment(
            stdout=stdout if stdout is not None else io.StringIO(),
            stderr=io.StringIO(),
            stdin=io.StringIO(),
            environ=environ or {},
        )
        self.status = main(args, self.env)

    @property
    def out(self):
        return self.env.stdout.getvalue()

    @property
    def err(self):
        return self.env.stderr.getvalue()


def replay_dump(path, *args, **kwargs):
    return Run(["--replay", path, "--dump", "--speed", "max", *args], **kwargs)


def expected_lines(events):
    """What the formatter makes of ``events`` once they crossed the replay ingest boundary."""
    seen = []
    ingest = Ingest(seen.append, replay=True)
    for event in json.loads(json.dumps(events)):
        ingest.feed_decoded(event, local_received=event["local_received"])
    formatter = TextFormatter()
    return [formatter.line(event) for event in seen]


def test_text_dump_of_a_replay(tmp_path):
    events = lifecycle(3)
    run = replay_dump(write_recording(tmp_path / "r.jsonl", events))
    assert run.status == 0
    assert run.out.splitlines() == expected_lines(events)
    assert "proj.add(00000000-0000-4000-8000-000000000002) args=(1, 2) kwargs={} clock=8" in run.out
    assert run.err.splitlines() == [
        f"evtop: dumping events from replay of {tmp_path}/r.jsonl (Ctrl-C to stop)",
        "evtop: replayed 9 events, skipped 0 lines",
    ]


def test_json_dump_is_schema_v1_and_replays_to_the_same_output(tmp_path):
    events = lifecycle(2)
    first = replay_dump(write_recording(tmp_path / "r.jsonl", events), "--json")
    records = [parse(line) for line in first.out.splitlines()]
    assert [r.event for r in records if isinstance(r, EventRecord)] == events
    (tmp_path / "dumped.jsonl").write_text(first.out)
    again = replay_dump(str(tmp_path / "dumped.jsonl"), "--json")
    assert again.out == first.out


def test_outages_reach_json_output_and_are_reported_on_stderr(tmp_path):
    path = write_recording(
        tmp_path / "r.jsonl", lifecycle(1), outage_line(T0 + 5, T0 + 17, "ConnectionError: refused")
    )
    as_json = replay_dump(path, "--json")
    assert parse(as_json.out.splitlines()[-1]) == OutageRecord(T0 + 5, T0 + 17, "ConnectionError: refused")
    as_text = replay_dump(path)
    assert len(as_text.out.splitlines()) == 3
    assert "event stream resumed after a 12.0 s outage (ConnectionError: refused)" in as_text.err


def test_times_on_stderr_are_in_the_zone_of_tz_and_named(tmp_path):
    run = replay_dump(gap_across_an_outage(tmp_path / "gap.jsonl"), "--tz", "Asia/Kolkata")
    assert run.status == 0, run.err
    assert GAP_IN_KOLKATA in run.err
    assert run.out.startswith("celery@h [2026-11-23 12:52:21.990000+05:30] heartbeat")


def test_times_on_stderr_are_local_by_default_while_lines_keep_celerys_utc(tmp_path):
    """As in the TUI, local time (TZ, here) without --tz: a real process, whose C library
    applies TZ."""
    result = subprocess.run(
        evtop_command("--replay", gap_across_an_outage(tmp_path / "gap.jsonl"), "--dump", "--speed", "max"),
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(TZ="Asia/Kolkata"),
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert GAP_IN_KOLKATA in result.stderr
    assert result.stdout.startswith("celery@h [2026-11-23 07:22:21.990000+00:00] heartbeat")


def test_invalid_events_and_bad_lines_are_counted_on_stderr_never_on_stdout(tmp_path):
    bad = [
        dumps({"v": 1, "kind": "event", "received": T0, "event": {"type": "task-started", "hostname": "h"}}),
        dumps({"v": 1, "kind": "event", "received": T0, "event": {"type": "\x1b[2J"}}),
        "garbage",
    ]
    run = replay_dump(write_recording(tmp_path / "r.jsonl", lifecycle(1), *bad))
    assert run.status == 0 and len(run.out.splitlines()) == 3
    assert "dropped 2 events that failed validation (missing_field 1, unknown_type 1)" in run.err
    assert "replayed 5 events, skipped 1 lines (1 not JSON)" in run.err


def screen_after(text):
    screen = pyte.Screen(400, 400)
    stream = pyte.Stream(screen)
    stream.feed("CANARY\r\n")
    modes = set(screen.mode)
    stream.feed(text.replace("\n", "\r\n"))
    return screen, modes


def test_hostile_strings_never_reach_stdout_raw_in_text_mode(tmp_path):
    events = hostile_events()
    run = replay_dump(write_recording(tmp_path / "r.jsonl", events))
    lines = run.out.splitlines()
    assert len(lines) == len(events)  # one line per event: no \n, \r or separator got through
    for line in lines:
        assert_terminal_safe(line)
    assert "␛[2J␛[H" in run.out and "<U+009B>2J" in run.out and "<U+202E>evil" in run.out
    assert "over␍write␈␈" in run.out and "nul␀del␡" in run.out and "lone \ufffd surrogate" in run.out
    screen, modes = screen_after(run.out)
    assert screen.display[0].startswith("CANARY")  # never cleared, never overwritten from home
    assert screen.title == "" and screen.icon_name == ""
    assert set(screen.mode) == modes  # no alternate screen, no other mode switched
    assert all(
        char.fg == "default" and not (char.reverse or char.bold)
        for row in screen.buffer.values()
        for char in row.values()
    )


def test_hostile_strings_round_trip_exactly_in_json_mode(tmp_path):
    events = hostile_events()
    run = replay_dump(write_recording(tmp_path / "r.jsonl", events), "--json")
    assert run.out.isascii()
    got = [parse(line).event for line in run.out.splitlines()]  # type: ignore[union-attr]
    assert len(got) == len(events)
    for sent, received in zip(events, got, strict=True):
        for field in ("args", "kwargs", "result", "exception", "traceback", "custom_field", "name"):
            if field in sent:
                assert received[field] == sent[field]
    assert "\\u001b[2J" in run.out and "\\ud800" in run.out


def run_on_a_pty(args, environ):
    master, slave = os.openpty()
    stdout = open(slave, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        run = Run(args, stdout=stdout, environ=environ)
        stdout.flush()
        os.set_blocking(master, False)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return run, b"".join(chunks).decode()
    finally:
        stdout.close()
        os.close(master)


SGR = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize(
    ("extra", "environ", "coloured"),
    [
        ([], {"TERM": "xterm-256color"}, True),
        (["--no-color"], {"TERM": "xterm-256color"}, False),
        ([], {"TERM": "xterm-256color", "NO_COLOR": "1"}, False),
        ([], {"TERM": "dumb"}, False),
        ([], {}, False),
    ],
)
def test_colour_only_on_a_colour_terminal_and_only_around_safe_text(tmp_path, extra, environ, coloured):
    path = write_recording(tmp_path / "r.jsonl", lifecycle(1) + hostile_events()[:6])
    run, out = run_on_a_pty(["--replay", path, "--dump", "--speed", "max", *extra], environ)
    assert run.status == 0
    assert ("\x1b[32mtask succeeded\x1b[m" in out) is coloured
    assert ("\x1b" in out) is coloured
    for line in SGR.sub("", out).splitlines():
        assert_terminal_safe(line.rstrip("\r"))


def test_colour_is_never_used_off_a_terminal(tmp_path):
    run = replay_dump(write_recording(tmp_path / "r.jsonl", lifecycle(1)), environ={"TERM": "xterm-256color"})
    assert "\x1b" not in run.out


# --- real processes ------------------------------------------------------------------------


def evtop_command(*args):
    return [sys.executable, "-m", "evtop", *args]


def child_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "PYTHONIOENCODING")}
    return {**env, "PYTHONPATH": REPO, **extra}


def assert_quiet(stderr):
    for noise in ("Traceback", "Exception ignored", "BrokenPipe", "Error"):
        assert noise not in stderr, stderr


@pytest.mark.parametrize("source", ["replay", "demo"])
def test_dump_into_head_exits_quietly(tmp_path, source):
    if source == "replay":
        args = ["--replay", write_recording(tmp_path / "r.jsonl", lifecycle(2000)), "--speed", "max"]
    else:
        args = ["--demo"]
    script = '"$@" 2>"$ERR" | head -1; exit "${PIPESTATUS[0]}"'
    err = tmp_path / "err"
    result = subprocess.run(
        ["bash", "-c", script, "bash", *evtop_command(*args, "--dump")],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(ERR=str(err)),
        cwd=REPO,
    )
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 1
    assert_quiet(err.read_text())


@pytest.mark.parametrize(
    "locale",
    [
        {"PYTHONIOENCODING": "ascii"},
        {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},
    ],
)
def test_an_ascii_stdout_never_raises(tmp_path, locale):
    events = [*hostile_events(), task_event("task-started", "cjk-\u4e2d\u6587-\U0001f600", T0, 1)]
    path = write_recording(tmp_path / "r.jsonl", events)
    for mode in ([], ["--json"]):
        result = subprocess.run(
            evtop_command("--replay", path, "--dump", "--speed", "max", *mode),
            capture_output=True,
            timeout=60,
            env=child_env(**locale),
            cwd=REPO,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.isascii()
        assert len(result.stdout.splitlines()) == len(events)
        assert_quiet(result.stderr.decode("ascii", "replace"))
        if not mode:
            assert b"\\u240a" in result.stdout  # a visible line break, escaped for ASCII


def test_a_stdout_nobody_reads_does_not_stop_consumption(tmp_path):
    """The consumer keeps going; lines that cannot be written are counted on stderr."""
    total = 45_000  # far more than a pipe (64 KiB) plus the queue (10,000 lines) holds
    path = write_recording(tmp_path / "r.jsonl", lifecycle(total // 3))
    read, write = os.pipe()
    err = tmp_path / "err"
    with open(err, "wb") as err_file:
        proc = subprocess.Popen(
            evtop_command("--replay", path, "--dump", "--speed", "max"),
            stdout=write,
            stderr=err_file,
            env=child_env(),
            cwd=REPO,
        )
    os.close(write)
    try:
        wait_until(lambda: "stdout is not keeping up" in err.read_text(), 60, "no drop report")
        wait_until(lambda: _replay_finished(proc.pid, path), 60, "replay never finished")
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert time.monotonic() - began < 10
        with os.fdopen(read, "rb") as pipe:  # the child is gone: this reaches EOF
            delivered = pipe.read().count(b"\n")
    finally:
        proc.kill()
        with contextlib.suppress(OSError):
            os.close(read)
    stderr = err.read_text()
    assert f"replayed {total} events, skipped 0 lines" in stderr
    lost = int(re.search(r"(\d+) lines were not written to stdout", stderr).group(1))
    # Every line is out or counted; lines of the write stdout never finished may be both.
    assert total <= delivered + lost <= total + delivered
    assert "in a write that never finished" in stderr
    assert_quiet(stderr)


def _replay_finished(pid, path):
    """The replay source closed its file: it read everything (it was open when drops began)."""
    fds = f"/proc/{pid}/fd"
    try:
        return all(os.readlink(f"{fds}/{fd}") != path for fd in os.listdir(fds))
    except OSError:  # an fd closed while we looked: look again
        return False


def test_ctrl_c_exits_130_after_flushing_what_was_read(tmp_path):
    path = write_recording(tmp_path / "r.jsonl", lifecycle(1) + lifecycle(1, start=3600))
    proc = subprocess.Popen(
        evtop_command("--replay", path, "--dump"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
        cwd=REPO,
        text=True,
    )
    assert proc.stdout is not None
    for _ in range(3):
        proc.stdout.readline()  # the first task, then a wait of an hour (recorded time)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and out == ""
    assert_quiet(err)
    assert "replayed 3 events" in err


def test_sigterm_in_process_stops_a_live_dump():
    stdout = io.StringIO()

    def stop_once_it_prints() -> None:  # the handler is installed before any line can appear
        wait_until(lambda: "started: active=0" in stdout.getvalue(), 20)
        signal.raise_signal(signal.SIGTERM)

    threading.Thread(target=stop_once_it_prints, daemon=True).start()
    run = Run(["--demo", "--dump"], stdout=stdout)
    assert run.status == 0
    assert "started: active=0" in run.out
