"""The settings of one evtop run: what every mode is given, already validated.

This module sits near the bottom of the package and imports nothing above it, so any
mode, the runner and the sources can read :class:`Options` without depending on the
command line: ``evtop.cli`` builds an :class:`Options` from argv and the environment
(every cross-option rule lives there) and hands it down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # names in annotations only: a run imports the modules it uses
    from evtop.broker.config import BrokerConfig
    from evtop.control.commands import Request
    from evtop.zones import Zone

DEFAULT_FREQUENCY = 1.0
DEFAULT_CONTROL_TIMEOUT = 1.0
#: celery's ``State`` defaults: what the TUI and cameras keep unless told otherwise.
DEFAULT_MAX_TASKS = 10_000
DEFAULT_MAX_WORKERS = 5_000
#: Seconds ``evtop doctor`` listens to a live broker.
DEFAULT_LISTEN = 10.0


class Mode(str, Enum):
    TUI = "tui"
    DUMP = "dump"
    CAMERA = "camera"
    CONTROL = "control"
    DOCTOR = "doctor"
    QUEUES = "queues"


class Source(str, Enum):
    BROKER = "broker"
    DEMO = "demo"
    REPLAY = "replay"


class Reader(str, Enum):
    """``--reader``: where the broker's events are read and decoded (see :mod:`evtop.events.process`)."""

    AUTO = "auto"
    PROCESS = "process"
    THREAD = "thread"


@dataclass(frozen=True)
class ControlOptions:
    """``evtop control``: the validated request and how to send it."""

    request: Request
    destination: tuple[str, ...] | None = None
    timeout: float = DEFAULT_CONTROL_TIMEOUT
    #: Skip the confirmation of a destructive command.
    yes: bool = False


@dataclass(frozen=True)
class QueuesOptions:
    """``evtop queues``: which queues, and where to read them."""

    #: Queue names given; empty: every task queue found.
    names: tuple[str, ...] = ()
    #: Seconds between the two readings that give the change per second (0: one reading).
    interval: float = 1.0


@dataclass(frozen=True)
class Options:
    mode: Mode
    source: Source
    broker: BrokerConfig
    #: ``-A/--app`` as given (cameras get the app object itself).
    app: str | None = None
    #: The Celery app object when ``celery evtop`` runs evtop (cameras get it too).
    celery_app: Any = None
    read_only: bool = False
    #: Broadcast the ``heartbeat`` wakeup on connect: the TUI's default; dump and camera
    #: modes publish nothing unless asked (least privilege: a read-only broker user works).
    wakeup: bool = False
    #: ``--reader``: a second process reads and decodes the events, or a thread of this one.
    reader: Reader = Reader.AUTO
    json: bool = False
    color: bool = True
    #: ``--tz``: the zone times are shown in; None when not given (see :meth:`shown_zone`;
    #: ``--dump`` lines are then in celery's UTC format).
    zone: Zone | None = None
    #: The TUI takes clicks and the wheel (``--no-mouse``: the terminal keeps them).
    mouse: bool = True
    #: ``-c module.Class`` (None with ``--sink``).
    camera: str | None = None
    #: ``--sink URL`` (and ``-c URL``), in the order given: the sink camera writes to them.
    sinks: tuple[str, ...] = ()
    #: ``--keep``: seconds of history the SQL sinks keep; None keeps everything.
    keep: float | None = None
    frequency: float = DEFAULT_FREQUENCY
    maxrate: str | None = None
    replay: str | None = None
    speed: float = 1.0
    record: str | None = None
    #: The State's bounds (TUI and camera): the oldest tasks and workers are forgotten first.
    max_tasks: int = DEFAULT_MAX_TASKS
    max_workers: int = DEFAULT_MAX_WORKERS
    loglevel: str = "WARNING"
    logfile: str | None = None
    pidfile: str | None = None
    detach: bool = False
    control: ControlOptions | None = None
    #: ``evtop doctor``: seconds to listen to a live broker.
    listen: float = DEFAULT_LISTEN
    queues: QueuesOptions | None = None

    def shown_zone(self, environ: Mapping[str, str]) -> Zone:
        """The zone people read times in (the TUI, doctor, stderr news): ``--tz``, else
        local time (``TZ``, then the system's zone). ``--dump`` lines keep celery's UTC."""
        if self.zone is not None:
            return self.zone
        from evtop.zones import local_zone  # reading the system's zone: only when asked

        return local_zone(environ)
