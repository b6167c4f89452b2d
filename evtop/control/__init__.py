"""Remote control of Celery workers without celery: the pidbox client and command table.

Used by ``evtop control`` and the TUI alike::

    control = Control(config, read_only=False)
    request = build_request("rate_limit", task_name="proj.tasks.add", rate="10/m")
    result = control.send(request, destination=["celery@host1"], timeout=1.0)
    result.summary()   # "1 of 1 worker replied within 0.02 s"

Nothing here prints; errors are :class:`ControlError` (broker unreachable, not sent),
:class:`ReadOnlyError` (``--read-only``) or ValueError (a value failed validation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evtop.control.commands import COMMANDS, Command, Kind, Param, Request, build_request, command
from evtop.control.replies import BroadcastResult, Reply, Status

if TYPE_CHECKING:
    from evtop.broker.mailbox import Mailbox, ReadOnlyError
    from evtop.control.client import Control, ControlError


def __getattr__(name: str) -> Any:
    """The client and the mailbox, imported on first use: they need kombu, which the
    command table (read by every ``evtop --help`` and option check) and a replay never do."""
    if name in ("Mailbox", "ReadOnlyError"):
        from evtop.broker import mailbox

        return getattr(mailbox, name)
    if name in ("Control", "ControlError"):
        from evtop.control import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "COMMANDS",
    "BroadcastResult",
    "Command",
    "Control",
    "ControlError",
    "Kind",
    "Mailbox",
    "Param",
    "ReadOnlyError",
    "Reply",
    "Request",
    "Status",
    "build_request",
    "command",
]
