"""The output thread: never blocks the consumer, counts what it drops, survives broken pipes."""

from __future__ import annotations

import errno
import gzip
import io
import os
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evtop.linewriter import FdSink, GzipSink, LineWriter, TextSink, stream_sink
from evtop.record.replay import gunzip
from tests.support.live import wait_until


class GatedSink:
    """Records writes; blocks while the gate is closed (a stdout nobody reads)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.writes: list[str] = []
        self.closed = False

    def write(self, text: str) -> None:
        self.gate.wait()
        self.writes.append(text)

    def write_lines(self, lines: list[str]) -> None:
        self.write("".join(f"{line}\n" for line in lines))

    def close(self) -> None:
        self.closed = True

    @property
    def lines(self) -> list[str]:
        return "".join(self.writes).splitlines()


class FailingSink(GatedSink):
    def __init__(self, error: OSError, times: int = 1) -> None:
        super().__init__()
        self.error = error
        self.times = times

    def write(self, text: str) -> None:
        if self.times:
            self.times -= 1
            raise self.error
        super().write(text)


def blocked_writer(first: str, **kwargs: Any) -> tuple[GatedSink, LineWriter]:
    """A writer whose thread took ``first`` and is now blocked writing it (stdout not read)."""
    sink = GatedSink()
    sink.gate.clear()
    writer = LineWriter(sink, **kwargs)
    writer.put(first)
    wait_until(lambda: writer.pending == 0, 5)
    return sink, writer


def test_lines_come_out_in_order_and_close_finishes_the_sink():
    sink = GatedSink()
    writer = LineWriter(sink, label="test")
    for i in range(1000):
        assert writer.put(f"line {i}")
    assert writer.close(timeout=5)
    assert sink.lines == [f"line {i}" for i in range(1000)]
    assert sink.closed and writer.written == 1000 and writer.dropped == 0


def test_a_stuck_sink_never_blocks_put_and_overflow_is_counted(caplog):
    sink, writer = blocked_writer("first", label="stuck", max_lines=100)
    results = []
    putter = threading.Thread(target=lambda: results.append(sum(writer.put(f"x{i}") for i in range(5000))))
    putter.start()
    putter.join(timeout=60)  # a put that blocked on the gated sink would never return
    assert not putter.is_alive()
    accepted = results[0]
    assert accepted == 100 and writer.dropped == 4900
    assert "stuck is not keeping up: 1 lines dropped so far" in caplog.text
    assert caplog.text.count("not keeping up") == 1  # rate-limited
    sink.gate.set()
    assert writer.close(timeout=5)
    assert sink.lines == ["first"] + [f"x{i}" for i in range(100)]


def test_put_many_takes_what_fits_in_order_and_counts_the_rest(caplog):
    sink, writer = blocked_writer("first", label="many", max_lines=4, max_chars=10)
    assert writer.put_many(["ab", "cd"]) == 2  # the fast path: all fit
    assert writer.put_many(["123456789", "e", "f", "g"]) == 2  # 9 chars do not fit; 'g' is the 5th line
    assert writer.put_many([]) == 0
    assert writer.dropped == 2 and "many is not keeping up: 2 lines dropped so far" in caplog.text
    sink.gate.set()
    assert writer.close(timeout=5)
    assert sink.lines == ["first", "ab", "cd", "e", "f"]
    assert writer.put_many(["late"]) == 0  # closed: not written, and counted
    assert writer.losses() == {"dropped while it lagged": 2, "put after closing": 1}


def test_the_queue_is_bounded_in_characters_too():
    sink, writer = blocked_writer("a", label="big", max_chars=1000)
    assert writer.put("x" * 600) and not writer.put("y" * 600) and writer.put("z" * 400)
    sink.gate.set()
    writer.close(timeout=5)
    assert writer.dropped == 1


def test_a_close_that_cannot_finish_gives_up_after_its_timeout():
    sink = GatedSink()
    sink.gate.clear()
    writer = LineWriter(sink, label="stuck")
    writer.put("a")
    abort = threading.Event()
    threading.Timer(0.2, abort.set).start()
    began = time.monotonic()
    assert not writer.close(timeout=None, abort=abort)
    assert time.monotonic() - began < 2
    assert not writer.close(timeout=0.1)
    sink.gate.set()


def test_lines_of_a_write_that_never_returned_are_counted_as_lost():
    sink, writer = blocked_writer("in flight", label="stuck", max_lines=3)
    accepted = sum(writer.put(f"q{i}") for i in range(5))
    assert accepted == 3
    assert not writer.close(timeout=0.1)
    assert writer.losses(finished=False) == {
        "dropped while it lagged": 2,
        "still queued at exit": 3,
        "in a write that never finished": 1,
    }
    sink.gate.set()
    assert writer.close(timeout=5)
    assert writer.losses() == {"dropped while it lagged": 2}


def test_broken_pipe_stops_the_writer_for_good():
    broken = threading.Event()
    writer = LineWriter(
        FailingSink(BrokenPipeError(errno.EPIPE, "Broken pipe")), label="p", on_broken=broken.set
    )
    writer.put("a")
    assert broken.wait(5)
    assert writer.broken and not writer.put("b")
    assert writer.close(timeout=5)


def test_other_write_errors_are_counted_and_writing_goes_on(caplog):
    sink = FailingSink(OSError(errno.ENOSPC, "No space left on device"))
    writer = LineWriter(sink, label="disk")
    writer.put("lost")
    wait_until(lambda: writer.failed == 1, 5)
    writer.put("kept")
    assert writer.close(timeout=5)
    assert sink.lines == ["kept"] and writer.written == 1
    assert "cannot write to disk (No space left on device): 1 lines lost so far" in caplog.text


def test_disk_full_on_a_real_descriptor_is_counted():
    fd = os.open("/dev/full", os.O_WRONLY)
    writer = LineWriter(FdSink(fd, owned=True), label="/dev/full")
    writer.put("x")
    assert writer.close(timeout=5)
    assert writer.failed == 1 and writer.written == 0


def test_each_line_reaches_the_pipe_without_waiting_for_the_next():
    read, write = os.pipe()
    try:
        writer = LineWriter(FdSink(write), label="pipe")
        writer.put("one")
        os.set_blocking(read, False)
        assert wait_until(lambda: _read(read), 5) == b"one\n"
        writer.close(timeout=5)
    finally:
        os.close(read)
        os.close(write)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 100)
    except BlockingIOError:
        return b""


def test_epipe_on_a_real_pipe_silences_the_descriptor():
    read, write = os.pipe()
    os.close(read)
    broken = threading.Event()
    writer = LineWriter(FdSink(write), label="pipe", on_broken=broken.set)
    writer.put("nobody reads this")
    assert broken.wait(5)
    os.write(write, b"now /dev/null: no EPIPE\n")  # would raise BrokenPipeError without the redirect
    os.close(write)


def test_ascii_output_escapes_instead_of_raising(tmp_path):
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    sink = FdSink(fd, "ascii", owned=True)
    sink.write("caf\u00e9 \u240a \U0001f600 \ud800\n")
    sink.close()
    assert path.read_bytes() == b"caf\\xe9 \\u240a \\U0001f600 \\ud800\n"


def test_text_streams_without_descriptor_are_written_safely():
    out = io.StringIO()
    assert isinstance(stream_sink(out), TextSink)
    stream_sink(out).write("\u240a \ud800\n")
    assert out.getvalue() == "\u240a \ud800\n"
    raw = io.BytesIO()
    ascii_stream = io.TextIOWrapper(raw, encoding="ascii")
    stream_sink(ascii_stream).write("\u00e9\n")
    assert raw.getvalue() == b"\\xe9\n"


def test_stream_sink_uses_the_descriptor_and_flushes_earlier_text(tmp_path):
    with open(tmp_path / "f", "w", encoding="utf-8") as stream:
        stream.write("before\n")
        sink = stream_sink(stream)
        assert isinstance(sink, FdSink)
        sink.write("after\n")
    assert (tmp_path / "f").read_text() == "before\nafter\n"


def test_gzip_output_is_readable_after_every_write_and_valid_when_closed(tmp_path):
    path = tmp_path / "r.gz"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    sink = GzipSink(fd)
    sink.write("a\n")
    sink.write("b\n")
    crashed = path.read_bytes()  # what a kill -9 here would leave: no gzip trailer
    assert b"".join(gunzip([crashed], pytest.fail)) == b"a\nb\n"
    with pytest.raises(EOFError):
        gzip.decompress(crashed)
    sink.close()
    assert gzip.decompress(path.read_bytes()) == b"a\nb\n"


LINES = st.lists(
    st.text(st.characters(blacklist_categories=("Cc",)) | st.sampled_from("é␊\ud800"), max_size=8)
)


def sink_bytes(
    make_sink: Any, tmp_path: Any, name: str, calls: list[tuple[str, Any]], damaged: bool
) -> bytes:
    path = tmp_path / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    sink = make_sink(fd)
    sink._damaged = damaged  # as after a failed write
    for method, arg in calls:
        getattr(sink, method)(arg)
    os.close(fd)
    return path.read_bytes()


@settings(max_examples=150, deadline=None)
@given(st.lists(LINES, min_size=1, max_size=3), st.booleans())
def test_writing_lines_gives_the_bytes_of_writing_them_joined(tmp_path_factory, batches, damaged):
    """``write_lines`` (line by line for stateless codecs, joined otherwise) puts out exactly
    what one ``write`` of the joined lines did, in every encoding and after a failure."""
    tmp_path = tmp_path_factory.mktemp("sinks")
    makers = {
        f"fd-{encoding}": lambda fd, e=encoding: FdSink(fd, e)
        for encoding in ("utf-8", "UTF8", "ascii", "latin-1", "utf-16")
    }
    makers["gzip"] = lambda fd: GzipSink(fd, owned=False)
    for name, make in makers.items():
        by_lines = sink_bytes(make, tmp_path, f"{name}-a", [("write_lines", b) for b in batches], damaged)
        joined = sink_bytes(
            make,
            tmp_path,
            f"{name}-b",
            [("write", "".join(f"{line}\n" for line in b)) for b in batches],
            damaged,
        )
        assert by_lines == joined, name
