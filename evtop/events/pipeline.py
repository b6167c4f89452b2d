"""Raw message in, normalised events out to one handler, every outcome counted.

Every event source (the broker receiver, the demo, a replayed recording) feeds this, so
the accounting ``received == applied + dropped`` holds whatever the source. No exception
from decoding or from the handler ever propagates to the caller: a poison message is a
counted drop, never a crash and never a reconnect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from evtop.broker.decode import BodyDecodeError, BodyDecoder, DisallowedContent, survey
from evtop.events.health import Health
from evtop.events.normalize import Normalizer, is_small
from evtop.events.stats import DECODE_ERROR, DISALLOWED_CONTENT, HANDLER_ERROR, IngestStats
from evtop.logs import RateLimitedLogger

Event = dict[str, Any]
Handler = Callable[[Event], object]

logger = RateLimitedLogger(logging.getLogger(__name__))


class Ingest:
    """The validation boundary, as one object per event source."""

    def __init__(
        self,
        handler: Handler,
        *,
        stats: IngestStats | None = None,
        accept_msgpack: bool = False,
        replay: bool = False,
        now: Callable[[], float] = time.time,
        after_message: Callable[[], object] | None = None,
        batch: int = 1,
        health: Health | None = None,
    ) -> None:
        """``batch``: hand validated events to ``handler`` this many at a time, and whenever
        the source calls :meth:`flush` (it does so each time it has read what was there).
        Decoding and validating a run of events, then applying the run, keeps each
        stage's code and data in the processor's caches: a replay ran a tenth faster in
        runs of 256 than event by event. 1 hands each event over at once.

        ``health``: the stream's judge, made here unless given (a reader process gives
        one that observes nothing: evtop's own judges the events it applies)."""
        if batch > 1 and after_message is not None:
            raise ValueError("after_message needs each message's events handled as it ends: batch=1")
        self.handler = handler
        self.batch = batch
        self._pending: list[Event] = []
        #: Called once the events of a message were handled, so that a handler which
        #: collects (the dump's lines) can hand a message's worth over in one go.
        self.after_message = after_message
        self.stats = stats if stats is not None else IngestStats()
        self.decoder = BodyDecoder(accept_msgpack=accept_msgpack)
        self.normalizer = Normalizer(self.stats, replay=replay)
        self._now = now
        #: What the stream says it lost (missed tasks, gaps, lost tasks), read by every mode.
        self.health = health if health is not None else Health(clock=None if replay else time.monotonic)

    def feed_message(
        self,
        body: bytes | bytearray | memoryview | str,
        content_type: str | None,
        content_encoding: str | None = None,
        *,
        compressed: bool = False,
    ) -> None:
        """One broker message: decode it (JSON only unless msgpack was opted in) and apply."""
        stats = self.stats
        stats.messages += 1
        raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
        brackets, exact = survey(raw)
        try:
            decoded = self.decoder.decode(raw, content_type, content_encoding, compressed, exact=exact)
        except DisallowedContent as exc:
            self._count_undecodable(DISALLOWED_CONTENT, f"refused a message with content type {exc}")
            return
        except BodyDecodeError as exc:
            self._count_undecodable(DECODE_ERROR, f"could not decode a message body ({exc})")
            return
        self._apply(decoded, self._now(), is_small(raw, brackets))

    def feed_decoded(self, body: Any, local_received: float | None = None, *, small: bool = False) -> None:
        """One decoded body (an event object or a list of them); ``small`` as for
        :meth:`~evtop.events.normalize.Normalizer.events`."""
        self._apply(body, self._now() if local_received is None else local_received, small)

    def _apply(self, body: Any, received: float, small: bool) -> None:
        if type(body) is not dict:
            events = self.normalizer.events(body, received, small=small)
            if events:
                self._deliver(events)
            return
        # One event (every replayed line, most live messages but task.multi batches):
        # _deliver's work without a list around it.
        stats = self.stats
        stats.received += 1
        reason = self.normalizer.normalize(body, received, small)
        if reason is not None:
            stats.drop(reason)
            return
        if self.batch > 1:
            self._pend([body])
            return
        try:
            self.health.observe(body)
            self.handler(body)
        except Exception as exc:
            self._handler_failed(body, exc)
        else:
            stats.applied += 1
        if self.after_message is not None:
            self._message_done()

    def feed_forwarded(self, events: list[Event], counts: tuple[int, ...]) -> None:
        """Events another process decoded and validated (:mod:`evtop.events.process`), and
        :meth:`~evtop.events.stats.IngestStats.counts` of what its boundary took in and
        dropped meanwhile: the accounting stays whole here."""
        self.stats.add(counts)
        if events:
            self._pend(events)

    def count_transport_error(self, exc: BaseException) -> None:
        """A message the transport itself could not unpack (e.g. a broken Redis envelope)."""
        self.stats.messages += 1
        self._count_undecodable(DECODE_ERROR, f"transport could not unpack a message ({type(exc).__name__})")

    def _count_undecodable(self, reason: str, message: str) -> None:
        # A message that never decoded holds an unknown number of events: count it as one.
        self.stats.received += 1
        self.stats.drop(reason)
        logger.warning(reason, "%s", message)

    def _pend(self, events: list[Event]) -> None:
        """Health reads each event now (it times the stream); the handler gets them in a run."""
        observe = self.health.observe
        pending = self._pending
        for event in events:
            try:
                observe(event)
            except Exception as exc:
                self._handler_failed(event, exc)
            else:
                pending.append(event)
        if len(pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Hand the events waiting for their run to the handler (see ``batch``)."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        handler = self.handler
        failed = 0
        for event in pending:
            try:
                handler(event)
            except Exception as exc:
                failed += 1
                self._handler_failed(event, exc)
        self.stats.applied += len(pending) - failed

    def _deliver(self, events: list[Event]) -> None:
        self._pend(events)  # with batch=1 a message's events are handed over at once
        if self.after_message is not None:
            self._message_done()

    def _message_done(self) -> None:
        assert self.after_message is not None
        try:
            self.after_message()
        except Exception:
            logger.warning("after_message", "the end-of-message hook failed", exc_info=True)

    def _handler_failed(self, event: Event, exc: Exception) -> None:
        self.stats.drop(HANDLER_ERROR)
        logger.warning(
            HANDLER_ERROR,
            "dropped a %s event: the handler raised %s",
            event.get("type"),
            type(exc).__name__,
            exc_info=True,
        )
