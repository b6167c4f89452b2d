"""``--replay``: paced, interruptible, tolerant of damage, and replaying outages into the status."""

from __future__ import annotations

import gzip
import math
import os
import random
import socket
import threading
import time
import zlib

import pytest

from evtop.broker.status import Outage, Phase
from evtop.errors import EvtopError, UsageError
from evtop.events.pipeline import Ingest
from evtop.linewriter import GzipSink
from evtop.record.replay import MAX_LINE, NOT_RECORDING, ReplaySource, gunzip, read_lines
from evtop.record.schema import dumps, event_line, outage_line, session_line
from evtop.runner import INGEST_BATCH
from tests.support.events import T0, task_event
from tests.support.live import wait_until


def event(received, clock=1, type_="task-started", **fields):
    """A task event of its own per clock value (``u<clock>``)."""
    return task_event(type_, f"u{clock}", received, clock, **fields)


def write(path, *lines, compress=False):
    data = "".join(f"{line}\n" for line in lines).encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return str(path)


def replay(path, speed=math.inf, stop=None):
    seen = []  # batched as the modes that keep a State have it: the last run at the end
    source = ReplaySource(path, Ingest(seen.append, batch=INGEST_BATCH), speed=speed)
    source.run(stop or threading.Event())
    return source, seen


@pytest.mark.parametrize("compress", [False, True])
def test_events_are_fed_with_their_recorded_clock_and_receive_time(tmp_path, compress):
    path = write(
        tmp_path / "r", *(event_line(event(T0 + i, clock=10 + i)) for i in range(3)), compress=compress
    )
    source, seen = replay(path)
    assert [(e["clock"], e["local_received"]) for e in seen] == [(10, T0), (11, T0 + 1), (12, T0 + 2)]
    assert source.events == 3 and source.summary() == "replayed 3 events, skipped 0 lines"
    assert source.ingest.stats.applied == 3


def test_values_orjson_would_change_or_refuse_replay_exactly(tmp_path):
    fields = [{"big": 10**30, "small": -(2**70)}, {"args": "\ud800 lone", "result": [1.5, "NaN"]}]
    path = write(tmp_path / "r", *(event_line(event(T0, clock=i, **f)) for i, f in enumerate(fields, 1)))
    _, seen = replay(path)
    assert [{key: e[key] for key in f} for e, f in zip(seen, fields, strict=True)] == fields
    assert type(seen[0]["big"]) is int and type(seen[0]["small"]) is int


def test_fields_capped_when_recorded_replay_exactly_with_their_original_size(tmp_path):
    live: list = []
    Ingest(live.append).feed_decoded(
        event(T0, type_="task-failed", traceback="T" * 200_000, name="n" * 5000, custom="c" * 20_000)
    )
    (capped,) = live
    assert capped["traceback"].endswith("…[+134464 chars]") and capped["custom"].endswith("…[+11808 chars]")
    source, seen = replay(write(tmp_path / "r", event_line(capped)))
    assert {k: seen[0][k] for k in ("traceback", "name", "custom")} == {
        k: capped[k] for k in ("traceback", "name", "custom")
    }
    assert source.ingest.stats.fields_truncated == 0


def test_a_forged_cut_mark_at_another_length_is_cut_again(tmp_path):
    forged = "x" * 9000 + "…[+5 chars]"  # the custom-field cap is 8192, not 9000
    source, seen = replay(write(tmp_path / "r", event_line(event(T0, custom=forged))))
    assert seen[0]["custom"] == "x" * 8192 + f"…[+{len(forged) - 8192} chars]"
    assert source.ingest.stats.fields_truncated == 1


def test_a_task_sent_clock_is_kept_as_recorded(tmp_path):
    path = write(tmp_path / "r", event_line(event(T0, clock=0, type_="task-sent")))
    _, seen = replay(path)
    assert seen[0]["clock"] == 0


def test_bad_lines_are_counted_and_skipped_never_fatal(tmp_path):
    path = write(
        tmp_path / "r",
        event_line(event(T0, 1)),
        "not json",
        "",
        '{"v":1,"kind":"snapshot","x":1}',
        '{"v":2,"kind":"event","received":1,"event":{}}',
        event_line(event(T0 + 1, 2)),
        '{"v":1,"kind":"event","received":1795418542.0,"event":{"type":"task-st',  # crash mid-line
    )
    with open(path, "r+b") as f:  # the cut line has no newline
        f.truncate(os.path.getsize(path) - 1)
    source, seen = replay(path)
    assert [e["clock"] for e in seen] == [1, 2]
    assert source.summary() == (
        "replayed 2 events, skipped 4 lines "
        "(1 cut short, 1 not JSON, 1 unknown kind, 1 written by a newer evtop (schema v2))"
    )


def test_overlong_lines_are_skipped_in_bounded_memory(tmp_path):
    path = tmp_path / "r"
    path.write_bytes(b"x" * 5000 + b"\n" + event_line(event(T0)).encode() + b"\n")
    with open(path, "rb") as stream:
        assert list(read_lines(stream, max_len=1000)) == [None, event_line(event(T0)).encode() + b"\n"]


def test_invalid_events_count_at_the_ingest_boundary(tmp_path):
    path = write(tmp_path / "r", dumps({"v": 1, "kind": "event", "received": T0, "event": {"type": "???"}}))
    source, seen = replay(path)
    assert seen == [] and source.events == 1 and source.ingest.stats.dropped["unknown_type"] == 1


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("missing", "no such file or directory"),
        (".", "a directory, not a recording: give a file"),
        ("/dev/zero", "a character device, not a recording"),
        ("/dev/null", "a character device, not a recording"),
        ("fifo", "a FIFO, not a recording"),
        ("socket", "a socket, not a recording"),
    ],
)
def test_an_unusable_file_is_a_usage_error_before_anything_is_read(tmp_path, name, why):
    os.mkfifo(tmp_path / "fifo")  # opening it would wait for a writer forever
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "socket"))
        with pytest.raises(UsageError, match=why):
            ReplaySource(str(tmp_path / name), Ingest(print))


@pytest.mark.parametrize("compress", [False, True])
def test_a_file_in_which_no_line_is_a_record_is_not_a_recording(tmp_path, compress):
    path = write(tmp_path / "r", "hello", "x" * 100, "[1, 2]", compress=compress)
    source = ReplaySource(path, Ingest(print))
    why = r"not an evtop recording \(no line was an evtop record: 2 not JSON, 1 not an evtop record\)"
    with pytest.raises(EvtopError, match=why):
        source.run(threading.Event())


def test_random_bytes_are_not_a_recording(tmp_path):
    path = tmp_path / "r"
    path.write_bytes(random.Random(7).randbytes(200_000))
    with pytest.raises(EvtopError, match="not an evtop recording"):
        ReplaySource(str(path), Ingest(print)).run(threading.Event())


def test_an_overlong_line_with_no_newline_ever_is_skipped_in_bounded_time(tmp_path):
    path = tmp_path / "r"
    path.write_bytes(event_line(event(T0)).encode() + b"\n" + b"x" * (MAX_LINE + 5 * 1024 * 1024))
    source, seen = replay(str(path))
    assert len(seen) == 1 and source.skipped == {"line too long": 1}


def test_a_file_from_a_newer_evtop_is_refused_before_anything_starts(tmp_path):
    path = write(tmp_path / "r", '{"v":2,"kind":"event","received":1,"event":{}}')
    with pytest.raises(
        UsageError, match=r"written by a newer evtop \(schema v2\); this evtop reads schema v1"
    ):
        ReplaySource(path, Ingest(print))


def test_an_empty_file_replays_nothing(tmp_path):
    source, seen = replay(write(tmp_path / "r"))
    assert seen == [] and source.status.snapshot().phase is Phase.STOPPED


def test_pacing_follows_recorded_time_divided_by_speed(tmp_path):
    path = write(tmp_path / "r", *(event_line(event(T0 + i, i)) for i in range(5)))  # 4 s recorded
    began = time.monotonic()
    replay(path, speed=20.0)
    assert 0.19 <= time.monotonic() - began < 1.5
    began = time.monotonic()
    replay(path, speed=math.inf)
    assert time.monotonic() - began < 0.19


def test_stop_interrupts_a_long_wait(tmp_path):
    path = write(tmp_path / "r", event_line(event(T0, 1)), event_line(event(T0 + 3600, 2)))
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    began = time.monotonic()
    source, seen = replay(path, speed=1.0, stop=stop)
    assert time.monotonic() - began < 2
    assert len(seen) == 1 and source.status.snapshot().phase is Phase.STOPPED


def test_sessions_and_backwards_time_restart_the_pacing(tmp_path):
    path = write(
        tmp_path / "r",
        session_line(T0, "redis://h", "0.1.0"),
        event_line(event(T0, 1)),
        session_line(T0 + 86400, "redis://h", "0.1.0"),  # the next day: not waited out
        event_line(event(T0 + 86400, 2)),
        event_line(event(T0 + 10, 3)),  # the wall clock went back
        event_line(event(T0 + 10.1, 4)),
    )
    began = time.monotonic()
    _, seen = replay(path, speed=1.0)
    assert [e["clock"] for e in seen] == [1, 2, 3, 4]
    assert 0.09 <= time.monotonic() - began < 1.5


def test_status_runs_on_the_recorded_clock_and_replays_outages(tmp_path):
    path = write(
        tmp_path / "r",
        session_line(T0, "redis://h", "0.1.0"),
        event_line(event(T0 + 1, 1)),
        outage_line(T0 + 2, T0 + 5, "ConnectionError: refused"),
        event_line(event(T0 + 6, 2)),
        session_line(T0 + 100, "redis://h", "0.1.0"),
        event_line(event(T0 + 101, 3)),
    )
    phases = []
    seen = []
    source = ReplaySource(path, Ingest(seen.append), speed=math.inf)
    source.status.subscribe(lambda snapshot: phases.append(snapshot.phase))
    assert source.status.snapshot().phase is Phase.CONNECTING
    source.run(threading.Event())
    snapshot = source.status.snapshot()
    assert snapshot.outages == (
        Outage(T0 + 2, T0 + 5, "ConnectionError: refused"),
        Outage(T0 + 6, T0 + 100, NOT_RECORDING),
    )
    assert phases[0] is Phase.CONNECTED and phases[-1] is Phase.STOPPED
    assert snapshot.last_message_at == T0 + 101 and snapshot.reconnects == 2


def test_an_outage_without_an_end_lasts_until_the_next_event(tmp_path):
    path = write(
        tmp_path / "r",
        event_line(event(T0, 1)),
        outage_line(T0 + 1, None, "lost"),
        event_line(event(T0 + 9, 2)),
    )
    source, _ = replay(path)
    assert source.status.snapshot().outages == (Outage(T0 + 1, T0 + 9, "lost"),)


def gzip_session(path, lines, close=True):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    sink = GzipSink(fd)
    for line in lines:
        sink.write(line + "\n")
    if close:
        sink.close()
    else:
        os.close(fd)


def test_a_gzip_recording_cut_by_a_crash_replays_up_to_the_cut_then_says_truncated(tmp_path):
    path = tmp_path / "r.gz"
    gzip_session(path, [event_line(event(T0 + i, i)) for i in range(50)], close=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 7])  # mid-way through the last write
    seen = []
    source = ReplaySource(str(path), Ingest(seen.append))
    with pytest.raises(EvtopError, match=r"truncated: the compressed data ends mid-way .* up to the cut"):
        source.run(threading.Event())
    clocks = [e["clock"] for e in seen]
    assert clocks == list(range(len(clocks))) and len(clocks) >= 48
    assert source.skipped.get("not JSON", 0) == 0  # the half line is "cut short", not "not JSON"


def test_a_gzip_cut_in_half_is_truncated_not_garbage(tmp_path):
    path = tmp_path / "r.gz"
    path.write_bytes(gzip.compress("".join(f"{event_line(event(T0 + i, i))}\n" for i in range(500)).encode()))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(EvtopError, match="truncated"):
        replay(str(path))


def test_gzip_reading_resumes_at_the_next_member_after_damage(tmp_path):
    path = tmp_path / "r.gz"
    gzip_session(path, [event_line(event(T0 + i, i)) for i in range(30)], close=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 5])  # session 1 crashed mid-write
    gzip_session(path, ["", *(event_line(event(T0 + 100 + i, 100 + i)) for i in range(30))])
    source, seen = replay(str(path))
    clocks = [e["clock"] for e in seen]
    assert clocks[:29] == list(range(29)) and clocks[-30:] == list(range(100, 130))
    assert source.skipped["corrupt compressed data"] >= 1


def test_gunzip_output_is_bounded_per_piece():
    bomb = gzip.compress(b"\n" * (50 * 1024 * 1024))
    pieces = gunzip([bomb], pytest.fail)
    assert max(len(next(pieces)) for _ in range(10)) <= 64 * 1024


def test_gunzip_handles_members_split_across_chunks():
    data = gzip.compress(b"one\n") + gzip.compress(b"two\n") + zlib.compress(b"")[:0]
    assert b"".join(gunzip((data[i : i + 3] for i in range(0, len(data), 3)), pytest.fail)) == b"one\ntwo\n"


@pytest.mark.parametrize("cut", [1, 2, 3, 7, 50, 200, 333, 1000])
def test_any_cut_inside_a_member_loses_only_what_was_cut(tmp_path, cut):
    path = tmp_path / "r.gz"
    lines = [event_line(event(T0 + i, i, args="x" * (i % 7) * 40)) for i in range(200)]
    gzip_session(path, lines[:100], close=False)
    gzip_session(path, lines[100:150], close=False)  # one write of 50 events, then a crash
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - cut])
    gzip_session(path, ["", *lines[150:]])
    _, seen = replay(str(path))
    clocks = [e["clock"] for e in seen]
    assert clocks[:100] == list(range(100))  # everything written before the damaged write
    assert clocks[-50:] == list(range(150, 200))  # and the whole next session
    assert len(clocks) == len(set(clocks))


def test_after_a_failed_write_a_gzip_recording_starts_a_new_member(tmp_path, monkeypatch):
    path = tmp_path / "r.gz"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    sink = GzipSink(fd)
    sink.write(event_line(event(T0, 1)) + "\n")
    real_write = os.write
    calls = []

    def half_then_full(fd, data):
        if not calls:
            calls.append(1)
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError):
        sink.write(event_line(event(T0 + 1, 2)) + "\n")
    monkeypatch.undo()
    sink.write(event_line(event(T0 + 2, 3)) + "\n")
    sink.close()
    _, seen = replay(str(path))
    assert [e["clock"] for e in seen] == [1, 3]


def test_a_paced_replay_hands_each_event_over_before_waiting_for_the_next(tmp_path):
    """Batching must not hold an event of a paced replay back until a run fills."""
    path = write(tmp_path / "r", event_line(event(T0, clock=1)), event_line(event(T0 + 3600, clock=2)))
    seen = []
    source = ReplaySource(path, Ingest(seen.append, batch=INGEST_BATCH), speed=1.0)
    stop = threading.Event()
    runner = threading.Thread(target=source.run, args=(stop,), daemon=True)
    runner.start()
    wait_until(lambda: len(seen) == 1, 10)  # the next is an hour away
    stop.set()
    runner.join(10)
    assert not runner.is_alive() and [e["uuid"] for e in seen] == ["u1"]
