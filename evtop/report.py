"""News about the event stream for stderr, shared by the modes that keep stdout for data.

Dump and camera modes say on stderr what the stream lost: a connection that came back
after an outage (events published meanwhile were missed), events that failed
validation, counted by reason and rate-limited so a poisoned stream cannot flood the log,
a live connection on which nothing arrives (:mod:`evtop.events.silence`), and what the
stream itself shows was lost (:mod:`evtop.events.health`): a gap in a worker's own
timestamps across a reconnect, and tasks its heartbeats counted that no event showed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator

from evtop.broker.status import ConnectionStatus, EndedOutages, Outage
from evtop.events.health import WITHOUT_TASK_EVENTS, Gap, Health
from evtop.events.pipeline import Ingest
from evtop.events.silence import SilenceWatch
from evtop.events.stats import IngestStats
from evtop.text.sanitize import sanitize
from evtop.view.cells import clock_text
from evtop.zones import UTC, Zone

logger = logging.getLogger(__name__)


#: Seconds between two reports of dropped events.
REPORT_INTERVAL = 10.0
#: Seconds between two looks at the connection for silence.
SILENCE_TICK = 1.0


class Reporter:
    """stderr news about the stream: resumed connections and dropped events, rate-limited."""

    def __init__(
        self,
        stats: IngestStats,
        url: str,
        interval: float = REPORT_INTERVAL,
        *,
        status: ConnectionStatus | None = None,
        silence: SilenceWatch | None = None,
        clock: Callable[[], float] = time.time,
        health: Health | None = None,
        zone: Zone = UTC,
    ) -> None:
        """``zone``: where the times said are shown (``--tz``; each names it)."""
        self.stats = stats
        self.url = url
        self.interval = interval
        self.on_status = EndedOutages(self._resumed)
        self._reported = dict(stats.dropped)
        #: Watched for silence when given (a live source; a replayed file's gaps are history).
        self.status = status
        self.silence = silence if silence is not None else SilenceWatch()
        self.clock = clock
        self.health = health
        self.zone = zone
        #: Missed tasks already reported, per worker.
        self._missed: dict[str, int] = {}
        if health is not None:
            health.on_gap = self._gap

    @classmethod
    def following(cls, ingest: Ingest, status: ConnectionStatus, *, replay: bool, zone: Zone) -> Reporter:
        """The news of one run of a streaming mode: its ingest's drops and health, and the
        connection's outages (subscribed here); silence only when live, since a replayed
        file's gaps are history."""
        reporter = cls(
            ingest.stats,
            status.snapshot().url,
            status=None if replay else status,
            health=ingest.health,
            zone=zone,
        )
        status.subscribe(reporter.on_status)
        return reporter

    def _resumed(self, outage: Outage) -> None:
        assert outage.ended is not None
        logger.warning(
            "%s: event stream resumed after a %.1f s outage (%s); events published meanwhile were missed",
            self.url,
            outage.ended - outage.started,
            outage.reason,
        )

    def report_drops(self) -> None:
        now = dict(self.stats.dropped)
        new = {reason: n - self._reported.get(reason, 0) for reason, n in now.items()}
        self._reported = now
        if sum(new.values()):
            reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(new.items()) if n)
            logger.warning("dropped %d events that failed validation (%s)", sum(new.values()), reasons)

    def _gap(self, gap: Gap) -> None:
        logger.warning(
            "%s: about %.0f s of its events were missed (its own clock shows nothing heard from %s to %s %s)",
            sanitize(gap.hostname),
            gap.seconds,
            clock_text(gap.before, self.zone),
            clock_text(gap.after, self.zone),
            self.zone.name,
        )

    def report_losses(self) -> None:
        """Tasks a worker's heartbeats counted that no event showed, said as the count grows."""
        if self.health is None:
            return
        for worker in self.health.workers():
            missed, said = worker.missed_tasks, self._missed.get(worker.hostname, 0)
            if missed <= said:
                continue
            self._missed[worker.hostname] = missed
            name = sanitize(worker.hostname)
            if not worker.task_events:
                if not said:
                    logger.warning("%s %s", name, WITHOUT_TASK_EVENTS)
            else:
                logger.warning(
                    "%s: %d task starts its heartbeats counted were never seen (%d in all): events were lost",
                    name,
                    missed - said,
                    missed,
                )

    def report_silence(self) -> None:
        if self.status is not None:
            line = self.silence.check(self.status.snapshot(), self.clock())
            if line is not None:
                logger.warning("%s: %s", self.url, line)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Report drops every ``interval`` seconds and silence as it begins and ends while
        the block runs, and drops once more at its end."""
        done = threading.Event()

        def watch() -> None:
            next_drops = time.monotonic() + self.interval
            while not done.wait(min(SILENCE_TICK, self.interval)):
                self.report_silence()
                if time.monotonic() >= next_drops:
                    next_drops += self.interval
                    self.report_drops()
                    self.report_losses()

        thread = threading.Thread(target=watch, name="evtop-reporter", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            self.report_drops()
            self.report_losses()
