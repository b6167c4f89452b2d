"""evtop: watch a Celery cluster through its own event stream.

The package root re-exports :class:`State` (with :class:`Task` and :class:`Worker`) because
existing cameras and scripts written against ``celery.events.state`` should only need to
change their import line.
"""

from __future__ import annotations

from evtop.events.state import State, Task, Worker
from evtop.version import __version__

__all__ = ["State", "Task", "Worker", "__version__"]
