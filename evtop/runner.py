"""Shared plumbing of the streaming modes: pick the event source, run it, stop cleanly.

Every mode (dump, camera, TUI) consumes the same sources through the same
:class:`~evtop.events.pipeline.Ingest` boundary; this module is the one place that knows
how to build them from :class:`~evtop.options.Options`. Modes get their events
through :func:`event_stream`, which also wires ``--record`` in, so no mode can forget it.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Protocol

from evtop.broker.status import ConnectionStatus
from evtop.broker.urls import url_secrets
from evtop.errors import EvtopError
from evtop.events.pipeline import Handler, Ingest
from evtop.options import Options, Source


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
    )


def liveness_clock(options: Options) -> Callable[[], float] | None:
    """The monotonic clock worker liveness follows (``State(monotonic=...)``) on a live
    source; None on a replay, whose recorded receive times are all there is."""
    return None if options.source is Source.REPLAY else time.monotonic


def open_source(options: Options, ingest: Ingest) -> EventSource:
    if options.source is Source.DEMO:
        from evtop.demo.source import DemoSource

        return DemoSource(ingest, wakeup=options.wakeup)
    if options.source is Source.REPLAY:
        from evtop.record.replay import ReplaySource

        assert options.replay is not None
        return ReplaySource(options.replay, ingest, speed=options.speed)
    from evtop.events.receiver import Receiver  # kombu: imported only for a live broker

    return Receiver(options.broker, ingest, wakeup=options.wakeup)


@contextmanager
def event_stream(
    options: Options, handler: Handler, after_message: Callable[[], object] | None = None
) -> Iterator[tuple[Ingest, EventSource]]:
    """The ingest boundary and source for ``options``, recording with ``--record``.

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
