"""``evtop -c module.Class``: run a snapshot camera on the event stream, like ``celery events -c``.

The order is celery's ``evcam`` (``celery.events.snapshot``): banner on stdout, a fresh
:class:`~evtop.State`, the camera made with ``(state, app=, freq=, maxrate=, timer=)``,
``install()``, events fed to ``state.event`` until the stream ends, and ``cancel()``,
which takes the final snapshot. Differences: evtop's receiver reconnects after a broker
outage (``evcam`` dies), ``--replay`` ends the run at the end of the file with a final
snapshot holding every replayed event, and a camera that raises is logged, never fatal,
except when its final snapshot fails (exit status 1, the snapshot was lost).

``--sink URL`` (or ``-c`` with a URL) runs the same way with evtop's own sink camera
(:mod:`evtop.camera.sinkcam`) in place of a class: both are a :class:`Setup`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from evtop.camera.celery_compat import camera_app
from evtop.camera.loader import instantiate, load_camera_class
from evtop.camera.timer import Timer
from evtop.env import Environment
from evtop.errors import EvtopError, ExitStatus, describe_error
from evtop.events.pipeline import Handler, Ingest
from evtop.events.state import State
from evtop.files import open_private
from evtop.options import Options
from evtop.pidfile import PidFile
from evtop.record.replay import ReplaySource
from evtop.report import Reporter
from evtop.runner import Ending, EventSource, Liveness, event_stream, new_state, run_source
from evtop.text.sanitize import sanitize

logger = logging.getLogger(__name__)

#: celery's ``evcam`` banner, with evtop's name: scripts that wait for it keep working.
BANNER = "-> evtop: Taking snapshots with {camera} (every {freq} secs.)"


def _say(env: Environment, message: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        env.stderr.write(f"evtop: {sanitize(message)}\n")
        env.stderr.flush()


class Setup(Protocol):
    """One kind of camera, as :func:`shoot` runs it: a ``-c`` class, or the ``--sink`` camera."""

    #: How the banner and messages name the camera.
    label: str

    def handler(self, options: Options, state: State) -> Handler:
        """What the event stream feeds (it applies each event to ``state``)."""

    def create(
        self, options: Options, state: State, timer: Timer, ingest: Ingest, source: EventSource
    ) -> Any:
        """The camera, made but not installed; UsageError when it refuses the arguments."""

    def finish(self, camera: Any) -> None:
        """Take the final snapshot; raise EvtopError when it was lost."""


def run_camera(options: Options, env: Environment) -> int:
    """Load the camera (a bad one is a usage error before anything starts), then run it."""
    setup: Setup
    if options.sinks:
        from evtop.camera.sinkcam import SinkSetup

        setup = SinkSetup(options)
    else:
        setup = ClassSetup(options)
    if not options.detach:
        return _run_held(options, env, setup)
    from evtop.camera.daemon import detach

    assert options.logfile is not None  # --detach requires it (evtop.cli.resolve)
    log_fd = open_private(options.logfile, option="--logfile")
    pid = detach(lambda ready: _run_held(options, env, setup, ready), log_fd)
    _say(env, f"camera {setup.label} runs in the background as process {pid}; it logs to {options.logfile}")
    return ExitStatus.OK


def _run_held(
    options: Options, env: Environment, setup: Setup, ready: Callable[[], None] | None = None
) -> int:
    with PidFile(options.pidfile) if options.pidfile else contextlib.nullcontext():
        return shoot(options, env, setup, ready)


def shoot(options: Options, env: Environment, setup: Setup, ready: Callable[[], None] | None = None) -> int:
    """Run the camera until the stream ends or a signal; ``ready()`` once it is installed."""
    liveness = Liveness(options)
    state = new_state(options, liveness)
    timer = Timer()
    stop = threading.Event()
    try:
        with event_stream(options, setup.handler(options, state), liveness=liveness) as (ingest, source):
            status = source.status
            reporter = Reporter.following(
                ingest, status, replay=isinstance(source, ReplaySource), zone=options.shown_zone(env.environ)
            )
            camera = _start(options, setup, setup.create(options, state, timer, ingest, source), env)
            _say(env, f"reading events from {status.snapshot().url} (Ctrl-C to stop)")
            if ready is not None:
                ready()
            try:
                with reporter.running():
                    ending = run_source(source, stop)
            finally:
                setup.finish(camera)
    finally:
        timer.stop()
    if isinstance(source, ReplaySource):
        _say(env, source.summary())
    return ExitStatus.INTERRUPTED if ending is Ending.INTERRUPTED else ExitStatus.OK


def _start(options: Options, setup: Setup, camera: Any, env: Environment) -> Any:
    """Print the banner and install the camera.

    The banner comes after the constructor so that a camera refusing evtop's arguments is
    a usage error with nothing on stdout.
    """
    env.stdout.write(BANNER.format(camera=sanitize(setup.label), freq=options.frequency) + "\n")
    env.stdout.flush()
    try:
        camera.install()
    except Exception as exc:
        raise EvtopError(f"camera {setup.label}: install() failed ({describe_error(exc)})") from None
    return camera


class ClassSetup:
    """``-c module.Class``: the camera class is loaded now, made with celery's arguments."""

    def __init__(self, options: Options) -> None:
        assert options.camera is not None
        self.label = options.camera
        self.camera_class = load_camera_class(options.camera)

    def handler(self, options: Options, state: State) -> Handler:
        return state.event

    def create(
        self, options: Options, state: State, timer: Timer, ingest: Ingest, source: EventSource
    ) -> Any:
        """The camera, on evtop's timer unless it brings one."""
        return instantiate(
            self.camera_class,
            self.label,
            state,
            app=camera_app(options, self.camera_class),
            freq=options.frequency,
            maxrate=options.maxrate,
            timer=None if getattr(self.camera_class, "timer", None) is not None else timer,
        )

    def finish(self, camera: Any) -> None:
        """Take the final snapshot; a failure there loses it, so it fails the run."""
        try:
            camera.cancel()
        except Exception as exc:
            logger.debug("final snapshot failed", exc_info=True)
            raise EvtopError(
                f"camera {self.label}: the final snapshot failed ({describe_error(exc)})"
            ) from None
