"""``evtop -c`` as real processes against real brokers and ``celery worker -E``.

Two cameras watch at once, one on evtop's Polaroid and one on celery's own (the import
line is the only difference); each writes its snapshots as JSON lines. Both must end up
showing every task the test ran, in its final state, on the worker that ran it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.events import wire, worker_event
from tests.support.live import wait_until
from tests.support.publish import EventPublisher
from tests.support.workers import REPO_ROOT, send_task

pytestmark = [pytest.mark.broker, pytest.mark.worker]

CAMERA = """\
import json
import os

from {base} import Polaroid

OUT = os.environ["EVTOP_TEST_SNAPSHOTS"]


def hostname(task):
    return task.worker.hostname if task.worker else None


class Camera(Polaroid):
    def on_shutter(self, state):
        snapshot = {{
            "workers": sorted(state.workers.keys()),
            "tasks": {{
                uuid: {{"state": task.state, "name": task.name, "worker": hostname(task)}}
                for uuid, task in state.tasks.items()
            }},
        }}
        with open(OUT, "a") as out:
            out.write(json.dumps(snapshot) + "\\n")
"""


class CameraProcess:
    """``python -m evtop -b URL -c MODULE.Camera -F 0.2`` run from ``directory``."""

    def __init__(self, directory: Path, module: str, url: str) -> None:
        self.snapshots = directory / f"{module}.jsonl"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "evtop", "-b", url, "-c", f"{module}.Camera", "-F", "0.2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=directory,  # the camera module is found in the current directory
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "EVTOP_TEST_SNAPSHOTS": str(self.snapshots)},
        )

    def last(self) -> dict[str, Any]:
        try:
            lines = self.snapshots.read_text().splitlines()
        except FileNotFoundError:
            return {"workers": [], "tasks": {}}
        complete = [line for line in lines if line.endswith("}")]
        return json.loads(complete[-1]) if complete else {"workers": [], "tasks": {}}

    def count(self) -> int:
        try:
            return len(self.snapshots.read_text().splitlines())
        except FileNotFoundError:
            return 0

    def stop(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out.decode(), err.decode()


def wait_watching(cameras: list[CameraProcess], url: str) -> None:
    """Publish probe heartbeats until every camera's snapshot lists the probe worker."""
    probe = f"probe-{uuid.uuid4().hex[:8]}@test"
    with EventPublisher(url) as publisher:

        def seen() -> bool:
            publisher.publish(wire(worker_event("worker-heartbeat", probe, time.time())), "worker.heartbeat")
            return all(probe in camera.last()["workers"] for camera in cameras)

        wait_until(seen, 30, "a camera never saw the probe worker", interval=0.3)


@pytest.mark.timeout(120)
def test_cameras_show_the_tasks_a_real_worker_ran(broker_url, start_worker, tmp_path: Path):
    queue = f"q-cam-{uuid.uuid4().hex[:6]}"
    worker = start_worker(broker_url, pool="prefork", extra_args=("-Q", queue))
    cameras = []
    for base in ("evtop.camera", "celery.events.snapshot"):
        module = f"cam_{base.split('.')[0]}_{uuid.uuid4().hex[:6]}"
        (tmp_path / f"{module}.py").write_text(CAMERA.format(base=base))
        cameras.append(CameraProcess(tmp_path, module, broker_url))
    results = []
    try:
        wait_watching(cameras, broker_url)
        added = [send_task(broker_url, "evtop_test.add", (i, i), queue=queue) for i in range(5)]
        failed = send_task(broker_url, "evtop_test.fail", ("boom",), queue=queue)
        expected = dict.fromkeys(added, "SUCCESS") | {failed: "FAILURE"}

        def shown(camera: CameraProcess) -> bool:
            tasks = camera.last()["tasks"]
            return all(tasks.get(t, {}).get("state") == state for t, state in expected.items())

        wait_until(lambda: all(shown(c) for c in cameras), 40, "the cameras never showed every task done")
    finally:
        results = [camera.stop() for camera in cameras]

    for camera, (status, out, err) in zip(cameras, results, strict=True):
        assert status == 130, err  # stopped with Ctrl-C
        assert out.startswith("-> evtop: Taking snapshots with cam_") and "(every 0.2 secs.)" in out
        assert "Traceback" not in err
        final = camera.last()
        assert worker.nodename in final["workers"]
        for task, state in expected.items():
            assert final["tasks"][task] == {
                "state": state,
                "name": "evtop_test.add" if state == "SUCCESS" else "evtop_test.fail",
                "worker": worker.nodename,
            }


@pytest.mark.timeout(120)
def test_a_camera_keeps_going_across_a_broker_restart(redis_server, tmp_path: Path):
    """celery's evcam dies with its connection; evtop's camera reconnects and goes on."""
    module = f"cam_restart_{uuid.uuid4().hex[:6]}"
    (tmp_path / f"{module}.py").write_text(CAMERA.format(base="evtop.camera"))
    camera = CameraProcess(tmp_path, module, redis_server.url)
    try:
        wait_watching([camera], redis_server.url)
        redis_server.restart()
        before = camera.count()
        wait_watching([camera], redis_server.url)
        assert camera.count() > before
    finally:
        status, _, err = camera.stop()
    assert status == 130, err  # stopped with Ctrl-C
    assert "event stream resumed after a" in err and "Traceback" not in err
