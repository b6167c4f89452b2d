"""What the reader process sends evtop: length-prefixed ``marshal`` frames on a pipe.

``marshal`` is the fastest way CPython has to pass plain data (dicts, lists, strings,
numbers) between two interpreters of the same version, and both ends are evtop: the
child is started with the parent's own interpreter, and the data it sends are events
that already passed the validation boundary. Nothing from the broker is ever read with it.

Each frame is a tuple whose first item names its kind.
"""

from __future__ import annotations

import logging
import marshal
import os
import struct
import threading
from dataclasses import asdict
from typing import Any, Final, NamedTuple

from evtop.broker.config import BrokerConfig, DurableQueue
from evtop.broker.status import Backoff

#: ``(SETUP, broker config fields, wakeup, accept_msgpack, batch, log levels, backoff)``: the one frame
#: evtop sends the child, on its stdin (see :func:`setup`).
SETUP: Final = "setup"
#: ``(EVENTS, events, counts, last_message_at)``: validated events, and what the child's
#: ingest counted since the frame before (:meth:`~evtop.events.stats.IngestStats.counts`).
EVENTS: Final = "events"
#: ``(STATUS, method, args)``: a :class:`~evtop.broker.status.ConnectionStatus` transition.
STATUS: Final = "status"
#: ``(LOG, level, logger name, message)``: a log record, formatted.
LOG: Final = "log"
#: ``(REFUSED, message)``: the broker refused what no retry can change; the child ends.
REFUSED: Final = "refused"
#: ``(CRASHED, traceback)``: the child failed unexpectedly and ends.
CRASHED: Final = "crashed"

_HEADER: Final = struct.Struct("<I")
#: A frame longer than this is a broken stream, not data: a batch of 256 events at
#: the normalizer's size caps stays far below it.
MAX_FRAME: Final = 1 << 30


class Setup(NamedTuple):
    """What the child is told to read, and how (see :func:`setup`)."""

    config: BrokerConfig
    wakeup: bool
    accept_msgpack: bool
    batch: int
    levels: dict[str, int]
    backoff: Backoff


class FrameError(ValueError):
    """The pipe carried something that is not a frame."""


def encode(frame: tuple[Any, ...]) -> bytes:
    """One frame, ready to write; ValueError when it holds a value marshal cannot carry."""
    data = marshal.dumps(frame)
    return _HEADER.pack(len(data)) + data


class FrameWriter:
    """Writes whole frames to a file descriptor, one writer at a time (any thread may log)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()

    def send(self, frame: tuple[Any, ...]) -> None:
        self.write(encode(frame))

    def write(self, data: bytes) -> None:
        """Blocks while the pipe is full: evtop's pace then holds the reading back, as the
        broker's own flow control holds back a consumer that reads in evtop's thread."""
        with self._lock:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]


class FrameReader:
    """Cuts the bytes read from the pipe into frames, whatever the reads' sizes."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[tuple[Any, ...]]:
        """The frames that ``chunk`` completed, in order."""
        buffer = self._buffer
        buffer += chunk
        frames = []
        start = 0
        while len(buffer) - start >= _HEADER.size:
            (size,) = _HEADER.unpack_from(buffer, start)
            if size > MAX_FRAME:
                raise FrameError(f"a frame of {size:,} bytes")
            end = start + _HEADER.size + size
            if end > len(buffer):
                break
            try:
                frame = marshal.loads(buffer[start + _HEADER.size : end])
            except (ValueError, EOFError, TypeError) as exc:
                raise FrameError(f"an unreadable frame ({exc})") from None
            if type(frame) is not tuple or not frame:
                raise FrameError(f"a frame of type {type(frame).__name__}")
            frames.append(frame)
            start = end
        del buffer[:start]
        return frames

    @property
    def pending(self) -> int:
        """Bytes of a frame not yet complete."""
        return len(self._buffer)


def setup(
    config: BrokerConfig,
    *,
    wakeup: bool,
    accept_msgpack: bool,
    batch: int,
    levels: dict[str, int],
    backoff: Backoff,
) -> bytes:
    """The frame evtop writes to the child's stdin first: what to read, and how.

    ``levels``: logger name (``""`` for the root) -> level, as set in evtop (see
    :func:`log_levels`), so that the child forwards the records evtop would keep.
    ``backoff``: the child's reconnects follow the same (its random draws are its own).

    ValueError when the configuration holds a value marshal cannot carry (an app's
    transport options may hold any Python object): evtop then reads in a thread.
    """
    pace = (backoff.base, backoff.factor, backoff.cap, backoff.jitter, backoff.healthy_after)
    return encode((SETUP, asdict(config), wakeup, accept_msgpack, batch, levels, pace))


def read_setup(frame: tuple[Any, ...]) -> Setup:
    """What the :func:`setup` frame says."""
    kind, fields, wakeup, accept_msgpack, batch, levels, pace = frame
    if kind != SETUP:
        raise FrameError(f"expected the setup frame, got {kind!r}")
    queue = fields.pop("durable_queue")
    config = BrokerConfig(**fields, durable_queue=None if queue is None else DurableQueue(**queue))
    base, factor, cap, jitter, healthy_after = pace
    backoff = Backoff(base=base, factor=factor, cap=cap, jitter=jitter, healthy_after=healthy_after)
    return Setup(config, wakeup, accept_msgpack, batch, levels, backoff)


def log_levels() -> dict[str, int]:
    """The level of the root logger and of every logger given one of its own."""
    levels = {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and logger.level
    }
    levels[""] = logging.getLogger().level
    return levels
