"""Silence on a live connection: how long nothing has arrived, and what that usually means.

Every Celery worker sends a heartbeat every 2 s, with or without ``-E``, so a connected
receiver that hears nothing at all is almost never looking at a quiet cluster: the
workers are down, or they use another broker, vhost, Redis db or key prefix. evtop says
so in every mode from this one place: the TUI's top line, and one stderr line in dump and
camera modes when the silence begins and one when events resume.
"""

from __future__ import annotations

from dataclasses import dataclass

from evtop.broker.status import Phase, StatusSnapshot

#: Seconds without any message before dump and camera modes say so on stderr.
SILENT_AFTER = 30.0
#: What total silence usually means.
HINT = "are workers running with -E on this broker, vhost/db and key prefix?"
#: The same, short enough for the TUI's top line.
SHORT_HINT = "workers running? same vhost/db/key prefix?"


@dataclass(frozen=True)
class Quiet:
    """A live connection on which nothing has arrived for ``seconds``."""

    seconds: float
    #: False when nothing at all has arrived since evtop connected.
    heard_before: bool


def quiet(status: StatusSnapshot, now: float, after: float) -> Quiet | None:
    """The silence on a connected receiver, when it is longer than ``after`` seconds."""
    if status.phase is not Phase.CONNECTED:
        return None  # an outage is reported as such, not as silence
    last = status.last_message_at
    since = last if last is not None else status.connected_since
    if since is None or now - since <= after:
        return None
    return Quiet(now - since, last is not None)


def _seconds(value: float) -> str:
    return f"{value:.0f} s"


class SilenceWatch:
    """Turns silence into one line when it begins and one when events come back."""

    def __init__(self, after: float = SILENT_AFTER) -> None:
        self.after = after
        #: When the current silence began (the last message, or the connection), or None.
        self._since: float | None = None

    @property
    def silent(self) -> bool:
        return self._since is not None

    def check(self, status: StatusSnapshot, now: float) -> str | None:
        """The line to say now, if any: called every second or so by the mode."""
        if self._since is None:
            found = quiet(status, now, self.after)
            if found is None:
                return None
            self._since = now - found.seconds
            return f"no events for {_seconds(found.seconds)}: {HINT}"
        last = status.last_message_at
        if last is None or last <= self._since:
            return None
        gap, self._since = last - self._since, None
        return f"events resumed after {_seconds(gap)} of silence"
