"""``evtop doctor`` on recordings: what it finds, how it says it, and its exit status."""

from __future__ import annotations

import datetime
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evtop.cli import main
from evtop.doctor.findings import Findings
from evtop.doctor.mode import report
from evtop.env import Environment
from evtop.zones import UTC
from tests.support.events import T0, lifecycle, task_event, worker_event, write_recording

W1, W2 = "celery@w1", "celery@w2"
REPO = str(Path(__file__).resolve().parents[3])


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), Environment(stdout=out, stderr=err, stdin=io.StringIO(), environ={}))
    return status, out.getvalue(), err.getvalue()


def heartbeats(
    host: str, start: float, end: float, *, processed=lambda at: 0, skew: float = 0.0
) -> list[dict]:
    beats, at = [], start
    while at <= end:
        beats.append(worker_event("worker-heartbeat", host, at, sent=at + skew, processed=processed(at)))
        at += 2.0
    return beats


def doctor(tmp_path, events, *extra):
    events = sorted(events, key=lambda e: e["local_received"])
    path = write_recording(tmp_path / "r.jsonl", events)
    status, out, err = run("--replay", path, "doctor", "--json", *extra)
    return status, json.loads(out), err


def test_a_healthy_recording_exits_0_and_lists_its_worker(tmp_path):
    events = [worker_event("worker-online", "celery@h", T0 - 1), *lifecycle(5)]
    events += heartbeats("celery@h", T0, T0 + 6)
    status, found, err = doctor(tmp_path, events)
    assert status == 0, found["hints"]
    assert found["healthy"] and found["hints"] == [] and not found["silent"]
    (worker,) = found["workers"]
    assert worker["hostname"] == "celery@h" and worker["online"] and worker["missed_tasks"] == 0
    assert worker["clock_skew"] == 0.0  # from worker events: these heartbeats were heard when sent
    assert found["received"] == found["applied"] == len(events)
    assert err.startswith("evtop doctor: reading replay of ")
    assert found["reader"] is None  # a recording is read, not a broker


def test_tasks_on_a_worker_that_went_silent_are_lost(tmp_path):
    events = heartbeats(W1, T0, T0 + 4) + heartbeats(W2, T0, T0 + 30)
    events += [
        task_event("task-received", "lost-1", T0 + 1, 1, hostname=W1, name="p.a"),
        task_event("task-started", "lost-1", T0 + 2, 2, hostname=W1),
        task_event("task-received", "lost-2", T0 + 3, 3, hostname=W1, name="p.a"),
        task_event("task-received", "done", T0 + 3, 4, hostname=W1, name="p.a"),
        task_event("task-succeeded", "done", T0 + 3.5, 5, hostname=W1, result="1"),
        task_event("task-received", "fine", T0 + 20, 6, hostname=W2, name="p.a"),
    ]
    status, found, _ = doctor(tmp_path, events)
    assert status == 1
    assert found["lost_tasks"] == ["lost-1", "lost-2"] and found["lost_count"] == 2
    online = {w["hostname"]: w["online"] for w in found["workers"]}
    assert online == {W1: False, W2: True}
    assert (
        "2 tasks were received or running on a worker that went offline and never finished" in found["hints"]
    )


def test_task_starts_counted_but_never_seen_are_missed(tmp_path):
    events = heartbeats(W1, T0, T0 + 10, processed=lambda at: int(at - T0))  # one start a second
    events += [task_event("task-started", f"t{i}", T0 + i + 0.5, i, hostname=W1) for i in range(4)]
    status, found, _ = doctor(tmp_path, events)
    assert status == 1
    (worker,) = found["workers"]
    assert worker["missed_tasks"] == 10 - 4
    assert f"{W1}: 6 task starts its heartbeats counted were never seen" in found["hints"]


def test_a_worker_without_task_events_is_named(tmp_path):
    events = heartbeats(W1, T0, T0 + 10, processed=lambda at: int(at - T0))
    status, found, _ = doctor(tmp_path, events)
    assert status == 1
    assert any(hint.startswith(f"{W1} runs tasks but sends no task events") for hint in found["hints"])


def test_a_worker_clock_far_off_is_a_problem(tmp_path):
    status, found, _ = doctor(tmp_path, heartbeats(W1, T0, T0 + 6, skew=-3600.0))
    assert status == 1
    assert found["workers"][0]["clock_skew"] == -3600.0
    assert f"{W1}: its clock is 3600 s behind evtop's" in found["hints"]


def test_an_empty_stream_is_silent(tmp_path):
    path = write_recording(tmp_path / "r.jsonl", [])
    status, out, _ = run("--replay", path, "doctor")
    assert status == 1
    assert "events:   0 received, 0 applied, 0 dropped" in out and "1 problem(s):" in out
    assert "are workers running with -E" in out


def test_the_text_report_names_each_worker(tmp_path):
    events = heartbeats(W1, T0, T0 + 4) + heartbeats("\x1b[2Jevil@h", T0, T0 + 4)
    path = write_recording(tmp_path / "r.jsonl", sorted(events, key=lambda e: e["local_received"]))
    status, out, _ = run("--replay", path, "doctor")
    assert status == 0, out
    assert "workers:  2 (2 online)" in out and W1 in out
    assert "(reached)\n" in out  # no --reader: a recording
    assert "\x1b" not in out and "␛[2Jevil@h" in out
    assert out.rstrip().endswith("no problems found")


def test_the_text_report_shows_times_in_the_zone_of_tz_and_names_it(tmp_path):
    """T0 + 4 is 07:22:26 UTC; a recording's workers were heard long before now."""
    path = write_recording(tmp_path / "r.jsonl", heartbeats(W1, T0, T0 + 4))
    status, out, _ = run("--replay", path, "--tz", "Asia/Kolkata", "doctor")
    assert status == 0, out
    assert "heard 2026-11-23 12:52:26 Asia/Kolkata" in out and "UTC" not in out


def test_a_recent_recording_shows_when_its_workers_were_heard_not_how_long_ago(tmp_path):
    """A recording's times are of then: a replay never reads them against today's clock,
    even when it was made a moment ago."""
    start = time.time() - 30
    path = write_recording(tmp_path / "r.jsonl", heartbeats(W1, start, start + 4))
    status, out, _ = run("--replay", path, "--tz", "UTC", "doctor")
    assert status == 0, out
    heard = datetime.datetime.fromtimestamp(start + 4, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    assert f"heard {heard} UTC" in out and " s ago" not in out, out


def test_without_tz_the_text_report_shows_local_time(tmp_path):
    """As in the TUI: TZ here, in a real process, whose C library applies it."""
    path = write_recording(tmp_path / "r.jsonl", heartbeats(W1, T0, T0 + 4))
    result = subprocess.run(
        [sys.executable, "-m", "evtop", "--replay", path, "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": REPO, "TZ": "Asia/Kolkata"},
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "heard 2026-11-23 12:52:26 Asia/Kolkata" in result.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["doctor", "--listen", "0"], "is not a number of seconds above 0"),
        (["doctor", "--listen", "soon"], "is not a number of seconds above 0"),
        (["--dump", "doctor"], "doctor is a mode of its own"),
        (["--pidfile", "p", "doctor"], "--pidfile does not apply to doctor"),
    ],
)
def test_bad_doctor_arguments_are_one_line_exit_2(argv, message):
    status, out, err = run(*argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_the_text_report_says_how_the_broker_was_read():
    found = Findings(
        url="redis://h:6379/0",
        reached=True,
        error=None,
        listened=5.0,
        received=0,
        applied=0,
        dropped={},
        silent=True,
        workers=[],
        lost_tasks=[],
        lost_count=0,
        outages=[],
        gaps=[],
        reader="process",
    )
    lines = report(found, time.time(), UTC)
    assert lines[0] == "broker:   redis://h:6379/0 (reached, --reader process)"
