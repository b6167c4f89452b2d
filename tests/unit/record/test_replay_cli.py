"""Hostile ``--replay`` inputs from the command line: a clear line, the right exit status."""

from __future__ import annotations

import gzip
import io
import json
import os
import random

import pytest

from evtop.cli import main
from evtop.env import Environment
from evtop.record.schema import event_line
from tests.support.events import lifecycle


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), Environment(stdout=out, stderr=err, stdin=io.StringIO(), environ={}))
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom", "/tmp"])
@pytest.mark.parametrize("mode", [["--dump"], ["doctor"]])
def test_a_device_or_directory_is_refused_at_once(path, mode):
    status, out, err = run("--replay", path, *mode)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "not a recording: give a file" in err


@pytest.mark.timeout(30)
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    status, _, err = run("--replay", str(tmp_path / "fifo"), "--dump")
    assert status == 2 and "a FIFO, not a recording" in err


def test_random_bytes_exit_1_as_not_a_recording(tmp_path):
    path = tmp_path / "noise"
    path.write_bytes(random.Random(3).randbytes(100_000))
    status, out, err = run("--replay", str(path), "--dump")
    assert status == 1 and out == ""
    assert "not an evtop recording" in err and "Traceback" not in err


def test_a_gzip_cut_in_half_replays_what_it_holds_then_exits_1_truncated(tmp_path):
    lines = [event_line(event) for event in lifecycle(300)]
    data = gzip.compress("".join(f"{line}\n" for line in lines).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    status, out, err = run("--replay", str(path), "--dump", "--json", "--speed", "max")
    assert status == 1
    printed = [json.loads(line) for line in out.splitlines()]
    assert 0 < len(printed) < len(lines)
    assert "truncated: the compressed data ends mid-way" in err and "up to the cut" in err


def test_doctor_reports_a_truncated_recording_as_a_problem(tmp_path):
    data = gzip.compress("".join(f"{event_line(e)}\n" for e in lifecycle(300)).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    status, out, _ = run("--replay", str(path), "doctor", "--json")
    found = json.loads(out)
    assert status == 1 and found["received"] > 0 and "truncated" in found["hints"][0]
