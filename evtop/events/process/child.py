"""The reader process, started by :mod:`.source` to run :func:`main`.

It reads one setup frame on stdin, then runs evtop's own
:class:`~evtop.events.receiver.Receiver` -- subscribing, reconnecting, waking workers
-- through the same validation boundary as ever, and writes what comes out to stdout
as frames: the validated events with the counts of what was dropped, the connection's
transitions and its log records. evtop applies them as if its own thread had read them.

stdin stays open as long as evtop wants events: its end, whether evtop stopped or died,
ends the child at once. Ctrl-C is evtop's to handle, so the child ignores SIGINT.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import traceback
from typing import Any

from evtop.broker.refusals import BrokerRefused
from evtop.broker.status import ConnectionStatus
from evtop.events.health import Health
from evtop.events.pipeline import Event, Ingest
from evtop.events.process import frames
from evtop.events.receiver import Receiver
from evtop.events.stats import BAD_FIELD


class _Unobserved(Health):
    """The stream's health is evtop's to judge, from the events as it applies them."""

    def observe(self, event: dict[str, Any]) -> None:
        return None


class ForwardingIngest(Ingest):
    """The validation boundary, handing each run of valid events to evtop in one frame."""

    def __init__(
        self, writer: frames.FrameWriter, status: ConnectionStatus, *, accept_msgpack: bool, batch: int
    ) -> None:
        self._out: list[Event] = []
        super().__init__(self._out.append, accept_msgpack=accept_msgpack, batch=batch, health=_Unobserved())
        self._writer = writer
        self._status = status
        self._sent = self.stats.counts()

    def flush(self) -> None:
        super().flush()
        events = self._out[:]
        self._out.clear()
        try:
            data = self._frame(events)
        except ValueError:  # a value marshal cannot carry (msgpack's extension types)
            kept = [event for event in events if _carried(event)]
            self.stats.drop(BAD_FIELD, len(events) - len(kept))
            data = self._frame(kept)
        if data:
            self._writer.write(data)

    def _frame(self, events: list[Event]) -> bytes:
        now = self.stats.counts()
        if not events and now == self._sent:
            return b""
        delta = tuple(a - b for a, b in zip(now, self._sent, strict=True))
        frame = frames.encode((frames.EVENTS, events, delta, self._status.last_message_at))
        self._sent = now
        return frame


def _carried(event: Event) -> bool:
    try:
        frames.encode((event,))
    except ValueError:
        return False
    return True


class ForwardedStatus(ConnectionStatus):
    """The connection's status, each transition also told to evtop (which keeps the
    history across restarts of this process, and decides itself when reading stops)."""

    def __init__(self, url: str, writer: frames.FrameWriter) -> None:
        super().__init__(url)
        self._writer = writer

    def connecting(self) -> None:
        super().connecting()
        self._tell("connecting")

    def connected(self) -> None:
        super().connected()
        self._tell("connected")

    def lost(self, error: str, retry_in: float) -> None:
        super().lost(error, retry_in)
        self._tell("lost", error, retry_in)

    def _tell(self, transition: str, *args: Any) -> None:
        self._writer.send((frames.STATUS, transition, args))


class _LogForwarder(logging.Handler):
    """Every log record goes to evtop, whose handler formats, sanitizes and writes it."""

    def __init__(self, writer: frames.FrameWriter) -> None:
        super().__init__()
        self._writer = writer
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._writer.send((frames.LOG, record.levelno, record.name, self.format(record)))
        except Exception:
            self.handleError(record)


def _setup(reader: frames.FrameReader) -> tuple[Any, ...] | None:
    while True:
        chunk = os.read(0, 65536)
        if not chunk:
            return None
        got = reader.feed(chunk)
        if got:
            return got[0]


def _end_with_input() -> None:
    """evtop closed our stdin, stopping or dead: nothing this process holds is wanted any
    more, and ending at once (the kernel closes the broker's connection) spares evtop's
    exit the wait for the receiver's next look at a stop, up to a second."""
    while os.read(0, 4096):
        pass
    os._exit(0)


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Frames go to a copy of stdout; stdout itself is pointed at nothing, so that a stray
    # print from a library cannot break the frames.
    writer = frames.FrameWriter(os.dup(1))
    nothing = os.open(os.devnull, os.O_WRONLY)
    os.dup2(nothing, 1)
    os.close(nothing)
    frame = _setup(frames.FrameReader())
    if frame is None:  # evtop went away before saying what to read
        return 0
    told = frames.read_setup(frame)
    logging.getLogger().handlers[:] = [_LogForwarder(writer)]
    for name, level in told.levels.items():
        logging.getLogger(name or None).setLevel(level)
    logging.captureWarnings(True)
    threading.Thread(target=_end_with_input, name="evtop-input", daemon=True).start()
    status = ForwardedStatus(told.config.masked_url, writer)
    ingest = ForwardingIngest(writer, status, accept_msgpack=told.accept_msgpack, batch=told.batch)
    receiver = Receiver(told.config, ingest, status, wakeup=told.wakeup, backoff=told.backoff)
    try:
        receiver.run(threading.Event())  # never set: the input's end ends the process
    except BrokerRefused as exc:
        writer.send((frames.REFUSED, str(exc)))
        return 1
    except Exception:
        writer.send((frames.CRASHED, traceback.format_exc()))
        return 1
    return 0  # not reached: the receiver ends by raising, or the process with its input
