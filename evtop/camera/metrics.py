"""Counting every event as the State applies it, for exporters such as Prometheus.

A counter of Prometheus must count what happened, and snapshots cannot see everything:
a task can go from received to succeeded between two of them, and its ``task-started``
still counts. So the sink camera's handler (:mod:`evtop.camera.changes`) hands each
applied event here, and every snapshot carries a frozen copy of the running totals
(:class:`~evtop.camera.sinks.snapshot.Counters`), which only ever grow.

Label values come from the event stream, so they are sanitized and bounded. The first
:data:`MAX_LABEL_VALUES` task names (hostnames, queues) get a label value of their own;
later ones fold into :data:`~evtop.camera.sinks.snapshot.OTHER`, and so does every label
of a new series once a metric has :data:`MAX_SERIES`. Folded events are counted per
label. A value once given a label keeps it for the life of the process, so no counter
ever moves from one series to another.

Every method is called with the State's lock held (by the handler, and by the shutter
that freezes the totals), which is what keeps the totals and the snapshot consistent.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from typing import Any

from evtop.camera.sinks.snapshot import OTHER, Counters, EventKey, Histogram, TimingKey
from evtop.text.sanitize import sanitize, truncate

#: Distinct values per label before the rest fold into OTHER.
MAX_LABEL_VALUES = 1000
#: Distinct label sets per metric before new ones fold into OTHER.
MAX_SERIES = 10_000
#: Label values are cut to this many columns.
MAX_LABEL_LENGTH = 128
#: Histogram upper bounds in seconds (prometheus_client's defaults, then minutes).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0, 300.0)


class LabelFolder:
    """Raw value -> label value: sanitized, cut, and OTHER past the limit."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self.limit = limit
        self._labels: dict[str, str] = {}
        #: Events whose value was folded into OTHER.
        self.folded = 0

    def __call__(self, value: Any) -> str:
        raw = "" if value is None else value if isinstance(value, str) else str(value)
        label = self._labels.get(raw)
        if label is None:
            if len(self._labels) >= self.limit:
                self.folded += 1
                return OTHER
            label = self._labels[raw] = truncate(sanitize(raw), MAX_LABEL_LENGTH)
        return label


class _Timings:
    """Observations per label set, in buckets; cumulated when frozen."""

    def __init__(self, max_series: int) -> None:
        self.max_series = max_series
        self.series: dict[TimingKey, list[float]] = {}
        self.folded = 0

    def observe(self, key: TimingKey, seconds: float) -> None:
        counts = self.series.get(key)
        if counts is None:
            if len(self.series) >= self.max_series:
                self.folded += 1
                key = (OTHER, OTHER)
                counts = self.series.get(key)
            if counts is None:
                counts = self.series[key] = [0.0] * (len(BUCKETS) + 2)  # buckets, +Inf, sum
        counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        counts[-1] += seconds

    def freeze(self) -> dict[TimingKey, Histogram]:
        frozen = {}
        for key, counts in self.series.items():
            cumulative, total = [], 0
            for count in counts[:-1]:
                total += int(count)
                cumulative.append(total)
            frozen[key] = Histogram(tuple(cumulative), counts[-1])
        return frozen


class EventCounter:
    """Running totals of applied events, by type, task name, hostname and queue."""

    def __init__(self) -> None:
        self.max_series = MAX_SERIES
        self.names = LabelFolder()
        self.hostnames = LabelFolder()
        self.queues = LabelFolder()
        self._events: dict[EventKey, int] = {}
        self._folded_series = 0
        self._runtime = _Timings(MAX_SERIES)
        self._queue_wait = _Timings(MAX_SERIES)

    def task_event(self, event: dict[str, Any], task: Any) -> None:
        """One task event, after the State applied it to ``task``."""
        type_ = event["type"]
        name, hostname = self.names(task.name), self.hostnames(event["hostname"])
        queue = self.queues(getattr(task, "queue", None) or task.routing_key)
        key = (type_, name, hostname, queue)
        count = self._events.get(key)
        if count is None and len(self._events) >= self.max_series:
            self._folded_series += 1
            key = (type_, OTHER, OTHER, OTHER)
            count = self._events.get(key)
        self._events[key] = (count or 0) + 1
        if type_ == "task-succeeded":
            runtime = _seconds(event.get("runtime"))
            if runtime is not None:
                self._runtime.observe((name, hostname), runtime)
        elif type_ == "task-started" and task.sent is not None and task.eta is None:
            wait = _seconds(_difference(event.get("timestamp"), task.sent))
            if wait is not None:
                self._queue_wait.observe((name, hostname), wait)

    def worker_event(self, event: dict[str, Any]) -> None:
        """A worker event: its hostname gets a label value early, as workers come first."""
        self.hostnames(event["hostname"])

    def freeze(self, workers: Iterable[tuple[str, bool, Any]]) -> Counters:
        """The totals now, with the worker gauges for ``(hostname, alive, active)``."""
        gauges: dict[str, tuple[int, int]] = {}
        for hostname, alive, active in workers:
            label = self.hostnames(hostname)
            up, busy = gauges.get(label, (0, 0))
            gauges[label] = (up + bool(alive), busy + (active if type(active) is int else 0))
        folded = {
            "name": self.names.folded,
            "hostname": self.hostnames.folded,
            "queue": self.queues.folded,
            "series": self._folded_series + self._runtime.folded + self._queue_wait.folded,
        }
        return Counters(
            events=dict(self._events),
            runtime=self._runtime.freeze(),
            queue_wait=self._queue_wait.freeze(),
            workers=gauges,
            folded=folded,
            buckets=BUCKETS,
        )


def _seconds(value: Any) -> float | None:
    """A finite, non-negative number of seconds, else None (bools are not numbers)."""
    if type(value) not in (int, float):
        return None
    seconds = float(value)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _difference(later: Any, earlier: Any) -> float | None:
    later_s, earlier_s = _seconds(later), _seconds(earlier)
    return None if later_s is None or earlier_s is None else later_s - earlier_s
