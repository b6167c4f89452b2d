"""``--record``: private file, no symlinks, append with sessions, outage markers, every mode."""

from __future__ import annotations

import gzip
import io
import os
import signal
import stat
import threading

import pytest

from evtop.broker.status import ConnectionStatus
from evtop.cli import main
from evtop.demo.cluster import demo_config
from evtop.env import Environment
from evtop.errors import UsageError
from evtop.record.recorder import Recorder
from evtop.record.replay import ReplaySource
from evtop.record.schema import EventRecord, OutageRecord, SessionRecord, parse
from tests.support.live import wait_until

EVENT = {
    "type": "task-started",
    "hostname": "h",
    "uuid": "u",
    "timestamp": 5.0,
    "clock": 1,
    "local_received": 5.5,
}


def records(path):
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return [parse(line) for line in data.splitlines() if line.strip()]


def record(path, *events, status=None):
    recorder = Recorder(str(path))
    recorder.follow(status or ConnectionStatus("redis://h:6379/0"))
    handler = recorder.wrap(lambda event: None)
    for event in events:
        handler(event)
    recorder.close()


@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz"])
def test_a_session_then_every_event(tmp_path, name):
    path = tmp_path / name
    record(path, EVENT, {**EVENT, "clock": 2})
    session, *events = records(path)
    assert isinstance(session, SessionRecord) and session.source == "redis://h:6379/0"
    assert events == [EventRecord(5.5, EVENT), EventRecord(5.5, {**EVENT, "clock": 2})]


def test_the_handler_sees_the_event_and_its_result(tmp_path):
    recorder = Recorder(str(tmp_path / "r"))
    seen = []
    assert recorder.wrap(lambda e: seen.append(e) or "ok")(EVENT) == "ok"
    assert seen == [EVENT]
    recorder.close()


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_created_private_whatever_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        record(tmp_path / "r.jsonl", EVENT)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.jsonl").stat().st_mode) == 0o600


@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz"])
def test_appends_sessions_and_repairs_a_half_written_last_line(tmp_path, name):
    path = tmp_path / name
    record(path, EVENT)
    if name.endswith(".gz"):  # a crash mid-member: cut the first session's gzip short
        path.write_bytes(path.read_bytes()[:-12])
    else:
        with path.open("a") as f:
            f.write('{"v":1,"kind":"event","rec')
    record(path, {**EVENT, "clock": 9})
    source = ReplaySource(str(path), _Ingest(), speed=float("inf"))
    source.run(threading.Event())
    clocks = [e["clock"] for e in source.ingest.seen]
    assert clocks[-1] == 9 and source.events == len(clocks) >= 1
    assert sum(source.skipped.values()) <= 2  # the cut line, at most one corrupt-data resync


class _Ingest:
    def __init__(self):
        self.seen = []

    def feed_decoded(self, body, local_received=None, *, small=False):
        self.seen.append(body)

    def flush(self):
        pass


def test_outages_become_markers_with_secrets_masked(tmp_path):
    path = tmp_path / "r.jsonl"
    status = ConnectionStatus("redis://:**@h:6379/0")
    recorder = Recorder(str(path), secrets=["hunter2"])
    recorder.follow(status)
    status.connected()
    status.lost("ConnectionError: redis://:hunter2@h refused \x1b[2J", 1.0)
    status.connected()
    status.lost("again", 1.0)
    status.stopped()  # an outage still open at exit is closed, and recorded, too
    recorder.close()
    outages = [r for r in records(path) if isinstance(r, OutageRecord)]
    assert [o.reason for o in outages] == ["ConnectionError: redis://:**@h refused ␛[2J", "again"]
    assert all(o.ended is not None and o.ended >= o.started for o in outages)
    assert b"hunter2" not in path.read_bytes()


def test_refuses_a_planted_symlink_and_leaves_the_canary_alone(tmp_path):
    canary = tmp_path / "canary"
    canary.write_text("precious")
    canary.chmod(0o644)
    link = tmp_path / "rec.jsonl"
    link.symlink_to(canary)
    with pytest.raises(UsageError, match="is a symbolic link"):
        Recorder(str(link))
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(UsageError, match="is a symbolic link"):
        Recorder(str(tmp_path / "dangling"))
    assert not (tmp_path / "nowhere").exists()
    assert canary.read_text() == "precious" and stat.S_IMODE(canary.stat().st_mode) == 0o644


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("dir", "is a directory"),
        ("missing/rec.jsonl", "its directory does not exist"),
        ("/dev/null", "is not a regular file"),
    ],
)
def test_refuses_what_is_not_a_regular_file(tmp_path, target, why):
    (tmp_path / "dir").mkdir()
    path = target if target.startswith("/") else str(tmp_path / target)
    before = os.stat("/dev/null").st_mode
    with pytest.raises(UsageError, match=why):
        Recorder(path)
    assert os.stat("/dev/null").st_mode == before


def run_main(args, stdout=None):
    env = Environment(stdout=stdout or io.StringIO(), stderr=io.StringIO(), stdin=io.StringIO(), environ={})
    return main(args, env), env


def test_a_refused_recording_is_a_one_line_usage_error(tmp_path):
    canary = tmp_path / "canary"
    canary.write_text("precious")
    (tmp_path / "link").symlink_to(canary)
    status, env = run_main(["--demo", "--dump", "--record", str(tmp_path / "link")])
    assert status == 2
    assert env.stderr.getvalue().splitlines()[-1] == (
        f"evtop: error: --record {tmp_path}/link: "
        "is a symbolic link; evtop does not follow links when writing"
    )
    assert env.stdout.getvalue() == "" and canary.read_text() == "precious"


class _Lines(io.StringIO):
    def lines(self):
        return self.getvalue().splitlines()


def test_record_works_with_the_dump_of_a_live_source(tmp_path):
    """--demo --dump --record: what is printed is what is recorded, event for event."""
    path = tmp_path / "demo.jsonl.gz"
    stdout = _Lines()
    stopper = threading.Thread(
        target=lambda: (
            wait_until(lambda: len(stdout.lines()) >= 10, 20),
            signal.raise_signal(signal.SIGTERM),
        ),
        daemon=True,
    )
    stopper.start()
    status, _env = run_main(["--demo", "--dump", "--json", "--record", str(path)], stdout)
    assert status == 0
    printed = [parse(line) for line in stdout.lines()]
    recorded = records(path)
    assert isinstance(recorded[0], SessionRecord) and recorded[0].source == demo_config().url
    assert recorded[1:] == printed and len(printed) >= 10
