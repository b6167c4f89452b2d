"""``--replay FILE``: a recording, or ``--dump --json`` output, as an event source.

Replay is how users post-mortem an incident and how tests drive every mode without a
broker, so it goes through the same :class:`~evtop.events.pipeline.Ingest` boundary as
live events (in replay mode, keeping the recorded ``clock`` and ``local_received``).

* Pacing follows the recorded ``received`` times divided by ``speed`` (``math.inf``: no
  waiting). A new ``session`` record, or a time that runs backwards, restarts the pacing,
  so the hours between two appended sessions are not waited out. Waits end at once
  when ``stop`` is set.
* Plain or gzip, told apart by content, not by name. After corrupt data, reading resumes
  at the next gzip member. A gzip recording cut short by a crash replays up to the cut,
  then the run fails with one line saying it was truncated (exit status 1), so a script
  cannot take half a recording for the whole.
* A bad line (cut short, not JSON, unknown kind, too long) is counted and skipped;
  :meth:`ReplaySource.summary` reports the counts. A file in which no line at all is an
  evtop record fails at its end ("not an evtop recording", exit status 1). A path that is
  no regular file (a directory, a device such as ``/dev/zero``, a FIFO, a socket), a file
  that cannot be opened, or one whose first record is from a newer schema is a one-line
  usage error (exit status 2) raised when the source is created, before anything starts.
* The status says *connected* while records flow and *stopped* at the end. It runs on the
  recording's clock, and recorded outages (and gaps between sessions) are replayed into
  it, so a UI shows the historical outages where they happened.
"""

from __future__ import annotations

import io
import itertools
import logging
import math
import os
import stat
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from evtop.broker.decode import survey
from evtop.broker.status import ConnectionStatus
from evtop.errors import EvtopError, UsageError
from evtop.events.normalize import is_small
from evtop.events.pipeline import Ingest
from evtop.record.schema import (
    BadRecord,
    EventRecord,
    NewerSchema,
    OutageRecord,
    Record,
    SessionRecord,
    parse,
)
from evtop.text.sanitize import sanitize

logger = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
_MEMBER_MAGIC = b"\x1f\x8b\x08"
_CHUNK = 64 * 1024
#: Read buffer of a recording: at ``--speed max`` the default 8 KB made a system call
#: every 25 events, each waking a thread waiting for the interpreter lock.
_BUFFER = 1024 * 1024
#: How far before detected damage the next gzip member header may start.
_LOOKBACK = 4096
#: Longer lines are skipped. A recorded event is at most a few MB even fully \\u-escaped.
MAX_LINE = 32 * 1024 * 1024
NOT_RECORDING = "evtop was not recording"


class _Gunzip:
    """Streaming decompression of concatenated gzip members, tolerant of damage.

    Output comes in bounded pieces (no decompression bomb). A truncated last member
    yields what it holds. On corrupt data (a member cut short by a crash or a full disk,
    then the next session's member) the output up to the damage is salvaged, and decoding
    resumes at the next member header, searched from just before the damage, since the
    decoder may have consumed a few bytes of the next header as data.
    """

    def __init__(self, on_corrupt: Callable[[], object]) -> None:
        self.on_corrupt = on_corrupt
        self.window = b""  # unconsumed input, after up to _LOOKBACK consumed bytes
        self.pos = 0  # first unconsumed byte in window
        self.member = 0  # where the current member began in window (< 0: trimmed off)
        self.search_from: int | None = None  # set while looking for the next member
        self.decoder = zlib.decompressobj(31)

    def _start_member(self, at: int) -> None:
        self.pos = self.member = at
        self.decoder = zlib.decompressobj(31)

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        trim = max(0, self.pos - _LOOKBACK)
        self.window = self.window[trim:] + chunk
        self.pos -= trim
        self.member -= trim
        if self.search_from is not None:
            self.search_from = max(0, self.search_from - trim)
        while True:
            if self.search_from is not None:
                at = self.window.find(_MEMBER_MAGIC, self.search_from)
                if at < 0:
                    self.pos = max(self.search_from, len(self.window) - len(_MEMBER_MAGIC) + 1)
                    self.search_from = self.pos
                    return
                self.search_from = None
                self._start_member(at)
            data = self.window[self.pos :]
            if not data:
                return
            backup = self.decoder.copy()
            try:
                out = self.decoder.decompress(data, _CHUNK)
            except zlib.error:
                yield from self._salvage(backup, data)
                continue
            if out:
                yield out
            if self.decoder.eof:
                self._start_member(len(self.window) - len(self.decoder.unused_data))
                continue
            self.pos = len(self.window) - len(self.decoder.unconsumed_tail)
            if self.pos == len(self.window) and len(out) < _CHUNK:
                return  # all consumed, nothing pending: wait for more input

    @property
    def mid_member(self) -> bool:
        """The input so far ends inside a member: at the end of the file, a cut-short gzip."""
        return self.search_from is None and not self.decoder.eof and self.pos > self.member

    def _salvage(self, decoder: Any, data: bytes) -> Iterator[bytes]:
        """Re-decode ``data`` a byte at a time up to the damage (rare path)."""
        self.on_corrupt()
        damage = len(data)
        for i in range(len(data)):
            try:
                piece = decoder.decompress(data[i : i + 1])
            except zlib.error:
                damage = i
                break
            if piece:
                yield piece
        damage += self.pos
        self.search_from = max(0, self.member + 1, damage - _LOOKBACK)


def gunzip(chunks: Iterable[bytes], on_corrupt: Callable[[], object]) -> Iterator[bytes]:
    """Decompressed data of a gzip file given as ``chunks``; see :class:`_Gunzip`."""
    inflater = _Gunzip(on_corrupt)
    for chunk in chunks:
        yield from inflater.feed(chunk)


class _GunzipReader(io.RawIOBase):
    """:class:`_Gunzip` as a raw stream, so a buffered reader can split it into lines."""

    def __init__(self, raw: BinaryIO, on_corrupt: Callable[[], object]) -> None:
        super().__init__()
        self._raw = raw
        self.inflater = _Gunzip(on_corrupt)
        chunks = iter(lambda: raw.read(_CHUNK), b"")
        self._pieces = (piece for chunk in chunks for piece in self.inflater.feed(chunk))
        self._left = memoryview(b"")
        #: The file ended inside a gzip member (cut short by a crash or a full disk).
        self.truncated = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._left:
            piece = next(self._pieces, None)
            if piece is None:
                self.truncated = self.inflater.mid_member
                return 0
            self._left = memoryview(piece)
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def read_lines(stream: BinaryIO, max_len: int = MAX_LINE) -> Iterator[bytes | None]:
    """Lines of ``stream``; ``None`` in place of a line longer than ``max_len`` (skipped)."""
    while line := stream.readline(max_len + 1):
        if len(line) > max_len and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = stream.readline(_CHUNK)
            yield None
        else:
            yield line


class _Pacer:
    """Sleeps so that records come out at ``speed`` (finite) times their recorded pace."""

    def __init__(self, speed: float, monotonic: Callable[[], float]) -> None:
        self.speed = speed
        self._monotonic = monotonic
        self._origin: tuple[float, float] | None = None  # (monotonic, recorded) at restart
        self._last = -math.inf

    def restart(self) -> None:
        self._origin = None

    def wait(self, at: float, stop: threading.Event) -> bool:
        """Wait until the record recorded ``at`` is due; False if ``stop`` was set meanwhile."""
        now = self._monotonic()
        if self._origin is None or at < self._last:
            self._origin = (now, at)
        self._last = at
        delay = self._origin[0] + (at - self._origin[1]) / self.speed - now
        return delay <= 0 or not stop.wait(delay)


def _not_a_file(mode: int) -> str | None:
    """What a path that is no regular file is, in words; None for a regular file."""
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return None if stat.S_ISREG(mode) else "not a regular file"


class ReplaySource:
    """Feeds the records of ``path`` into ``ingest``, paced like the original stream."""

    def __init__(
        self,
        path: str,
        ingest: Ingest,
        *,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.ingest = ingest
        self.speed = speed
        self.events = 0
        self.skipped: Counter[str] = Counter()
        self._monotonic = monotonic
        self._now = time.time()
        self._live = False
        self.status = ConnectionStatus(f"replay of {sanitize(path)}", clock=lambda: self._now)
        #: Lines that were an evtop record of any kind (events, sessions, outages).
        self.records = 0
        self.lines = 0
        self._gunzip: _GunzipReader | None = None
        self._stream = self._open(path)
        self._lines = self._checked_lines()

    def _open(self, path: str) -> BinaryIO:
        try:
            kind = _not_a_file(os.stat(path).st_mode)
            if kind:  # refused before open(): opening a FIFO would wait for a writer
                raise self._unusable(f"{kind}, not a recording: give a file")
            raw = io.BufferedReader(io.FileIO(path), _BUFFER)  # closed by run()
        except OSError as exc:
            raise self._unusable(exc) from None
        if raw.peek(2)[:2] == GZIP_MAGIC:
            self._gunzip = _GunzipReader(raw, self._count_corrupt)
            return io.BufferedReader(self._gunzip, _BUFFER)
        return raw

    def _count_corrupt(self) -> None:
        self.skipped["corrupt compressed data"] += 1

    def _unusable(self, why: OSError | str) -> UsageError:
        if isinstance(why, OSError):
            why = (why.strerror or type(why).__name__).lower()
        return UsageError(f"--replay {sanitize(self.path)}: {why}")

    def _checked_lines(self) -> Iterator[bytes | None]:
        """The lines, after refusing a file whose first record needs a newer evtop."""
        lines = read_lines(self._stream)
        try:
            first = next(lines)
            if first is not None:
                parse(first)
        except StopIteration:
            return lines
        except OSError as exc:  # e.g. a directory: open() succeeds, reading fails
            self._stream.close()
            raise self._unusable(exc) from None
        except NewerSchema as exc:
            self._stream.close()
            raise self._unusable(f"{exc}; this evtop reads schema v1") from None
        except BadRecord:
            pass  # counted when replayed
        return itertools.chain([first], lines)

    def _record(self, line: bytes | None) -> tuple[Record | None, bool]:
        """The record on ``line`` (None when there is none: skipped lines are counted),
        and whether the line is small enough that no value in it needs a size check."""
        self.lines += 1
        if line is None:
            self.skipped["line too long"] += 1
            return None, False
        if line.isspace():
            return None, False
        brackets, exact = survey(line)
        try:
            record = parse(line, exact=exact)
        except BadRecord as exc:
            # Only the last line can lack its newline: a file cut short mid-line.
            self.skipped["cut short" if not line.endswith(b"\n") else str(exc)] += 1
            return None, False
        self.records += 1
        return record, is_small(line, brackets)

    def run(self, stop: threading.Event) -> None:
        # Per event as little as possible: at --speed max this loop is the whole run.
        pacer = None if self.speed == math.inf else _Pacer(self.speed, self._monotonic)
        feed = self.ingest.feed_decoded
        status = self.status
        stopped = stop.is_set
        record_on = self._record
        try:
            for line in self._lines:
                if stopped():
                    break
                record, small = record_on(line)
                if type(record) is EventRecord:
                    received = record.received
                    if pacer is not None:
                        self.ingest.flush()  # a paced replay shows each event in its time
                        if not pacer.wait(received, stop):
                            break
                    if self._live:  # _resume, inlined
                        self._now = received
                    else:
                        self._resume(received)
                    self.events += 1
                    status.last_message_at = received
                    feed(record.event, received, small=small)
                elif isinstance(record, OutageRecord):
                    self.ingest.flush()  # the events before it, before the status changes
                    self._outage(record.started, record.ended, record.reason)
                elif isinstance(record, SessionRecord):  # a new run of evtop began
                    self.ingest.flush()
                    if pacer is not None:
                        pacer.restart()
                    if self._live:
                        self._outage(self._now, record.started, NOT_RECORDING)
                    self._resume(record.started)
        except OSError as exc:
            self.skipped["read error"] += 1
            logger.warning("stopped reading %s: %s", self.path, exc)
        finally:
            self.ingest.flush()
            self._stream.close()
            self.status.stopped()
        if not stop.is_set():
            self._check_whole()

    def _check_whole(self) -> None:
        """At the end of the file: a file that was no recording, or one cut short, fails."""
        name = sanitize(self.path)
        if self.lines and not self.records:
            why = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
            raise EvtopError(f"--replay {name}: not an evtop recording (no line was an evtop record: {why})")
        if self._gunzip is not None and self._gunzip.truncated:
            raise EvtopError(
                f"--replay {name}: truncated: the compressed data ends mid-way (cut short by a crash or"
                f" a full disk?); {self.summary()} up to the cut"
            )

    def _resume(self, at: float) -> None:
        self._now = at
        if not self._live:
            self._live = True
            self.status.connected()

    def _outage(self, started: float, ended: float | None, reason: str) -> None:
        self._resume(started)
        self.status.lost(reason, 0.0)
        self._live = False
        if ended is not None:
            self._resume(ended)

    def summary(self) -> str:
        skipped = sum(self.skipped.values())
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        return f"replayed {self.events} events, skipped {skipped} lines" + (f" ({why})" if why else "")
