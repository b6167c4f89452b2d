"""``--record FILE``: every accepted event, and every outage, as JSON lines in a private file.

Any mode gets this through :func:`evtop.runner.event_stream`, which wraps the mode's
handler with :meth:`Recorder.wrap` and lets the recorder follow the source's status.

Decisions:

* **Append, never truncate**: re-running a command must not destroy the last incident's
  recording. Every run starts with a ``session`` record. A non-empty file first gets a
  newline, so a line a crash left half-written stays one skipped line instead of
  swallowing the new session's first record; ``.gz`` appends a new gzip member.
* The file is created mode 0600 whatever the umask. Anything but a regular file (a
  planted symlink, a directory, a device) is refused in one line with exit status 2
  before anything starts; the target of a symlink is never touched.
* Each line is serialized in the consumer thread, before later consumers (the State)
  could change the event, and written by a :class:`~evtop.linewriter.LineWriter` thread
  behind a bounded queue: a stalled disk costs counted, reported lines, never a stalled
  consumer (which Redis would disconnect). A batch is one ``write``, so a crash leaves at
  most one partial line. Write errors (disk full) are counted and logged, rate-limited,
  and recording goes on.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable

from evtop.broker.status import ConnectionStatus, EndedOutages, Outage
from evtop.events.pipeline import Event, Handler
from evtop.files import open_private
from evtop.linewriter import FdSink, GzipSink, LineWriter, Sink
from evtop.record.schema import event_line, outage_line, session_line
from evtop.text.redact import Redactor
from evtop.text.sanitize import sanitize
from evtop.version import __version__

logger = logging.getLogger(__name__)

#: How long exit waits for the recording to reach the disk.
CLOSE_TIMEOUT = 10.0


def outage_markers(emit: Callable[[str], object], secrets: Iterable[str]) -> EndedOutages:
    """Status listener emitting an ``outage`` record line per outage, secrets masked."""
    redact = Redactor(secrets).redact

    def marker(outage: Outage) -> None:
        emit(outage_line(outage.started, outage.ended, redact(sanitize(outage.reason))))

    return EndedOutages(marker)


class Recorder:
    """Appends the accepted event stream of one evtop run to ``path``."""

    def __init__(self, path: str, *, secrets: Iterable[str] = ()) -> None:
        fd = open_private(path, option="--record")
        appending = os.fstat(fd).st_size > 0
        sink: Sink = GzipSink(fd) if path.endswith(".gz") else FdSink(fd, "ascii", owned=True)
        self.path = path
        self.writer = LineWriter(sink, label=f"recording {path}")
        self._markers = outage_markers(self.writer.put, secrets)
        if appending:
            self.writer.put("")  # ends a half-written last line, see the module docstring

    def wrap(self, handler: Handler) -> Handler:
        """``handler`` preceded by recording the event."""
        put = self.writer.put

        def record(event: Event) -> object:
            put(event_line(event))
            return handler(event)

        return record

    def follow(self, status: ConnectionStatus) -> None:
        """Start the session: mark it, then record every outage ``status`` reports."""
        self.writer.put(session_line(time.time(), status.snapshot().url, __version__))
        status.subscribe(self._markers)

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Finish the file, waiting at most ``timeout`` seconds for a slow disk."""
        losses = self.writer.losses(self.writer.close(timeout))
        if losses:
            reasons = ", ".join(f"{n} {reason}" for reason, n in losses.items())
            logger.warning("recording %s is missing %d lines (%s)", self.path, sum(losses.values()), reasons)
