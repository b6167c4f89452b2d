"""A live ``--dump`` on a broker where nothing arrives says so on stderr, and when it ends.

Redis db 7 of the session's redis-server: pub/sub channels carry the db number, so no
worker of another test is heard there, and the silence is real.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from evtop.events.silence import HINT
from tests.support.events import task_event, wire
from tests.support.live import wait_until
from tests.support.publish import EventPublisher
from tests.support.workers import REPO_ROOT

pytestmark = [pytest.mark.broker]


@pytest.mark.timeout(120)
def test_a_silent_broker_is_named_once_and_the_end_of_the_silence_too(redis_server):
    url = f"redis://{redis_server.host}:{redis_server.port}/7"
    proc = subprocess.Popen(
        [sys.executable, "-m", "evtop", "-b", url, "--dump"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        began = time.monotonic()
        wait_until(lambda: any("no events for" in line for line in lines), 60, "silence was never named")
        assert time.monotonic() - began >= 29  # not before 30 s of silence
        (said,) = [line for line in lines if "no events for" in line]
        assert "WARNING" in said and f"{url}: no events for 3" in said and said.rstrip().endswith(HINT)
        with EventPublisher(url) as publisher:
            publisher.publish(wire(task_event("task-received", "after-silence", time.time())))
        wait_until(lambda: any("events resumed after" in line for line in lines), 15, "no resumed line")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        reader.join(10)
    assert proc.returncode == 0
    assert sum("no events for" in line for line in lines) == 1
    assert sum("events resumed after" in line for line in lines) == 1
    assert not any("Traceback" in line for line in lines)
