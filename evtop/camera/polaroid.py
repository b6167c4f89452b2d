"""evtop's ``Polaroid``: celery's camera base class, names and all, without celery.

A camera written for ``celery.events.snapshot.Polaroid`` only needs its import line
changed (and celery's own Polaroid subclasses run under evtop unchanged, see
:mod:`evtop.camera.celery_compat`). The semantics are celery's:
``install()`` schedules :meth:`capture` every ``freq`` seconds and :meth:`cleanup` every
``cleanup_freq`` seconds, the first run one period later; :meth:`capture` runs the
shutter with event processing blocked and clears the state afterwards when
``clear_after`` is set, even when the shutter raised. Deliberate differences:

- a shutter skipped by ``maxrate`` does not clear the state: celery clears it anyway, so
  with ``maxrate`` and ``clear_after`` it silently discards the events of every skipped
  snapshot; evtop keeps them for the next snapshot that is taken;
- the final snapshot taken by :meth:`cancel` always happens (celery's timer skips it when
  the last one is less than ``freq`` seconds old) and ignores ``maxrate``, so it always
  includes every event received before the camera stopped;
- ``shutter_signal`` and ``cleanup_signal`` are per class (each subclass gets a child of
  its base's signal): a receiver connected on one camera class is not called for another
  camera class, while one connected on ``Polaroid`` hears them all, as in celery;
- ``app`` is whatever the caller passes (evtop passes the ``-A`` app, when there is one),
  never a default app, because evtop does not import celery.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from evtop.camera.signal import Signal
from evtop.camera.timer import Timer
from evtop.events.state import State
from evtop.rates import parse_rate

if TYPE_CHECKING:
    from kombu.utils.limits import TokenBucket

logger = logging.getLogger("evtop.camera")


class RepeatingEntry(Protocol):
    """What a timer's ``call_repeatedly`` returns: call it to run now, cancel it to stop."""

    def __call__(self) -> Any: ...

    def cancel(self) -> None: ...


class CameraTimer(Protocol):
    """The one method a camera asks of its timer (celery's timers have it too)."""

    def call_repeatedly(self, secs: float, fun: Any) -> Any: ...


class Polaroid:
    """Base class of snapshot cameras: override :meth:`on_shutter` (and :meth:`on_cleanup`)."""

    #: Timer shared by instances of a class that sets it; else each camera makes its own.
    timer: Any = None
    shutter_signal: ClassVar[Signal] = Signal("Polaroid.shutter_signal")
    cleanup_signal: ClassVar[Signal] = Signal("Polaroid.cleanup_signal")
    #: Clear the state after each snapshot taken (workers, and the tasks in a ready state).
    clear_after: bool = False

    _tref: RepeatingEntry | None = None
    _ctref: RepeatingEntry | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("shutter_signal", "cleanup_signal"):
            inherited = getattr(cls, name)
            if name not in cls.__dict__ and isinstance(inherited, Signal):  # a class's own stays
                setattr(cls, name, inherited.child(f"{cls.__qualname__}.{name}"))

    def __init__(
        self,
        state: State,
        freq: float = 1.0,
        maxrate: str | float | None = None,
        cleanup_freq: float = 3600.0,
        timer: CameraTimer | None = None,
        app: Any = None,
    ) -> None:
        self.app = app
        self.state = state
        self.freq = freq
        self.cleanup_freq = cleanup_freq
        self._own_timer = not (timer or self.timer)
        self.timer = timer or self.timer or Timer()
        self.logger = logger
        #: ``None``, or the bucket that grants one token per allowed snapshot.
        self.maxrate: TokenBucket | None = None
        if maxrate:
            from kombu.utils.limits import TokenBucket  # here: kombu.utils pulls in amqp

            self.maxrate = TokenBucket(_per_second(maxrate))
        self._granted = False
        self._final = False

    def install(self) -> None:
        """Start taking snapshots every ``freq`` s and cleaning up every ``cleanup_freq`` s."""
        self._tref = self.timer.call_repeatedly(self.freq, self.capture)
        self._ctref = self.timer.call_repeatedly(self.cleanup_freq, self.cleanup)

    def on_shutter(self, state: State) -> None:
        """Take the snapshot: called with event processing blocked, so ``state`` holds still."""

    def on_cleanup(self) -> None:
        """Periodic housekeeping (e.g. expire old rows); the state is not locked."""

    def cleanup(self) -> None:
        logger.debug("Cleanup: Running...")
        self.cleanup_signal.send(sender=self.state)
        self.on_cleanup()

    def shutter(self) -> None:
        """Take a snapshot now, unless ``maxrate`` says there were enough lately."""
        granted, self._granted = self._granted, False
        if granted or self._rate_allows():
            logger.debug("Shutter: %s", self.state)
            self.shutter_signal.send(sender=self.state)
            self.on_shutter(self.state)

    def capture(self) -> None:
        """Block event processing and take a snapshot (clearing after it if configured).

        A snapshot refused by ``maxrate`` is skipped entirely, clearing included.
        """
        if not (self._final or self._rate_allows()):
            logger.debug("Shutter: skipped (maxrate); the state is kept for the next snapshot")
            return
        self._granted = True
        try:
            self.state.freeze_while(self.shutter, clear_after=self.clear_after)
        finally:
            self._granted = False

    def cancel(self) -> None:
        """Take the final snapshot, then stop both schedules."""
        tref, ctref = self._tref, self._ctref
        self._tref = self._ctref = None
        self._final = True
        try:
            if tref is not None:
                tref()
        finally:
            self._final = False
            if tref is not None:
                tref.cancel()
            if ctref is not None:
                ctref.cancel()
            if self._own_timer and isinstance(self.timer, Timer):
                self.timer.stop()

    def _rate_allows(self) -> bool:
        return self.maxrate is None or bool(self.maxrate.can_consume())

    def __enter__(self) -> Polaroid:
        self.install()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cancel()


def _per_second(maxrate: str | float) -> float:
    """Snapshots per second: celery's rate strings ("10/m"), or a number as celery allows."""
    return parse_rate(maxrate) if isinstance(maxrate, str) else float(maxrate)
