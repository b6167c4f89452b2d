"""The JSON lines sink on real files: the store contract, rotation, and a full disk."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import stat
from typing import Any

import pytest

from evtop.camera.sinks.jsonl import JSONLinesSink
from evtop.camera.sinks.snapshot import TASK_COLUMNS
from tests.unit.camera.sinks.contract import StoreContract, opened
from tests.unit.camera.sinks.shots import Shots, received, started, succeeded


def lines(path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in open(path, encoding="ascii")]


class TestJSONLines(StoreContract):
    sink_class = JSONLinesSink
    bad_urls = (
        ("jsonl://host/x.jsonl", "has no host"),
        ("jsonl:///x.jsonl#frag", "no [?]query or #fragment"),
        ("jsonl:///dir/", "no file name"),
        ("jsonl:///no/such/dir/x.jsonl", "directory no/such/dir does not exist"),
    )

    @pytest.fixture
    def url(self, tmp_path) -> str:
        return f"jsonl:///{tmp_path}/snapshots.jsonl"

    def stored(self, url: str) -> dict[str, dict[str, Any]]:
        """What a reader gets by applying the lines in order, the later row of a task winning."""
        path = JSONLinesSink(url).path
        if not os.path.exists(path):
            return {}
        return {
            task["uuid"]: {c: task[c] for c in TASK_COLUMNS} for line in lines(path) for task in line["tasks"]
        }

    def printed(self, sink: JSONLinesSink) -> str:
        with open(sink.path, "rb") as file:
            return file.read().decode("ascii")  # ASCII only: nothing else was written


def test_one_snapshot_per_line_in_a_private_file(tmp_path):
    shots = Shots()
    sink = opened(JSONLinesSink(f"jsonl:///{tmp_path}/s.jsonl"))
    first, second = shots.feed(received(1, 1)).shoot(), shots.feed(started(1, 2)).shoot(final=True)
    sink.write(first)
    sink.write(second)
    sink.close()
    written = lines(tmp_path / "s.jsonl")
    assert [(line["id"], line["final"], len(line["tasks"])) for line in written] == [
        (1, False, 1),
        (2, True, 1),
    ]
    assert written[1] == json.loads(json.dumps(second.as_dict()))
    assert stat.S_IMODE((tmp_path / "s.jsonl").stat().st_mode) == 0o600


def test_after_log_rotation_the_next_write_goes_to_a_new_file(tmp_path):
    shots = Shots()
    sink = opened(JSONLinesSink(f"jsonl:///{tmp_path}/s.jsonl"))
    sink.write(shots.feed(received(1, 1)).shoot())
    os.rename(tmp_path / "s.jsonl", tmp_path / "s.jsonl.1")  # logrotate's default
    sink.write(shots.feed(started(1, 2)).shoot())
    (tmp_path / "s.jsonl").unlink()  # deleted outright
    sink.write(shots.feed(succeeded(1, 3)).shoot())
    sink.close()
    assert [line["id"] for line in lines(tmp_path / "s.jsonl.1")] == [1]
    assert [line["id"] for line in lines(tmp_path / "s.jsonl")] == [3]


@contextlib.contextmanager
def file_size_limit(size: int):
    """A disk that is full past ``size`` bytes: writes beyond it fail with EFBIG."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_a_write_that_fails_half_way_leaves_no_broken_line(tmp_path):
    shots = Shots()
    sink = opened(JSONLinesSink(f"jsonl:///{tmp_path}/s.jsonl"))
    sink.write(shots.feed(received(1, 1)).shoot())
    size = (tmp_path / "s.jsonl").stat().st_size
    big = shots.feed(*(received(i, 2, args="x" * 1000) for i in range(2, 50))).shoot()
    with file_size_limit(size + 4096), pytest.raises(OSError):
        sink.write(big)
    assert (tmp_path / "s.jsonl").stat().st_size == size
    sink.close()
    sink.open()
    sink.write(big)  # the retry, once there is room again
    sink.close()
    assert [len(line["tasks"]) for line in lines(tmp_path / "s.jsonl")] == [1, 48]
