"""The sink camera's event handler: the State's, plus a note of what each event changed.

A snapshot carries every task changed since the previous one. The State does not say
which those are, and it is not this module's to change, so the handler wraps
``State.event``: under the State's lock it applies the event, remembers the task the
State returns (the object itself, so a task evicted from memory before the next
snapshot still reaches the sinks in its last state) and lets the event counter count it.
The shutter, under the same lock, swaps the remembered tasks out with :meth:`take`, so
each change lands in exactly one snapshot.

The remembered tasks are bounded (:attr:`ChangeTracker.limit`): if a flood changes more
tasks between two snapshots (the camera stalled by ``--maxrate``), the longest-unchanged
ones are forgotten and counted in :attr:`ChangeTracker.lost`.
"""

from __future__ import annotations

import logging
from typing import Any

from evtop.camera.metrics import EventCounter
from evtop.events.state import State, Task, Worker
from evtop.logs import RateLimitedLogger

logger = logging.getLogger(__name__)
_losses = RateLimitedLogger(logger)


class ChangeTracker:
    """``handle`` is the event handler; ``take`` hands the changed tasks to a snapshot."""

    def __init__(self, state: State, counter: EventCounter, limit: int) -> None:
        self.state = state
        self.counter = counter
        self.limit = limit
        #: uuid -> (task, when its last event was received), least recently changed first.
        self._changed: dict[str, tuple[Task, float]] = {}
        #: Task changes forgotten before a snapshot took them.
        self.lost = 0

    def handle(self, event: dict[str, Any]) -> Any:
        with self.state._mutex:
            result = self.state.event(event)
            if result is None:
                return result
            (found, _), _ = result
            if isinstance(found, Task) and found.uuid is not None:
                self._note(found, event["local_received"])
                self.counter.task_event(event, found)
            elif isinstance(found, Worker):
                self.counter.worker_event(event)
            return result

    def take(self) -> dict[str, tuple[Task, float]]:
        """The tasks changed since the last call (call with the State's lock held)."""
        changed, self._changed = self._changed, {}
        return changed

    def _note(self, task: Task, received: float) -> None:
        changed = self._changed
        uuid = task.uuid
        assert uuid is not None
        changed.pop(uuid, None)  # re-inserted last: the dict stays in order of change
        changed[uuid] = (task, received)
        if len(changed) > self.limit:
            del changed[next(iter(changed))]
            self.lost += 1
            _losses.warning(
                "lost",
                "%d task changes forgotten before a snapshot took them (more than %d tasks changed "
                "between two snapshots); snapshot more often (-F) or drop --maxrate",
                self.lost,
                self.limit,
            )
