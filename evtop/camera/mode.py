"""``evtop -c module.Class``: run a snapshot camera on the event stream, like ``celery events -c``.

The order is celery's ``evcam`` (``celery.events.snapshot``): banner on stdout, a fresh
:class:`~evtop.State`, the camera made with ``(state, app=, freq=, maxrate=, timer=)``,
``install()``, events fed to ``state.event`` until the stream ends, and ``cancel()``,
which takes the final snapshot. Differences: evtop's receiver reconnects after a broker
outage (``evcam`` dies), ``--replay`` ends the run at the end of the file with a final
snapshot holding every replayed event, and a camera that raises is logged, never fatal,
except when its final snapshot fails (exit status 1, the snapshot was lost).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from evtop.camera.celery_compat import camera_app
from evtop.camera.loader import instantiate, load_camera_class
from evtop.camera.timer import Timer
from evtop.env import Environment
from evtop.errors import EvtopError, ExitStatus, describe_error
from evtop.events.state import State
from evtop.files import open_private
from evtop.options import Options
from evtop.pidfile import PidFile
from evtop.record.replay import ReplaySource
from evtop.report import Reporter
from evtop.runner import Ending, event_stream, run_source
from evtop.text.sanitize import sanitize

logger = logging.getLogger(__name__)

#: celery's ``evcam`` banner, with evtop's name: scripts that wait for it keep working.
BANNER = "-> evtop: Taking snapshots with {camera} (every {freq} secs.)"


def _say(env: Environment, message: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        env.stderr.write(f"evtop: {sanitize(message)}\n")
        env.stderr.flush()


def run_camera(options: Options, env: Environment) -> int:
    """Load the camera (a bad one is a usage error before anything starts), then run it."""
    assert options.camera is not None
    camera_class = load_camera_class(options.camera)
    if not options.detach:
        return _run_held(options, env, camera_class)
    from evtop.camera.daemon import detach

    assert options.logfile is not None  # --detach requires it (evtop.cli.resolve)
    log_fd = open_private(options.logfile, option="--logfile")
    pid = detach(lambda ready: _run_held(options, env, camera_class, ready), log_fd)
    _say(
        env, f"camera {options.camera} runs in the background as process {pid}; it logs to {options.logfile}"
    )
    return ExitStatus.OK


def _run_held(
    options: Options, env: Environment, camera_class: type[Any], ready: Callable[[], None] | None = None
) -> int:
    with PidFile(options.pidfile) if options.pidfile else contextlib.nullcontext():
        return shoot(options, env, camera_class, ready)


def shoot(
    options: Options, env: Environment, camera_class: type[Any], ready: Callable[[], None] | None = None
) -> int:
    """Run the camera until the stream ends or a signal; ``ready()`` once it is installed."""
    assert options.camera is not None
    app = camera_app(options, camera_class)
    state = State(max_tasks_in_memory=options.max_tasks, max_workers_in_memory=options.max_workers)
    timer = Timer()
    stop = threading.Event()
    try:
        with event_stream(options, state.event) as (ingest, source):
            status = source.status
            live = None if isinstance(source, ReplaySource) else status
            reporter = Reporter(ingest.stats, status.snapshot().url, status=live, health=ingest.health)
            status.subscribe(reporter.on_status)
            camera = _start(options, camera_class, state, app, timer, env)
            _say(env, f"reading events from {status.snapshot().url} (Ctrl-C to stop)")
            if ready is not None:
                ready()
            try:
                with reporter.running():
                    ending = run_source(source, stop)
            finally:
                _finish(camera, options.camera)
    finally:
        timer.stop()
    if isinstance(source, ReplaySource):
        _say(env, source.summary())
    return ExitStatus.INTERRUPTED if ending is Ending.INTERRUPTED else ExitStatus.OK


def _start(
    options: Options, camera_class: type[Any], state: State, app: Any, timer: Timer, env: Environment
) -> Any:
    """Make the camera, print the banner, install it (evtop's timer unless it brings one).

    The banner comes after the constructor so that a camera refusing evtop's arguments is
    a usage error with nothing on stdout.
    """
    assert options.camera is not None
    camera = instantiate(
        camera_class,
        options.camera,
        state,
        app=app,
        freq=options.frequency,
        maxrate=options.maxrate,
        timer=None if getattr(camera_class, "timer", None) is not None else timer,
    )
    env.stdout.write(BANNER.format(camera=sanitize(options.camera), freq=options.frequency) + "\n")
    env.stdout.flush()
    try:
        camera.install()
    except Exception as exc:
        raise EvtopError(f"camera {options.camera}: install() failed ({describe_error(exc)})") from None
    return camera


def _finish(camera: Any, path: str) -> None:
    """Take the final snapshot; a failure there loses it, so it fails the run."""
    try:
        camera.cancel()
    except Exception as exc:
        logger.debug("final snapshot failed", exc_info=True)
        raise EvtopError(f"camera {path}: the final snapshot failed ({describe_error(exc)})") from None
