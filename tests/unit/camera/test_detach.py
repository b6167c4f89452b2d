"""``evtop -c ... --detach``: a real daemon (double fork, own session, pidfile, log file),
and a foreground that reports whether it started. Run as subprocesses: it forks."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.events import lifecycle, write_recording
from tests.support.live import wait_until
from tests.support.servers import pid_alive, wait_pid_gone
from tests.unit.camera.fakes import Run

REPO = Path(__file__).resolve().parents[3]

CAMERA = """\
import json
from evtop.camera import Polaroid

class Camera(Polaroid):
    def on_shutter(self, state):
        with open("shots.jsonl", "a") as out:
            out.write(json.dumps({u: t.state for u, t in state.tasks.items()}) + "\\n")

class WrongSignature(Polaroid):
    def __init__(self, state):
        pass
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "detcam.py").write_text(CAMERA)
    return tmp_path


def evtop(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evtop", *args],
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def shots(workdir: Path) -> list[dict[str, str]]:
    try:
        return [json.loads(line) for line in (workdir / "shots.jsonl").read_text().splitlines()]
    except FileNotFoundError:
        return []


@contextlib.contextmanager
def killed_at_the_end(pid: int):
    try:
        yield pid
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_detached_camera_is_a_daemon_with_a_pidfile_and_stops_on_sigterm(workdir):
    hour_long = write_recording(workdir / "r.jsonl", lifecycle(1) + lifecycle(1, start=3600))
    started = evtop(
        workdir, "--replay", hour_long, "-c", "detcam.Camera", "-F", "0.05", "--detach",
        "--logfile", "cam.log", "--pidfile", "cam.pid",
    )  # fmt: skip
    assert started.returncode == 0 and started.stdout == ""
    pid = int((workdir / "cam.pid").read_text())
    assert (
        started.stderr
        == f"evtop: camera detcam.Camera runs in the background as process {pid}; it logs to cam.log\n"
    )
    with killed_at_the_end(pid):
        assert pid_alive(pid)
        assert os.getsid(pid) != pid and os.getsid(pid) != os.getsid(0)  # own session, not its leader
        done = {"00000000-0000-4000-8000-000000000000": "SUCCESS"}
        wait_until(lambda: done in shots(workdir), 20, "the daemon never showed the first task done")
        shots_before = len(shots(workdir))
        os.kill(pid, signal.SIGTERM)
        assert wait_pid_gone(pid, 20)
    assert not (workdir / "cam.pid").exists()
    assert len(shots(workdir)) > shots_before and shots(workdir)[-1] == done  # the final snapshot
    log = (workdir / "cam.log").read_text()
    assert log.startswith("-> evtop: Taking snapshots with detcam.Camera (every 0.05 secs.)\n")
    assert "Traceback" not in log and "replayed 3 events" in log
    assert oct((workdir / "cam.log").stat().st_mode & 0o777) == oct(0o600)


def test_a_detached_replay_ends_with_its_final_snapshot_and_removes_the_pidfile(workdir):
    path = write_recording(workdir / "r.jsonl", lifecycle(20))
    started = evtop(
        workdir, "--replay", path, "--speed", "max", "-c", "detcam.Camera", "--detach", "-f", "cam.log",
        "--pidfile", "cam.pid",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    pid = int(started.stderr.split("as process ")[1].split(";")[0])
    with killed_at_the_end(pid):
        assert wait_pid_gone(pid, 30)
    assert not (workdir / "cam.pid").exists()
    assert list(shots(workdir)[-1].values()) == ["SUCCESS"] * 20


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["--pidfile", "held.pid"], 1, "evtop: pidfile held.pid is held by running process 1\n"),
        (
            ["-c", "detcam.WrongSignature"],
            2,
            "evtop: error: -c/--camera detcam.WrongSignature: cannot create the camera (TypeError: ",
        ),
    ],
)
def test_a_daemon_that_cannot_start_fails_in_the_foreground(workdir, args, status, message):
    (workdir / "held.pid").write_text("1\n")  # init: always running
    path = write_recording(workdir / "r.jsonl", lifecycle(1))
    failed = evtop(workdir, "--replay", path, "-c", "detcam.Camera", "--detach", "-f", "cam.log", *args)
    assert failed.returncode == status
    assert failed.stderr.startswith(message) and failed.stderr.count("\n") == 1
    assert shots(workdir) == []


def test_detach_needs_a_logfile():
    run = Run("--demo", "-c", "detcam.Camera", "--detach")
    assert run.status == 2 and run.err == (
        "evtop: error: --detach needs -f/--logfile FILE: a detached camera has no terminal to report to\n"
    )


def test_a_detached_sink_camera_writes_until_sigterm_and_delivers_its_final_snapshot(workdir):
    hour_long = write_recording(workdir / "r.jsonl", lifecycle(1) + lifecycle(1, start=3600))
    started = evtop(
        workdir, "--replay", hour_long, "--sink", "sqlite:///tasks.db", "-F", "0.05", "--detach",
        "--logfile", "cam.log", "--pidfile", "cam.pid",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    pid = int((workdir / "cam.pid").read_text())
    assert started.stderr == (
        f"evtop: camera sqlite:///tasks.db runs in the background as process {pid}; it logs to cam.log\n"
    )

    def states() -> list[tuple[str, str]]:
        try:
            with sqlite3.connect(workdir / "tasks.db") as conn:
                return conn.execute("SELECT uuid, state FROM evtop_tasks").fetchall()
        except sqlite3.Error:
            return []

    with killed_at_the_end(pid):
        wait_until(lambda: states() == [("00000000-0000-4000-8000-000000000000", "SUCCESS")], 20)
        os.kill(pid, signal.SIGTERM)
        assert wait_pid_gone(pid, 30)
    assert not (workdir / "cam.pid").exists()
    with sqlite3.connect(workdir / "tasks.db") as conn:
        assert conn.execute("SELECT final FROM evtop_snapshots ORDER BY id DESC LIMIT 1").fetchone() == (1,)
    assert "Traceback" not in (workdir / "cam.log").read_text()
