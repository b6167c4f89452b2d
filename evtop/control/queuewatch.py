"""Queue depths and their consumers, read again and again off the caller's thread.

The TUI's queue screen and the camera's Prometheus metrics want the same thing: every
task queue's depth every few seconds, its change per second, and which workers consume
it (their ``active_queues``). :class:`QueueWatch` reads them on a thread of its own, so
a slow or unreachable broker never holds up a key or a snapshot, and hands each
:class:`QueueReading` to a callback. Reading depths declares, purges and publishes
nothing; asking the workers is one pidbox broadcast, which ``--read-only`` forbids, so a
read-only watch goes without the workers column (and, on RabbitMQ without the management
API, without queue names to ask about).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from evtop.broker.config import BrokerConfig
from evtop.broker.queues import (
    QueueDepth,
    QueueReading,
    is_task_queue,
    lists_queues,
    queue_rows,
    sample,
)
from evtop.control.client import Control
from evtop.control.commands import build_request
from evtop.control.replies import Status
from evtop.errors import EvtopError, describe_error

logger = logging.getLogger(__name__)

#: Seconds between two readings.
INTERVAL = 2.0
#: Seconds to wait for the workers' ``active_queues`` replies.
WORKER_TIMEOUT = 1.0
#: Seconds between two ``active_queues`` broadcasts: which queues a worker consumes
#: changes rarely, and each broadcast reaches every worker.
WORKERS_EVERY = 10.0
READ_ONLY_WORKERS = "--read-only: the workers are not asked which queues they consume"
NO_NAMES = (
    "RabbitMQ lists its queues only through the management API: evtop asks about the queues "
    "the workers consume (give --management-url URL to list them all)"
)


def worker_queues(control: Control, timeout: float = WORKER_TIMEOUT) -> dict[str, list[str]]:
    """Queue name -> the workers consuming it, from one ``active_queues`` broadcast."""
    result = control.send(build_request("active_queues", {}), timeout=timeout)
    consumers: dict[str, list[str]] = {}
    for reply in result.replies:
        if reply.status is Status.DATA and isinstance(reply.value, list):
            for queue in reply.value:
                name = queue.get("name") if isinstance(queue, dict) else None
                if isinstance(name, str) and reply.node not in consumers.get(name, []):
                    consumers.setdefault(name, []).append(reply.node)
    return consumers


class QueueWatch:
    """Reads the queues every ``interval`` seconds while :meth:`wanted` is on."""

    def __init__(
        self,
        config: BrokerConfig,
        deliver: Callable[[QueueReading], None],
        *,
        read_only: bool = False,
        ask_workers: bool = True,
        names: Callable[[], Iterable[str]] | None = None,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``ask_workers``: one ``active_queues`` broadcast per reading (never with
        ``read_only``); ``names``: more queues to read where the broker lists none
        (RabbitMQ without ``config.management_url``), e.g. those the events named."""
        self.config = config
        self.deliver = deliver
        self.read_only = read_only
        self.ask_workers = ask_workers and not read_only
        self.names = names
        self.interval = interval
        self.clock = clock
        self.control = Control(config, read_only=read_only)
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._before: tuple[float, dict[str, QueueDepth]] | None = None
        #: The last ``active_queues`` answer and when it came (monotonic seconds).
        self._workers: tuple[float, dict[str, list[str]]] | None = None

    def wanted(self, on: bool) -> None:
        """Start reading (at once) or pause; the thread starts on the first call with True."""
        if on:
            self._wanted.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="evtop-queues", daemon=True)
                self._thread.start()
        else:
            self._wanted.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wanted.set()  # wake the thread so it sees the stop
        if self._thread is not None:
            self._thread.join(timeout=1)  # a reading stuck on a dead broker ends with the process

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wanted.wait()
            if self._stop.is_set():
                return
            started = time.monotonic()
            self.deliver(self.read())
            self._stop.wait(max(self.interval - (time.monotonic() - started), 0.1))

    def _worker_queues(self) -> dict[str, list[str]]:
        asked = self._workers
        if asked is None or time.monotonic() - asked[0] >= WORKERS_EVERY:
            asked = self._workers = (time.monotonic(), worker_queues(self.control))
        return asked[1]

    def read(self) -> QueueReading:
        """One reading now (on the calling thread); never raises."""
        now = self.clock()
        notes: list[str] = []
        workers: dict[str, list[str]] | None = None
        if self.ask_workers:
            try:
                workers = self._worker_queues()
            except EvtopError as exc:
                notes.append(f"the workers could not be asked for their queues: {exc}")
        elif self.read_only:
            notes.append(READ_ONLY_WORKERS)
        try:
            names: list[str] = []
            listed = lists_queues(self.config)
            if not listed:
                wanted = set(workers or ()) | set(self.names() if self.names is not None else ())
                names = sorted(name for name in wanted if is_task_queue(name))
                if not names:
                    notes.append(NO_NAMES)
            depths, missing = sample(self.config, names) if listed or names else ([], [])
        except EvtopError as exc:
            return QueueReading(now, workers_known=False, note=str(exc), failed=True)
        except Exception as exc:  # a reading must always come back, or the screen waits forever
            logger.debug("reading the queues failed", exc_info=True)
            return QueueReading(now, workers_known=False, note=describe_error(exc), failed=True)
        before_time, before = self._before or (now, {})
        self._before = (now, {depth.name: depth for depth in depths})
        rows = queue_rows(depths, before, now - before_time, workers)
        return QueueReading(now, tuple(rows), workers is not None, "; ".join(notes), missing=tuple(missing))
