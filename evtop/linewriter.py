"""Lines out to stdout or a file from a thread of their own, so the consumer never waits.

The thread that consumes events must never block on output: a stuck ``| less`` or a
stalled disk would stop it draining the broker, and Redis disconnects a pub/sub
subscriber whose output buffer grows past its limit. So :class:`LineWriter`
puts lines into a bounded queue (bounded in lines *and* characters: events can be
large) and one writer thread empties it; when the queue is full the line is dropped and
counted, and the count reported on stderr (rate-limited) and once more at the end.

The writer takes everything queued at once and writes it with one ``write``. A line that
arrives alone is written at once, as ``celery events --dump`` flushes every line; during
a burst the writer lets lines gather for :data:`COALESCE` seconds between writes, since
waking up for every few lines would take the GIL from the consumer thousands of times a
second (about a tenth of the throughput). Output goes straight to the file descriptor
(no Python buffer whose lock a blocked thread could hold at interpreter exit), encoded
with ``backslashreplace`` so an ASCII stdout (``LANG=C``) never raises
``UnicodeEncodeError``.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import logging
import os
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Protocol, TextIO

from evtop.logs import RateLimitedLogger

logger = RateLimitedLogger(logging.getLogger(__name__))

MAX_LINES = 10_000
MAX_CHARS = 16 * 1024 * 1024
#: Seconds the writer lets a burst of lines gather between two writes.
COALESCE = 0.005
_UTF8 = frozenset({"utf-8", "utf8"})
#: Encodings (codec names) in which a text encodes as the concatenation of its parts
#: encoded alone: no state, no byte order mark.
_STATELESS = frozenset({"utf-8", "ascii"})


class Sink(Protocol):
    def write(self, text: str) -> None:
        """Write ``text`` (whole lines) and push it to the OS; raise ``OSError`` on failure."""

    def write_lines(self, lines: Sequence[str]) -> None:
        """Write each of ``lines`` followed by a newline, as one :meth:`write`."""

    def close(self) -> None:
        """Finish the output (e.g. the gzip trailer); called once, after the last write."""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class FdSink:
    """Encoded text straight to a file descriptor.

    After a failed write (disk full) part of a line may be on disk: the next write
    starts on a new line, so that damage stays one bad line.
    """

    def __init__(self, fd: int, encoding: str = "utf-8", *, owned: bool = False) -> None:
        self.fd = fd
        self.encoding = encoding
        self.owned = owned
        self._damaged = False
        try:
            self._by_line = codecs.lookup(encoding).name in _STATELESS
        except LookupError:  # fails on the first write, as it always did
            self._by_line = False

    def write(self, text: str) -> None:
        self._send(self._encode("\n" + text if self._damaged else text))

    def write_lines(self, lines: Sequence[str]) -> None:
        if self._by_line and not all(map(str.isascii, lines)):
            # Line by line (in C): one non-ASCII line (a traceback's ␊) would otherwise
            # widen the whole batch and send all of it through the slow per-character
            # encoder; alone, ASCII lines are copies. The same bytes: no codec state.
            encoded = map(str.encode, lines, repeat(self.encoding), repeat("backslashreplace"))
            parts = [b"", *encoded, b""] if self._damaged else [*encoded, b""]
            self._send(self._pack(b"\n".join(parts)))
        else:
            self.write("\n".join([*lines, ""]))

    def _encode(self, text: str) -> bytes:
        return self._pack(text.encode(self.encoding, "backslashreplace"))

    def _pack(self, data: bytes) -> bytes:
        """What goes to the file for ``data``, the encoded text."""
        return data

    def _send(self, data: bytes) -> None:
        self._damaged = True
        _write_all(self.fd, data)
        self._damaged = False

    def close(self) -> None:
        if self.owned:
            os.close(self.fd)


class GzipSink(FdSink):
    """gzip to a file descriptor, sync-flushed after every write.

    A sync flush makes everything written so far decodable, so a crash loses at most
    the write in progress; readers (:mod:`evtop.record.replay`) accept the truncated
    tail this leaves. Each session, and each restart after a failed write, is a new
    gzip member; concatenated members are valid gzip.
    """

    def __init__(self, fd: int, *, owned: bool = True) -> None:
        super().__init__(fd, "ascii", owned=owned)
        self._compressor = zlib.compressobj(6, zlib.DEFLATED, 31)

    def _pack(self, data: bytes) -> bytes:
        if self._damaged:  # the member on disk is broken: start a new one
            self._compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
        compressor = self._compressor
        return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)

    def close(self) -> None:
        try:
            if not self._damaged:
                _write_all(self.fd, self._compressor.flush(zlib.Z_FINISH))
        finally:
            super().close()


class TextSink:
    """A text stream without a file descriptor (a ``StringIO`` in tests, an IDE console)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        encoding = (getattr(stream, "encoding", None) or "utf-8").lower()
        self.encoding = None if encoding.replace("_", "-") in _UTF8 else encoding

    def write(self, text: str) -> None:
        if self.encoding is not None:
            text = text.encode(self.encoding, "backslashreplace").decode(self.encoding)
        self.stream.write(text)
        self.stream.flush()

    def write_lines(self, lines: Sequence[str]) -> None:
        self.write("\n".join([*lines, ""]))

    def close(self) -> None:
        pass


def stream_sink(stream: TextIO) -> Sink:
    """The fastest safe sink for ``stream``: its file descriptor when it has one."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return TextSink(stream)
    stream.flush()  # anything already written through the stream goes first
    return FdSink(fd, getattr(stream, "encoding", None) or "utf-8")


def silence_fd(fd: int) -> None:
    """Point ``fd`` at /dev/null: after EPIPE, nothing (not even the exit-time flush) errs."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)


class LineWriter:
    """Bounded queue of lines and the thread that writes them to a :class:`Sink`.

    ``put`` is safe from any thread and never blocks. A broken pipe ends the writer for
    good (``broken``, ``on_broken``); other ``OSError`` (disk full, I/O error) cost the
    lines of that write, are counted in ``failed`` and logged, and writing goes on.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        label: str,
        max_lines: int = MAX_LINES,
        max_chars: int = MAX_CHARS,
        on_broken: Callable[[], object] | None = None,
    ) -> None:
        self.sink = sink
        self.label = label
        self.max_lines = max_lines
        self.max_chars = max_chars
        self.on_broken = on_broken
        self.written = 0
        self.dropped = 0
        self.failed = 0
        self.late = 0
        self.broken = False
        self._in_flight = 0
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._lines: list[str] = []
        self._chars = 0
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"evtop-writer {label}", daemon=True)
        self._thread.start()

    def put(self, line: str) -> bool:
        """Queue one line (without its newline); False if it was dropped."""
        return self.put_many((line,)) == 1

    def put_many(self, lines: Sequence[str]) -> int:
        """Queue lines (without newlines) in order; returns how many were taken.

        One lock round for a whole message's lines: the dump hands each message over in
        one call. Lines that do not fit are dropped and counted, as with :meth:`put`.
        """
        size = sum(map(len, lines))
        with self._lock:
            if self.broken or self._closing:
                if not self.broken:  # a late line (a shutdown race): lost, so counted
                    self.late += len(lines)
                return 0
            queue = self._lines
            if len(queue) + len(lines) <= self.max_lines and self._chars + size <= self.max_chars:
                queue.extend(lines)
                self._chars += size
                taken = len(lines)
            else:  # nearly full: each line that still fits, as one put at a time would
                taken = 0
                for line in lines:
                    if len(queue) < self.max_lines and self._chars + len(line) <= self.max_chars:
                        queue.append(line)
                        self._chars += len(line)
                        taken += 1
                self.dropped += len(lines) - taken
            dropped = self.dropped
        if taken < len(lines):
            logger.warning(
                f"drop:{self.label}", "%s is not keeping up: %d lines dropped so far", self.label, dropped
            )
        if taken and not self._ready.is_set():
            self._ready.set()
        return taken

    @property
    def pending(self) -> int:
        return len(self._lines)

    def losses(self, finished: bool = True) -> dict[str, int]:
        """Lines that never got out, by why; empty when none were lost."""
        why = {
            "dropped while it lagged": self.dropped,
            "lost to write errors": self.failed,
            "still queued at exit": 0 if finished else self.pending,
            # A blocking write to a pipe returns only once all of it is in: until then
            # nothing tells how much the reader has, so the whole batch counts as lost.
            "in a write that never finished": 0 if finished else self._in_flight,
            "put after closing": self.late,
        }
        return {reason: n for reason, n in why.items() if n}

    def _run(self) -> None:
        while True:
            self._ready.wait()
            self._ready.clear()  # before taking the batch, so no wake-up is ever lost
            with self._lock:
                batch, self._lines, self._chars = self._lines, [], 0
                self._in_flight = len(batch)  # under the lock: no moment when they are nowhere
                closing = self._closing
            if batch and not self.broken:
                self._write(batch)
            self._in_flight = 0
            if closing:
                break
            if len(batch) > 1:
                # A burst: let the next lines gather rather than wake up (and take the GIL
                # from the consumer) for every few of them. Single lines still go at once.
                time.sleep(COALESCE)
        self._finish()

    def _write(self, batch: list[str]) -> None:
        try:
            self.sink.write_lines(batch)
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed under us
            code = getattr(exc, "errno", None)
            if code == errno.EPIPE:
                self._broke()
                return
            self.failed += len(batch)
            logger.warning(
                f"fail:{self.label}",
                "cannot write to %s (%s): %d lines lost so far",
                self.label,
                os.strerror(code) if code else type(exc).__name__,
                self.failed,
            )
        else:
            self.written += len(batch)

    def _broke(self) -> None:
        with self._lock:
            self.broken = True
            self._lines, self._chars = [], 0
        if isinstance(self.sink, FdSink):
            silence_fd(self.sink.fd)
        if self.on_broken is not None:
            self.on_broken()

    def _finish(self) -> None:
        try:
            self.sink.close()
        except (OSError, ValueError) as exc:
            if not self.broken:
                logger.warning(f"fail:{self.label}", "cannot finish %s: %s", self.label, exc)

    def close(self, timeout: float | None = None, abort: threading.Event | None = None) -> bool:
        """Write what is queued, finish the sink and stop; True if everything got out.

        Waits up to ``timeout`` seconds (forever if None) or until ``abort`` is set: a
        stdout nobody reads must not keep evtop from exiting when the user asks it to.
        """
        with self._lock:
            self._closing = True
        self._ready.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._thread.is_alive():
            if abort is not None and abort.is_set():
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            self._thread.join(0.1)
        return not self._thread.is_alive()
