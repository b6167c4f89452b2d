"""``evtop --sink URL``: the camera that writes snapshots to sinks instead of running a class.

:class:`SinkSetup` is what :mod:`evtop.camera.mode` runs for ``--sink`` (and ``-c`` with a
URL), as it runs a ``module.Class`` for ``-c``: the sinks are made from their URLs before
anything starts (a bad URL is a usage error), the State is fed through a
:class:`~evtop.camera.changes.ChangeTracker`, and the camera is a :class:`SinkCamera`, a
Polaroid whose shutter copies a snapshot under the State's lock and hands it to every
sink's delivery thread after the lock is released. ``-F``, ``--maxrate``, the final
snapshot at exit and the hourly cleanup are the Polaroid's. At the end the final
snapshot must reach every sink within :data:`FINAL_WAIT` seconds; what did not, and any
task change ever lost (a full spool, or more changed tasks between two snapshots than the
camera keeps), fails the run with exit status 1, saying what was lost where.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from evtop.broker.queues import QueueReading, QueueRow
from evtop.broker.urls import mask_url
from evtop.camera.changes import ChangeTracker
from evtop.camera.metrics import EventCounter
from evtop.camera.polaroid import Polaroid
from evtop.camera.sinks.base import Sink, SinkURLError
from evtop.camera.sinks.delivery import Deliveries
from evtop.camera.sinks.registry import Registry
from evtop.camera.snapshots import SnapshotTaker, Taken
from evtop.camera.timer import Timer
from evtop.control.queuewatch import QueueWatch
from evtop.errors import EvtopError, UsageError
from evtop.events.pipeline import Handler, Ingest
from evtop.events.state import State
from evtop.options import Options, Source
from evtop.runner import EventSource
from evtop.text.sanitize import sanitize

logger = logging.getLogger(__name__)

#: Seconds the end of the run waits for the final snapshot to reach every sink.
FINAL_WAIT = 10.0


def make_sinks(urls: tuple[str, ...]) -> list[Sink]:
    """One sink per URL, each URL parsed and checked; a bad one is a UsageError."""
    registry = Registry()
    sinks = []
    for url in urls:
        try:
            sinks.append(registry.create(url))
        except SinkURLError as exc:
            raise UsageError(f"--sink {mask_url(url)}: {exc}") from None
    return sinks


class SinkCamera(Polaroid):
    """Each shutter: a snapshot copied under the State's lock, delivered after it."""

    def __init__(
        self,
        state: State,
        taker: SnapshotTaker,
        deliveries: Deliveries,
        keep: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(state, **kwargs)
        self.taker = taker
        self.deliveries = deliveries
        #: ``--keep`` in seconds: the cleanup pass forgets rows older than that.
        self.keep = keep
        self._taken: Taken | None = None

    def install(self) -> None:
        self.on_cleanup()  # --keep applies from the start, not only after an hour
        super().install()

    def on_shutter(self, state: State) -> None:
        self._taken = self.taker.take(state)

    def capture(self) -> None:
        final = self._final
        super().capture()
        taken, self._taken = self._taken, None
        if taken is not None:
            self.deliveries.put(self.taker.finish(taken, final=final))

    def on_cleanup(self) -> None:
        if self.keep is not None:
            self.deliveries.cleanup(time.time() - self.keep)


class SinkSetup:
    """What the camera mode needs to run the sinks of ``--sink``."""

    def __init__(self, options: Options) -> None:
        self.sinks = make_sinks(options.sinks)
        #: How the banner and messages name this camera.
        self.label = ", ".join(sink.name for sink in self.sinks)
        self.deliveries = Deliveries.of(self.sinks)
        self._tracker: ChangeTracker | None = None
        self._watch: QueueWatch | None = None
        self._queues: tuple[QueueRow, ...] = ()

    def handler(self, options: Options, state: State) -> Handler:
        self._tracker = ChangeTracker(state, EventCounter(), limit=2 * options.max_tasks)
        return self._tracker.handle

    def create(
        self, options: Options, state: State, timer: Timer, ingest: Ingest, source: EventSource
    ) -> SinkCamera:
        assert self._tracker is not None, "handler() comes first"
        self.deliveries.start()
        wanted = options.source is Source.BROKER and any(sink.wants_queues for sink in self.sinks)
        taker = SnapshotTaker(
            self._tracker,
            ingest.stats,
            source.status,
            self.deliveries,
            health=ingest.health,
            queues=(lambda: self._queues) if wanted else None,
        )
        if wanted:
            # Depths only: a camera publishes nothing, so the workers are not asked which
            # queues they consume; on RabbitMQ the queues to read are those the events named.
            self._watch = QueueWatch(
                options.broker,
                self._take_queues,
                read_only=options.read_only,
                ask_workers=False,
                names=lambda: taker.queue_names,
            )
            self._watch.wanted(True)
        return SinkCamera(
            state,
            taker,
            self.deliveries,
            keep=options.keep,
            freq=options.frequency,
            maxrate=options.maxrate,
            timer=timer,
        )

    def _take_queues(self, reading: QueueReading) -> None:
        """On the watch's thread: the rows the next snapshots carry (a failed reading
        keeps the last ones out: a stale depth is no depth)."""
        if reading.failed:
            logger.warning("queue depths: %s", sanitize(reading.note))
        self._queues = tuple(
            QueueRow(sanitize(r.name), r.messages, r.consumers, r.unacked, [], r.change) for r in reading.rows
        )

    def finish(self, camera: SinkCamera) -> None:
        """Take the final snapshot and wait for the sinks; raise saying what was lost."""
        if self._watch is not None:
            self._watch.stop()
        try:
            camera.cancel()
        finally:
            problems = self.deliveries.finish(FINAL_WAIT)
        forgotten = self._tracker.lost if self._tracker is not None else 0
        if forgotten:
            problems.append(f"{forgotten} task changes were forgotten before a snapshot took them")
        if problems:
            raise EvtopError("; ".join(problems))
