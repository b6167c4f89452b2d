"""A tiny signal (``connect``/``send``) for camera hooks, so cameras need no celery.

It keeps the calling convention of celery's ``Signal`` that camera code relies on:
receivers are called as ``receiver(signal=..., sender=..., **named)``, ``connect`` works
as a decorator, and ``send`` returns ``[(receiver, response), ...]`` with a receiver's
exception as its response (logged, never raised: one bad receiver must not cost the
camera its snapshot).

Unlike celery's (weak references, one signal object shared by every ``Polaroid``
subclass), a signal may have a *parent*: ``send`` reaches the signal's own receivers,
then its parent's. :class:`~evtop.camera.polaroid.Polaroid` gives each subclass a child
of its base's signal, so a receiver connected on one camera class hears only that class
(and its subclasses), while one connected on ``Polaroid`` itself still hears every
camera, as in celery. Receivers are held strongly: a camera lives as long as the process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, overload

from evtop.errors import describe_error
from evtop.logs import RateLimitedLogger

logger = logging.getLogger(__name__)
_errors = RateLimitedLogger(logger)

Receiver = Callable[..., Any]


class Signal:
    """Receivers called in connection order; ``sender`` filters like celery's."""

    def __init__(self, name: str, parent: Signal | None = None) -> None:
        self.name = name
        self.parent = parent
        self._lock = threading.Lock()
        self._receivers: list[tuple[Receiver, object]] = []

    @overload
    def connect(self, receiver: Receiver, *, sender: object = None) -> Receiver: ...
    @overload
    def connect(self, receiver: None = None, *, sender: object = None) -> Callable[[Receiver], Receiver]: ...
    def connect(
        self, receiver: Receiver | None = None, *, sender: object = None
    ) -> Receiver | Callable[[Receiver], Receiver]:
        """Call ``receiver`` on every ``send`` (from ``sender`` only, when one is given).

        Connecting the same receiver for the same sender twice has no further effect.
        Without ``receiver``, returns a decorator.
        """
        if receiver is None:
            return lambda fun: self.connect(fun, sender=sender)
        with self._lock:
            if not any(r == receiver and s is sender for r, s in self._receivers):
                self._receivers.append((receiver, sender))
        return receiver

    def disconnect(self, receiver: Receiver, sender: object = None) -> bool:
        """Forget ``receiver`` (for ``sender``); True when it was connected."""
        with self._lock:
            kept = [(r, s) for r, s in self._receivers if not (r == receiver and s is sender)]
            found = len(kept) != len(self._receivers)
            self._receivers = kept
        return found

    def send(self, sender: object, **named: Any) -> list[tuple[Receiver, Any]]:
        """Call the receivers of this signal, then of its parents; never raises."""
        with self._lock:
            receivers = [r for r, s in self._receivers if s is None or s is sender]
        responses: list[tuple[Receiver, Any]] = []
        for receiver in receivers:
            try:
                responses.append((receiver, receiver(signal=self, sender=sender, **named)))
            except Exception as exc:
                _errors.warning(
                    f"{self.name}:{id(receiver)}",
                    "%s receiver %r raised %s",
                    self.name,
                    receiver,
                    describe_error(exc),
                    exc_info=True,
                )
                responses.append((receiver, exc))
        if self.parent is not None:
            responses += self.parent.send(sender, **named)
        return responses

    def child(self, name: str) -> Signal:
        """A signal whose ``send`` also reaches this one's receivers."""
        return Signal(name, parent=self)

    def __repr__(self) -> str:
        return f"<Signal: {self.name}>"
