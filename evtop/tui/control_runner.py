"""Remote-control calls from the TUI, off the UI thread (celery's monitor froze for 1 s).

A request is validated and confirmed on the UI thread; only then does :meth:`submit`
send it on a worker thread and post the outcome back through the :class:`Bridge`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from evtop.control.client import Control
from evtop.control.commands import Request
from evtop.control.replies import BroadcastResult
from evtop.errors import EvtopError
from evtop.tui.bridge import Bridge

logger = logging.getLogger(__name__)

#: Seconds to wait for replies: longer than celery's monitor (1 s) so busy workers answer.
REPLY_TIMEOUT = 2.0


@dataclass(frozen=True)
class Outcome:
    request: Request
    result: BroadcastResult | None = None
    error: str | None = None


class ControlRunner:
    def __init__(self, control: Control, bridge: Bridge, timeout: float = REPLY_TIMEOUT) -> None:
        self.control = control
        self.bridge = bridge
        self.timeout = timeout
        self.pending = 0

    def submit(
        self,
        request: Request,
        expected: Sequence[str] | None,
        done: Callable[[Outcome], None],
        destination: Sequence[str] | None = None,
    ) -> None:
        """Send ``request`` (to ``destination``, default every worker) in the background;
        ``done`` runs on the UI thread with the outcome."""
        self.pending += 1

        def work() -> None:
            try:
                outcome = Outcome(
                    request,
                    self.control.send(
                        request, destination=destination, timeout=self.timeout, expected=expected
                    ),
                )
            except EvtopError as exc:
                outcome = Outcome(request, error=str(exc))
            except Exception as exc:  # a reply must always come back, or the UI waits forever
                logger.debug("control call failed", exc_info=True)
                outcome = Outcome(request, error=f"{type(exc).__name__}: {exc}")
            self.bridge.post(lambda: self._finish(outcome, done))

        threading.Thread(target=work, name="evtop-control", daemon=True).start()

    def _finish(self, outcome: Outcome, done: Callable[[Outcome], None]) -> None:
        self.pending -= 1
        done(outcome)
