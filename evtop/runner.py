"""Shared plumbing of the streaming modes: pick the event source, run it, stop cleanly.

Every mode (dump, camera, TUI) consumes the same sources through the same
:class:`~evtop.events.pipeline.Ingest` boundary; this module is the one place that knows
how to build them from :class:`~evtop.options.Options`. Modes get their events
through :func:`event_stream`, which also wires ``--record`` in, so no mode can forget it.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Protocol

from evtop.broker.status import ConnectionStatus
from evtop.broker.urls import REDIS_SCHEMES, broker_scheme, url_secrets
from evtop.errors import EvtopError
from evtop.events.pipeline import Handler, Ingest
from evtop.events.state import State
from evtop.options import Mode, Options, Reader, Source
from evtop.processors import usable_processors

#: Events a mode that keeps a State is handed at a time (a source also hands over what
#: each read brought): decoding and validating a run, then applying it, measured a tenth
#: faster than event by event on a replay (runs of 64 to 1,024 tried; 256 best).
INGEST_BATCH = 256


#: The modes that keep a State, which a reader process can feed (``--dump`` hands each
#: message's lines over as it ends).
_STATE_MODES = frozenset({Mode.TUI, Mode.CAMERA, Mode.DOCTOR})


class EventSource(Protocol):
    status: ConnectionStatus

    def run(self, stop: threading.Event) -> None:
        """Deliver events until ``stop`` is set (or, for a file, until it ends)."""


def make_ingest(
    options: Options, handler: Handler, after_message: Callable[[], object] | None = None
) -> Ingest:
    return Ingest(
        handler,
        accept_msgpack=options.broker.accept_msgpack,
        replay=options.source is Source.REPLAY,
        after_message=after_message,
        batch=1 if after_message is not None else INGEST_BATCH,
    )


class Liveness:
    """The clocks a :class:`~evtop.events.state.State` judges worker liveness by
    (``State(clock=liveness.wall, monotonic=liveness.monotonic)``) for one run of a mode.

    Live: celery's rule against the wall clock, and a monotonic clock liveness follows
    instead (a wall-clock step flips no worker). On a replay: the recording's time, the
    newest receive time replayed so far, so a recording's workers read online or offline
    as they were then, not against today's clock; it is the time Health's findings (LOST,
    the doctor's online) already follow. The State exists before the source (its handler
    applies the source's events), so :func:`event_stream` hands that time over once the
    source's ingest exists; until then no worker is known.
    """

    def __init__(self, options: Options) -> None:
        self.replay = options.source is Source.REPLAY
        self.monotonic: Callable[[], float] | None = None if self.replay else time.monotonic
        self._recorded: Callable[[], float] | None = None

    def wall(self) -> float:
        recorded = self._recorded
        return time.time() if recorded is None else recorded()

    def follow(self, ingest: Ingest) -> None:
        """Judge by the recording's time, as ``ingest``'s Health reads it (a replay only)."""
        if self.replay:
            self._recorded = ingest.health.now


def new_state(options: Options, liveness: Liveness) -> State:
    """A mode's State: as many tasks and workers as ``options`` keep, worker liveness
    judged by ``liveness`` (pass the same to :func:`event_stream`)."""
    return State(
        max_tasks_in_memory=options.max_tasks,
        max_workers_in_memory=options.max_workers,
        clock=liveness.wall,
        monotonic=liveness.monotonic,
    )


def open_source(options: Options, ingest: Ingest) -> EventSource:
    if options.source is Source.DEMO:
        from evtop.demo.source import DemoSource

        return DemoSource(ingest, wakeup=options.wakeup)
    if options.source is Source.REPLAY:
        from evtop.record.replay import ReplaySource

        assert options.replay is not None
        return ReplaySource(options.replay, ingest, speed=options.speed)
    if reads_in_process(options, ingest):
        from evtop.events.process.source import ProcessReceiver

        try:
            return ProcessReceiver(options.broker, ingest, wakeup=options.wakeup)
        except ValueError:  # the app's transport options hold objects no other process can get
            if options.reader is Reader.PROCESS:
                raise EvtopError(
                    "--reader process: the broker's transport options cannot be handed to another"
                    " process; use --reader thread"
                ) from None
    from evtop.events.receiver import Receiver  # kombu: imported only for a live broker

    return Receiver(options.broker, ingest, wakeup=options.wakeup)


def reads_in_process(options: Options, ingest: Ingest) -> bool:
    """Whether a second process reads the broker (``--reader``; see :mod:`evtop.events.process`).

    ``auto`` picks one where it was measured to pay: on Redis, whose socket evtop reads
    itself, with two processors free, for the modes that keep a State. msgpack's
    extension types cannot cross to evtop (such events would be dropped).
    """
    if options.source is not Source.BROKER or options.mode not in _STATE_MODES or ingest.after_message:
        return False
    if options.reader is not Reader.AUTO:
        return options.reader is Reader.PROCESS
    broker = options.broker
    return (
        broker_scheme(broker.url) in REDIS_SCHEMES  # where --queue is refused: it needs RabbitMQ
        and not broker.accept_msgpack
        and bool(sys.executable)
        and usable_processors() >= 2
    )


@contextmanager
def event_stream(
    options: Options,
    handler: Handler,
    after_message: Callable[[], object] | None = None,
    *,
    liveness: Liveness | None = None,
) -> Iterator[tuple[Ingest, EventSource]]:
    """The ingest boundary and source for ``options``, recording with ``--record``.

    ``liveness``: the clocks of the State the handler applies events to, set to follow
    the source's time (see :class:`Liveness`).

    ``after_message`` runs once the events of each message were handled (see
    :class:`~evtop.events.pipeline.Ingest`).

    The recording file is opened first, so a refused path fails before anything starts;
    it is finished when the block ends.
    """
    recorder = None
    if options.record is not None:
        from evtop.record.recorder import Recorder

        recorder = Recorder(options.record, secrets=url_secrets(options.broker.url))
        handler = recorder.wrap(handler)
    try:
        ingest = make_ingest(options, handler, after_message)
        if liveness is not None:
            liveness.follow(ingest)
        source = open_source(options, ingest)
        source.status.subscribe(ingest.health.on_status)
        if recorder is not None:
            recorder.follow(source.status)
        yield ingest, source
    finally:
        if recorder is not None:
            recorder.close()


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGHUP set ``stop`` (SIGINT arrives as KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Ending(Enum):
    """How a source's run ended, which decides how a mode finishes and its exit status."""

    #: The source ran out (the end of a replayed file): finish the output completely.
    ENDED = "ended"
    #: ``stop`` was set (SIGTERM, SIGHUP, a reader that went away): exit promptly, status 0.
    STOPPED = "stopped"
    #: Ctrl-C: exit promptly with status 130, as shells expect of an interrupted command.
    INTERRUPTED = "interrupted"


def run_source(source: EventSource, stop: threading.Event) -> Ending:
    """Run ``source`` in a background thread until it ends, ``stop`` is set or Ctrl-C.

    An :class:`EvtopError` that ended the source (a broker refusal no retry can fix) is
    raised here, once the source has stopped.
    """
    failures: list[EvtopError] = []

    def run() -> None:
        try:
            source.run(stop)
        except EvtopError as exc:
            failures.append(exc)

    thread = threading.Thread(target=run, name="evtop-source", daemon=True)
    ending = Ending.STOPPED
    with stop_on_signals(stop):
        thread.start()
        try:
            while thread.is_alive():
                thread.join(0.2)
            if not stop.is_set():
                ending = Ending.ENDED
        except KeyboardInterrupt:
            ending = Ending.INTERRUPTED
        finally:
            stop.set()
            thread.join(timeout=10)
    if failures:
        raise failures[0]
    return ending
