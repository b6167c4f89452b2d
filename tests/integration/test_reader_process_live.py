"""The reader process (``--reader process``, the default on Redis with two processors)
against a real redis-server: it is started again when it dies, and it never outlives evtop.

What it reads is held to celery's own receiver in test_receiver_live (the differential
test, poison, a broker restart) and to the ACL tests in test_least_privilege_live.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.events import task_event, wire
from tests.support.live import EvtopProcess, LiveReceiver, wait_until
from tests.support.publish import EventPublisher

pytestmark = [pytest.mark.broker]

CHILD = "evtop.events.process.child"


def readers_of(pid: int) -> list[int]:
    """The reader processes ``pid`` started (its children running the child's program)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:  # ended meanwhile
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        if parent == pid and CHILD.encode() in command:
            found.append(int(entry.name))
    return found


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state == "Z"  # ended, waiting for its parent to collect it


def publish_task(url: str, uuid: str) -> None:
    with EventPublisher(url) as publisher:
        publisher.publish(wire(task_event("task-received", uuid, time.time(), name="proj.add")))


@pytest.mark.timeout(60)
def test_a_killed_reader_process_is_started_again_and_its_outage_kept(redis_server):
    with LiveReceiver(redis_server.url, reader="process") as live:
        first = live.receiver.child
        assert first is not None and readers_of(os.getpid()) == [first.pid]
        first.kill()
        wait_until(lambda: live.receiver.child is not first, 10, "no new reader process")
        live.wait_flowing()
        publish_task(redis_server.url, "after-the-kill")
        wait_until(lambda: "after-the-kill" in live.state.tasks, 10)
        snapshot = live.status.snapshot()
        assert snapshot.reconnects == 1
        assert [outage.reason for outage in snapshot.outages] == [
            "the event reader process ended (killed by signal 9)"
        ]
        assert live.ingest.stats.balanced
        second = live.receiver.child
    assert second.returncode == 0  # stopped by evtop, not killed
    assert readers_of(os.getpid()) == []


@pytest.mark.timeout(90)
def test_a_camera_reads_redis_through_its_reader_process_which_never_outlives_it(redis_server, tmp_path):
    snapshots = tmp_path / "snapshots.jsonl"
    camera = EvtopProcess("-b", redis_server.url, "--sink", f"jsonl:///{snapshots}", "-F", "0.2")
    try:
        reader = wait_until(lambda: readers_of(camera.proc.pid), 20, "the camera started no reader")
        assert len(reader) == 1

        def seen() -> bool:
            publish_task(redis_server.url, "through-the-reader")
            return snapshots.exists() and "through-the-reader" in snapshots.read_text()

        wait_until(seen, 30, f"the task never reached a snapshot: {camera.err}", interval=0.5)
        assert camera.stop(signal.SIGTERM) == 0, camera.err
        wait_until(lambda: gone(reader[0]), 10, "the reader outlived the camera")
    finally:
        camera.stop(signal.SIGKILL)
    # Killed outright, evtop cannot stop its reader: the reader sees its input end and stops.
    killed = EvtopProcess("-b", redis_server.url, "--sink", f"jsonl:///{tmp_path / 'killed.jsonl'}")
    try:
        reader = wait_until(lambda: readers_of(killed.proc.pid), 20, "the camera started no reader")
    finally:
        killed.stop(signal.SIGKILL)
    wait_until(lambda: gone(reader[0]), 10, "the reader outlived a killed evtop")
    assert not any("Traceback" in line for line in camera.err + killed.err)
