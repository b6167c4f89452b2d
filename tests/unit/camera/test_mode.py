"""``evtop -c module.Class`` end to end, in-process: loading errors, replays that end with
a complete final snapshot, celery's own cameras, --record, failing cameras, --pidfile."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from evtop.record.schema import EventRecord, SessionRecord, parse
from tests.support.events import (
    BUSY,
    GAP_IN_KOLKATA,
    GONE,
    QUIET,
    T0,
    fading_workers,
    gap_across_an_outage,
    lifecycle,
    worker_event,
    write_recording,
)
from tests.unit.camera.fakes import Run, loaded, module, sigterm_when, write_camera

EVTOP_CAMERA = """
    from evtop.camera import Polaroid

    SHOTS = []
    INFO = {}

    class Camera(Polaroid):
        def install(self):
            INFO.update(
                freq=self.freq,
                rate=self.maxrate.fill_rate if self.maxrate else None,
                app=self.app,
                timer=type(self.timer).__module__,
            )
            super().install()

        def on_shutter(self, state):
            SHOTS.append({uuid: task.state for uuid, task in state.tasks.items()})
"""

#: In the style of django-celery-monitor's camera: it reads ``app.conf`` and calls
#: ``app.add_defaults``.
CELERY_CAMERA = """
    from datetime import timedelta

    from celery import states
    from celery.events.snapshot import Polaroid
    from celery.utils.time import maybe_iso8601

    ROWS = {}
    WORKERS = {}
    LOG = []
    KEEP_FIRST_VALUE = ("name", "args", "kwargs", "eta")

    class Camera(Polaroid):
        clear_after = True

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.app.add_defaults({"monitors_expire_success": timedelta(days=1)})

        def install(self):
            # Before the timer starts: its first shutter may come before install() returns.
            LOG.append(("install", self.app.conf.monitors_expire_success, type(self.timer).__module__))
            super().install()

        def on_shutter(self, state):
            for hostname, worker in state.workers.items():
                WORKERS[hostname] = worker.heartbeats[-1] if worker.heartbeats else None
            for uuid, task in state.tasks.items():
                fields = {
                    "name": task.name,
                    "args": task.args,
                    "kwargs": task.kwargs,
                    "eta": maybe_iso8601(task.eta),
                    "expires": maybe_iso8601(task.expires),
                    "state": task.state,
                    "tstamp": task.timestamp,
                    "result": task.result or task.exception,
                    "traceback": task.traceback,
                    "runtime": task.runtime,
                    "worker": task.worker.hostname if task.worker and task.worker.hostname else None,
                }
                row = ROWS.setdefault(uuid, {})
                row.update({k: v for k, v in fields.items() if v is not None or k not in KEEP_FIRST_VALUE})
            LOG.append(("shutter", len(state.tasks)))

        def on_cleanup(self):
            LOG.append(("cleanup", states.READY_STATES))
"""


def uuids(n: int) -> list[str]:
    return [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)]


@pytest.fixture
def evtop_camera(tmp_path, monkeypatch) -> str:
    return write_camera(tmp_path, monkeypatch, EVTOP_CAMERA)


def test_a_replay_ends_with_a_final_snapshot_of_every_task(tmp_path, evtop_camera):
    path = write_recording(tmp_path / "r.jsonl", lifecycle(50))
    run = Run("--replay", path, "-c", f"{evtop_camera}.Camera", "--speed", "max", "-F", "2")
    assert run.status == 0, run.err
    assert run.out == f"-> evtop: Taking snapshots with {evtop_camera}.Camera (every 2.0 secs.)\n"
    assert run.err.splitlines() == [
        f"evtop: reading events from replay of {path} (Ctrl-C to stop)",
        "evtop: replayed 150 events, skipped 0 lines",
    ]
    shots = module(evtop_camera).SHOTS
    assert shots[-1] == dict.fromkeys(uuids(50), "SUCCESS")


def test_a_replay_camera_imports_no_broker_or_terminal_library(tmp_path):
    """kombu (with amqp) was most of what evtop's start cost a replay that never talks to
    a broker, and the camera replay must stay within 1.2x of a plain State loop
    (benchmarks/bench_camera.py). Nor does it import what only other modes, other options
    or error messages need: the control command table (and ``evtop control``'s parsers
    built from it), celery's app loader, difflib. (Time zones it does need: its stderr news
    names times in the reader's zone.) Run in a fresh interpreter, which imported nothing yet."""
    path = write_recording(tmp_path / "r.jsonl", lifecycle(20))
    (tmp_path / "counting_cam.py").write_text(
        "from evtop.camera import Polaroid\n\n"
        "class Camera(Polaroid):\n"
        "    seen = []\n\n"
        "    def on_shutter(self, state):\n"
        "        Camera.seen.append(state.event_count)\n"
    )
    script = (
        "import sys\n"
        "from evtop.cli import main\n"
        f"status = main(['--replay', {path!r}, '--speed', 'max', '-c', 'counting_cam.Camera'])\n"
        "import counting_cam\n"
        "unneeded = {'kombu', 'amqp', 'redis', 'hiredis', 'urwid', 'blessed',"
        " 'evtop.control', 'evtop.celery_app', 'difflib'}\n"
        "loaded = sorted(unneeded & set(sys.modules))\n"
        "print(status, counting_cam.Camera.seen[-1], loaded)\n"
    )
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.splitlines()[-1:] == ["0 60 []"], done.stderr


def test_max_tasks_bounds_the_cameras_state_keeping_the_newest(tmp_path, evtop_camera):
    path = write_recording(tmp_path / "r.jsonl", lifecycle(50))
    run = Run("--replay", path, "-c", f"{evtop_camera}.Camera", "--speed", "max", "--max-tasks", "20")
    assert run.status == 0, run.err
    assert module(evtop_camera).SHOTS[-1] == dict.fromkeys(uuids(50)[30:], "SUCCESS")


def test_the_camera_gets_celerys_arguments_and_evtops_timer(tmp_path, evtop_camera):
    path = write_recording(tmp_path / "r.jsonl", lifecycle(1))
    run = Run("--replay", path, "-c", f"{evtop_camera}:Camera", "--freq", "0.5", "--maxrate", "30/m")
    assert run.status == 0, run.err
    assert module(evtop_camera).INFO == {"freq": 0.5, "rate": 0.5, "app": None, "timer": "evtop.camera.timer"}


def test_snapshots_follow_the_replayed_stream(tmp_path, evtop_camera):
    path = write_recording(tmp_path / "r.jsonl", lifecycle(5))
    run = Run("--replay", path, "-c", f"{evtop_camera}.Camera", "--speed", "20", "-F", "0.01")
    assert run.status == 0, run.err
    shots = module(evtop_camera).SHOTS
    sizes = [len(shot) for shot in shots]
    assert sizes == sorted(sizes) and sizes[-1] == 5 and len(shots) > 2
    assert shots[-1] == dict.fromkeys(uuids(5), "SUCCESS")


LIVENESS_CAMERA = """
    from evtop.camera import Polaroid

    SHOTS = []

    class Camera(Polaroid):
        def on_shutter(self, state):
            SHOTS.append(
                (
                    {hostname: worker.status_string for hostname, worker in state.workers.items()},
                    sorted(worker.hostname for worker in state.alive_workers()),
                )
            )
"""


def test_a_replays_snapshots_see_the_workers_alive_as_they_were(tmp_path, monkeypatch):
    """Liveness follows the recording's time, not today's."""
    name = write_camera(tmp_path, monkeypatch, LIVENESS_CAMERA)
    path = write_recording(tmp_path / "r.jsonl", fading_workers())
    run = Run("--replay", path, "-c", f"{name}.Camera", "--speed", "max")
    assert run.status == 0, run.err
    statuses, alive = module(name).SHOTS[-1]
    assert statuses == {BUSY: "ONLINE", QUIET: "OFFLINE", GONE: "OFFLINE"}
    assert alive == [BUSY]


def test_times_on_stderr_are_in_the_zone_of_tz(tmp_path, evtop_camera):
    path = gap_across_an_outage(tmp_path / "gap.jsonl")
    run = Run("--replay", path, "-c", f"{evtop_camera}.Camera", "--speed", "max", "--tz", "Asia/Kolkata")
    assert run.status == 0, run.err
    assert GAP_IN_KOLKATA in run.err


def test_a_celery_polaroid_camera_runs_unchanged(tmp_path, monkeypatch):
    name = write_camera(tmp_path, monkeypatch, CELERY_CAMERA)
    events = lifecycle(10)
    events += [
        worker_event("worker-heartbeat", "celery@h", T0 + i, 100 + i, processed=1, sw_ver="5.7.0")
        for i in range(0, 11, 2)
    ]
    events.sort(key=lambda e: e["local_received"])
    path = write_recording(tmp_path / "r.jsonl", events)
    run = Run("--replay", path, "-c", f"{name}.Camera", "--speed", "20", "-F", "0.01")
    assert run.status == 0, run.err
    cam = module(name)
    # with -F 0.01 the timer may shutter before install() returns and notes itself
    assert [entry for entry in cam.LOG if entry[0] == "install"] == [
        ("install", timedelta(days=1), "evtop.camera.timer")
    ]
    assert cam.WORKERS == {"celery@h": T0 + 10}  # heartbeats[-1]: when the last one was received
    assert sorted(cam.ROWS) == uuids(10)
    for row in cam.ROWS.values():
        assert row["state"] == "SUCCESS" and row["name"] == "proj.add" and row["args"] == "(1, 2)"
        assert row["result"] == "3" and row["worker"] == "celery@h" and row["runtime"] == 0.1
    shutters = [entry for entry in cam.LOG if entry[0] == "shutter"]
    assert len(shutters) > 2 and shutters[-1] == ("shutter", 0)  # clear_after: finished tasks went


def test_with_dash_a_the_camera_gets_the_users_app(tmp_path, monkeypatch):
    name = write_camera(tmp_path, monkeypatch, CELERY_CAMERA)
    (tmp_path / f"{name}_app.py").write_text(
        "from celery import Celery\napp = Celery('proj', broker='memory://', set_as_current=False)\n"
        "app.conf.monitors_expire_success = 42\n"
    )
    sigterm_when(loaded(name, "LOG"))
    run = Run("-A", f"{name}_app:app", "-c", f"{name}.Camera")
    assert run.status == 0, run.err
    assert module(name).LOG[0][1] == 42  # the app's own setting wins over add_defaults


def test_record_in_camera_mode_replays_to_the_same_final_snapshot(tmp_path, evtop_camera):
    recording = tmp_path / "demo.jsonl.gz"

    def enough() -> bool:
        shots = module(evtop_camera).SHOTS if evtop_camera in sys.modules else []
        return any(state == "SUCCESS" for shot in shots for state in shot.values()) and len(shots) >= 3

    sigterm_when(enough)
    live = Run("--demo", "-c", f"{evtop_camera}.Camera", "-F", "0.05", "--record", str(recording))
    assert live.status == 0, live.err
    live_final = module(evtop_camera).SHOTS[-1]
    assert live_final

    records = [parse(line) for line in gzip.decompress(recording.read_bytes()).splitlines()]
    assert isinstance(records[0], SessionRecord)
    recorded = [r for r in records[1:] if isinstance(r, EventRecord)]
    assert len(recorded) == len(records) - 1 and {
        r.event["uuid"] for r in recorded if "uuid" in r.event
    } == set(live_final)

    module(evtop_camera).SHOTS.clear()
    again = Run("--replay", str(recording), "-c", f"{evtop_camera}.Camera", "--speed", "max")
    assert again.status == 0, again.err
    assert module(evtop_camera).SHOTS[-1] == live_final


FLAKY_CAMERA = """
    from evtop.camera import Polaroid

    SHOTS = []
    FAILURES = []

    class Camera(Polaroid):
        def on_shutter(self, state):
            if not state.tasks:  # before the first event: the log line below would name no task
                return
            if len(state.tasks) < 5:
                FAILURES.append(len(state.tasks))
                names = ", ".join(str(task.name) for _, task in state.tasks.items())
                raise ValueError(f"not there yet: {names}")
            SHOTS.append(len(state.tasks))
"""


def test_a_camera_that_raises_is_logged_once_and_keeps_being_called(tmp_path, monkeypatch):
    name = write_camera(tmp_path, monkeypatch, FLAKY_CAMERA)
    events = lifecycle(5)
    events[0]["name"] = "evil\x1b[2J\x1b]0;pwned\x07"
    path = write_recording(tmp_path / "r.jsonl", events)
    run = Run("--replay", path, "-c", f"{name}.Camera", "--speed", "4", "-F", "0.01")
    assert run.status == 0, run.err
    cam = module(name)
    assert len(cam.FAILURES) >= 3 and cam.SHOTS[-1] == 5
    failures = [line for line in run.err.splitlines() if "raised" in line]
    assert len(failures) == 1  # rate-limited: one line per 10 s
    assert "Camera.capture raised ValueError: not there yet: evil␛[2J␛]0;pwned␇" in failures[0]
    assert "\x1b" not in run.err and "\x07" not in run.err


FAILING_FINAL = """
    from evtop.camera import Polaroid

    class Camera(Polaroid):
        def on_shutter(self, state):
            raise ConnectionError("database went away")

    class BadInstall(Polaroid):
        def install(self):
            raise OSError("cannot open the database")

    class BadInit(Polaroid):
        def __init__(self, *args, **kwargs):
            raise RuntimeError("no configuration")
"""


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        ("Camera", "the final snapshot failed (ConnectionError: database went away)"),
        ("BadInstall", "install() failed (OSError: cannot open the database)"),
        ("BadInit", "could not be created (RuntimeError: no configuration)"),
    ],
)
def test_a_camera_failing_to_start_or_to_take_the_final_snapshot_fails_the_run(
    tmp_path, monkeypatch, cls, message
):
    name = write_camera(tmp_path, monkeypatch, FAILING_FINAL)
    run = Run("--replay", write_recording(tmp_path / "r.jsonl", lifecycle(1)), "-c", f"{name}.{cls}")
    assert run.status == 1
    assert run.err.splitlines()[-1] == f"evtop: camera {name}.{cls}: {message}"
    assert "Traceback" not in run.err


NOT_CAMERAS = """
    VALUE = 1

    class NotACamera:
        pass

    class WrongSignature:
        def __init__(self, state):
            pass
        def install(self):
            pass
        def cancel(self):
            pass
"""


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no.such.Module", "cannot import no.such (ModuleNotFoundError: No module named 'no')"),
        ("{mod}:Missing", "module {mod} has no attribute 'Missing'"),
        ("{mod}.VALUE", "not a class (a int)"),
        ("os.system", "not a class (a builtin_function_or_method)"),
        ("{mod}.NotACamera", "is not a camera (no install/cancel method); subclass evtop.camera.Polaroid"),
        ("{mod}.WrongSignature", "cannot create the camera (TypeError: "),
        ("{mod}_raises.Camera", "cannot import {mod}_raises (RuntimeError: broken at import)"),
        ("nodots", "expected module.Class or module:Class"),
        ("a:b.c", "expected module.Class or module:Class"),
        ("../evil.Camera", "expected module.Class or module:Class"),
    ],
)
def test_a_camera_that_cannot_be_loaded_is_a_one_line_usage_error(tmp_path, monkeypatch, path, message):
    mod = write_camera(tmp_path, monkeypatch, NOT_CAMERAS)
    (tmp_path / f"{mod}_raises.py").write_text("raise RuntimeError('broken at import')\n")
    path, message = path.format(mod=mod), message.format(mod=mod)
    run = Run("--replay", write_recording(tmp_path / "r.jsonl", lifecycle(1)), "-c", path)
    assert run.status == 2 and run.out == ""
    assert run.err.count("\n") == 1 and run.err.startswith("evtop: error: -c/--camera ")
    assert message in run.err and "Traceback" not in run.err


@pytest.mark.parametrize("option", ["-c", "--sink"])
def test_a_sink_url_short_of_its_slashes_is_named_as_a_sink_not_as_a_class(tmp_path, option):
    target = tmp_path / "snapshots.jsonl"
    run = Run("--replay", write_recording(tmp_path / "r.jsonl", lifecycle(1)), option, f"jsonl:{target}")
    assert run.status == 2 and run.out == "" and run.err.count("\n") == 1
    assert "jsonl: needs // after the scheme, e.g. jsonl:///" in run.err and "module.Class" not in run.err
    assert not target.exists()


def test_pidfile_is_held_while_running_and_removed_after(tmp_path, monkeypatch):
    pidfile = tmp_path / "evtop.pid"
    name = write_camera(
        tmp_path,
        monkeypatch,
        f"""
        from evtop.camera import Polaroid
        SEEN = []
        class Camera(Polaroid):
            def on_shutter(self, state):
                SEEN.append(open({str(pidfile)!r}).read())
        """,
    )
    path = write_recording(tmp_path / "r.jsonl", lifecycle(1))
    run = Run("--replay", path, "-c", f"{name}.Camera", "--pidfile", str(pidfile))
    seen = module(name).SEEN
    assert run.status == 0 and seen == [f"{os.getpid()}\n"]
    assert not pidfile.exists()
    pidfile.write_text("1\n")  # held by a running process (init)
    run = Run("--replay", path, "-c", f"{name}.Camera", "--pidfile", str(pidfile))
    assert run.status == 1 and "held by running process 1" in run.err
    assert len(seen) == 1  # the camera never ran


def test_a_broker_password_never_shows_while_the_camera_waits_for_the_broker(evtop_camera):
    url = "redis://:s3cr3t@127.0.0.1:9/0"  # nothing listens on port 9: connection refused
    sigterm_when(loaded(evtop_camera, "INFO"))
    run = Run("-b", url, "-c", f"{evtop_camera}.Camera", "-l", "DEBUG")
    assert run.status == 0
    assert "s3cr3t" not in run.out + run.err and "redis://:**@127.0.0.1:9/0" in run.err
