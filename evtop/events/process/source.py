"""The event source that runs the reader process and applies what it sends.

To evtop's modes it is a source like any other (``status``, ``run(stop)``): the
validated events reach the same :class:`~evtop.events.pipeline.Ingest` -- the stream's
health, the handler, the counts -- the connection's transitions the same
:class:`~evtop.broker.status.ConnectionStatus`, the log records evtop's own handler.
A child that dies is started again after a backoff, an outage like a lost connection;
one the broker refused ends the run with the refusal, as in the reading thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Final

from evtop.broker.config import BrokerConfig
from evtop.broker.refusals import BrokerRefused
from evtop.broker.status import Backoff, ConnectionStatus
from evtop.broker.urls import mask_url
from evtop.errors import describe_error
from evtop.events.pipeline import Ingest
from evtop.events.process import frames

logger = logging.getLogger(__name__)

W_ENDED = "The event reader process ended (%s). Starting it again in %.1f s."
W_CRASHED = "The event reader process failed:\n%s"
#: Seconds between looks at ``stop`` while the child is quiet.
POLL: Final = 0.25
#: Seconds a stopping child gets to end before it is killed (it ends as its input does).
STOP_GRACE: Final = 5.0
_CHUNK: Final = 1 << 20
#: The status transitions the child tells; it never says when reading stops, evtop does.
_TRANSITIONS: Final = frozenset({"connecting", "connected", "lost"})
_PACKAGE_ROOT: Final = str(Path(__file__).resolve().parents[3])
#: The child's program. ``-c`` and ``-m`` put the working directory first on the module
#: path, where a project's own ``redis.py`` would hide the real one: it is taken off
#: first (what Python 3.11's ``-P`` does).
_CHILD: Final = "import sys; del sys.path[0]; from evtop.events.process.child import main; sys.exit(main())"


class _Ended(Exception):
    """The child ended; the message says how."""


class ProcessReceiver:
    """Consumes the broker's events through a reader process (``--reader process``)."""

    def __init__(
        self,
        config: BrokerConfig,
        ingest: Ingest,
        status: ConnectionStatus | None = None,
        *,
        wakeup: bool = True,
        backoff: Backoff | None = None,
    ) -> None:
        """ValueError when ``config`` cannot be handed to another process (see
        :func:`~evtop.events.process.frames.setup`)."""
        self.ingest = ingest
        self.status = status if status is not None else ConnectionStatus(mask_url(config.url))
        self.backoff = backoff if backoff is not None else Backoff()
        self._setup = frames.setup(
            config,
            wakeup=wakeup,
            accept_msgpack=ingest.decoder.accept_msgpack,
            batch=ingest.batch,
            levels=frames.log_levels(),
            backoff=self.backoff,
        )
        #: The running child, for tests and for a look from outside.
        self.child: subprocess.Popen[bytes] | None = None

    def run(self, stop: threading.Event) -> None:
        """Run the child until ``stop`` is set, starting it again whenever it dies.

        Raises :class:`BrokerRefused` when the broker refused what retrying cannot fix.
        """
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    self._session(stop)
                except _Ended as ended:
                    if stop.is_set():
                        break
                    if time.monotonic() - started >= self.backoff.healthy_after:
                        self.backoff.reset()
                    delay = self.backoff.next_delay()
                    logger.warning(W_ENDED, ended, delay)
                    self.status.lost(f"the event reader process ended ({ended})", delay)
                    stop.wait(delay)
        finally:
            self.status.stopped()

    def _session(self, stop: threading.Event) -> None:
        child = self._start()
        try:
            self._follow(child, stop)
        finally:
            self._end(child)

    def _start(self) -> subprocess.Popen[bytes]:
        environ = dict(os.environ)
        # The child imports this very evtop, wherever it was found (an installed copy or a
        # checkout on sys.path).
        environ["PYTHONPATH"] = os.pathsep.join(filter(None, (_PACKAGE_ROOT, environ.get("PYTHONPATH"))))
        try:
            child = subprocess.Popen(
                [sys.executable, "-c", _CHILD],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=environ,
                bufsize=0,
            )
        except OSError as exc:  # out of processes or file descriptors: try again later
            raise _Ended(f"it could not start: {describe_error(exc)}") from None
        self.child = child
        assert child.stdin is not None
        try:
            child.stdin.write(self._setup)
            child.stdin.flush()
        except OSError:  # died at once; its exit status says why
            pass
        return child

    def _follow(self, child: subprocess.Popen[bytes], stop: threading.Event) -> None:
        """Apply what the child sends until ``stop`` is set; raises :class:`_Ended` when it dies."""
        assert child.stdout is not None
        fd = child.stdout.fileno()
        reader = frames.FrameReader()
        ingest = self.ingest
        while not stop.is_set():
            if not select.select([fd], [], [], POLL)[0]:
                continue
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                raise _Ended(self._exit(child))
            try:
                received = reader.feed(chunk)
            except frames.FrameError as exc:
                raise _Ended(f"it sent {exc}") from None
            for frame in received:
                self._apply(frame)
            ingest.flush()  # all that one read brought is applied before the next

    def _apply(self, frame: tuple[Any, ...]) -> None:
        kind = frame[0]
        if kind == frames.EVENTS:
            _, events, counts, last_message_at = frame
            self.status.last_message_at = last_message_at
            self.ingest.feed_forwarded(events, counts)
        elif kind == frames.STATUS:
            _, transition, args = frame
            if transition in _TRANSITIONS:
                getattr(self.status, transition)(*args)
        elif kind == frames.LOG:
            _, level, name, message = frame
            logging.getLogger(name).log(level, "%s", message)
        elif kind == frames.REFUSED:
            raise BrokerRefused(frame[1])
        elif kind == frames.CRASHED:
            logger.error(W_CRASHED, frame[1])

    @staticmethod
    def _exit(child: subprocess.Popen[bytes]) -> str:
        try:
            code = child.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            return "it closed its output"
        return f"killed by signal {-code}" if code < 0 else f"exit status {code}"

    def _end(self, child: subprocess.Popen[bytes]) -> None:
        """Close the child's input, which ends it, and wait for it; kill it if it lingers.

        What it still sends is read and dropped, so that a full pipe cannot hold it up."""
        assert child.stdin is not None and child.stdout is not None
        with contextlib.suppress(OSError):
            child.stdin.close()
        deadline = time.monotonic() + STOP_GRACE
        fd = child.stdout.fileno()
        while child.poll() is None and time.monotonic() < deadline:
            if select.select([fd], [], [], POLL)[0] and not os.read(fd, _CHUNK):
                break
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()
