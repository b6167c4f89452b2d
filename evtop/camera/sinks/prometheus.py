"""``prometheus://127.0.0.1:9808``: an HTTP exporter of ``/metrics`` and ``/health``.

Metric names are celery-exporter's where the two overlap, so its dashboards and alerts
keep working: ``celery_task_{sent,received,...}_total`` (labels ``name``, ``hostname``,
``queue_name``), ``celery_worker_up`` and ``celery_worker_tasks_active``
(``hostname``), ``celery_queue_length`` and ``celery_active_consumer_count``
(``queue_name``; on a live broker, read every few seconds; with ``--management-url``
RabbitMQ's every queue, and evtop's ``celery_queue_unacked_messages``), and the
``celery_task_runtime`` and ``celery_task_queue_wait_time`` histograms (``name``,
``hostname``; queue wait needs ``task-sent`` events). evtop's own health is under
``evtop_``. Every value comes from the latest snapshot; the counters are the camera's
running totals (:mod:`evtop.camera.metrics`), so they count every event seen and never
go back. A label value is sanitized and cut, and values past the caps fold into
``<other>`` (counted in ``evtop_label_values_folded_total``).

The exporter listens on loopback unless the URL names another host (``0.0.0.0`` for
every interface); it serves nothing but ``/metrics`` (also at ``/``) and ``/health``,
which answers 200 while the event stream is connected and 503 otherwise. Writing a
snapshot only swaps a reference, so this sink never fails and never holds a spool.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from evtop.camera.sinks.base import Sink, SinkURLError, split_url
from evtop.camera.sinks.snapshot import Histogram, Snapshot, TimingKey
from evtop.text.sanitize import sanitize

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9808
#: Event type -> the celery-exporter counter that counts it.
TASK_COUNTERS = {
    f"task-{subject}": f"celery_task_{subject}"
    for subject in ("sent", "received", "started", "succeeded", "failed", "rejected", "revoked", "retried")
}

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class PrometheusSink(Sink):
    description = "Prometheus exporter: HTTP /metrics and /health, celery-exporter's metric names"
    example = "prometheus://127.0.0.1:9808"
    requires = ("prometheus_client",)
    extra = "prometheus"
    wants_queues = True

    def __init__(self, url: str) -> None:
        super().__init__(url)
        parts = split_url(url, "prometheus")
        try:
            port = parts.port
        except ValueError:
            raise SinkURLError("the port must be a number from 1 to 65535") from None
        if parts.username is not None or parts.password is not None:
            raise SinkURLError("the exporter takes no user or password")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise SinkURLError(
                f"write only the address, e.g. {PrometheusSink.example} (it serves /metrics and /health)"
            )
        if port == 0:
            raise SinkURLError("the port must be a number from 1 to 65535")
        self.host = parts.hostname or DEFAULT_HOST
        self.port = port or DEFAULT_PORT
        self.latest: Snapshot | None = None
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        if self._server is not None:
            return
        from prometheus_client import CollectorRegistry, make_wsgi_app

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))
        app = _routes(make_wsgi_app(registry), self)
        server_class = _Server6 if ":" in self.host else _Server
        self._server = make_server(self.host, self.port, app, server_class, _QuietHandler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"evtop-prometheus-{self.port}", daemon=True
        )
        self._thread.start()

    def write(self, snapshot: Snapshot) -> None:
        if self.latest is None or snapshot.id > self.latest.id:
            self.latest = snapshot

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def health(self) -> tuple[bool, str]:
        snapshot = self.latest
        if snapshot is None:
            return False, "no snapshot taken yet"
        if not snapshot.broker.connected:
            return False, f"not connected to {snapshot.broker.url}"
        return True, f"connected to {snapshot.broker.url}"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: a scrape every few seconds is not news."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _routes(metrics: Callable[..., Any], sink: PrometheusSink) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in ("/", "/metrics"):
            return metrics(environ, start_response)
        if path == "/health":
            healthy, why = sink.health()
            start_response(
                "200 OK" if healthy else "503 Service Unavailable", [("Content-Type", "text/plain")]
            )
            return [f"{'ok' if healthy else 'unhealthy'}: {why}\n".encode("ascii", "backslashreplace")]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics or /health\n"]

    return app


class _Collector:
    """prometheus_client asks this for the metrics of the latest snapshot at each scrape."""

    def __init__(self, sink: PrometheusSink) -> None:
        self.sink = sink

    def collect(self) -> Iterator[Any]:
        snapshot = self.sink.latest
        if snapshot is not None:
            yield from families(snapshot, time.time())


def families(snapshot: Snapshot, now: float) -> Iterator[Any]:
    """Every metric family of ``snapshot``, as exported at time ``now``."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    counters = snapshot.counters
    task_labels = ["name", "hostname", "queue_name"]
    by_type = {
        type_: CounterMetricFamily(metric, f"Task events {type_} seen", labels=task_labels)
        for type_, metric in TASK_COUNTERS.items()
    }
    for (type_, name, hostname, queue), count in sorted(counters.events.items()):
        family = by_type.get(type_)
        if family is not None:
            family.add_metric([name, hostname, queue], count)
    yield from by_type.values()

    up = GaugeMetricFamily("celery_worker_up", "1 while the worker's heartbeats arrive", labels=["hostname"])
    active = GaugeMetricFamily(
        "celery_worker_tasks_active", "Tasks the worker is running", labels=["hostname"]
    )
    for hostname, (alive, running) in sorted(counters.workers.items()):
        up.add_metric([hostname], alive)
        active.add_metric([hostname], running)
    yield up
    yield active

    yield _histogram("celery_task_runtime", "Task runtime in seconds", counters.runtime, counters.buckets)
    if counters.queue_wait:
        yield _histogram(
            "celery_task_queue_wait_time",
            "Seconds from task-sent to task-started",
            counters.queue_wait,
            counters.buckets,
        )
    yield from _queues(snapshot)
    yield from _health(snapshot, now)


def _queues(snapshot: Snapshot) -> Iterator[Any]:
    """celery-exporter's queue gauges; a consumer count only where it is known (RabbitMQ
    tells it; on Redis it would take a broadcast to the workers, which cameras never send),
    and the unacknowledged messages where the management API tells them."""
    from prometheus_client.core import GaugeMetricFamily

    length = GaugeMetricFamily("celery_queue_length", "Messages waiting in the queue", labels=["queue_name"])
    consumers = GaugeMetricFamily(
        "celery_active_consumer_count", "Consumers of the queue", labels=["queue_name"]
    )
    unacked = GaugeMetricFamily(
        "celery_queue_unacked_messages",
        "Messages delivered to a consumer, not yet acknowledged (RabbitMQ's management API)",
        labels=["queue_name"],
    )
    for row in snapshot.queues:
        length.add_metric([row.name], row.messages)
        if row.consumers is not None:
            consumers.add_metric([row.name], row.consumers)
        if row.unacked is not None:
            unacked.add_metric([row.name], row.unacked)
    yield length
    yield consumers
    yield unacked


def _histogram(
    name: str, help_text: str, series: Mapping[TimingKey, Histogram], bounds: tuple[float, ...]
) -> Any:
    from prometheus_client.core import HistogramMetricFamily

    family = HistogramMetricFamily(name, help_text, labels=["name", "hostname"])
    uppers = [*(repr(float(b)) for b in bounds), "+Inf"]
    for (task, hostname), histogram in sorted(series.items()):
        family.add_metric([task, hostname], list(zip(uppers, histogram.counts, strict=True)), histogram.total)
    return family


def _health(snapshot: Snapshot, now: float) -> Iterator[Any]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    ingest = snapshot.ingest
    yield CounterMetricFamily(
        "evtop_events_received", "Events received from the stream", value=ingest.received
    )
    yield CounterMetricFamily("evtop_events_applied", "Events that passed validation", value=ingest.applied)
    dropped = CounterMetricFamily("evtop_events_dropped", "Events dropped, by reason", labels=["reason"])
    for reason, count in sorted(ingest.dropped.items()):
        dropped.add_metric([reason], count)
    yield dropped
    yield GaugeMetricFamily(
        "evtop_broker_connected",
        "1 while the event stream is connected",
        value=int(snapshot.broker.connected),
    )
    if snapshot.broker.last_event_at is not None:
        yield GaugeMetricFamily(
            "evtop_last_event_age_seconds",
            "Seconds since the last message from the event stream",
            value=max(0.0, now - snapshot.broker.last_event_at),
        )
    yield GaugeMetricFamily(
        "evtop_snapshot_timestamp_seconds", "When the latest snapshot was taken", value=snapshot.time
    )
    yield CounterMetricFamily(
        "evtop_task_changes_lost",
        "Task changes forgotten before a snapshot took them",
        value=snapshot.changes_lost,
    )
    depth = GaugeMetricFamily("evtop_sink_spool_depth", "Snapshots waiting for the sink", labels=["sink"])
    up = GaugeMetricFamily("evtop_sink_up", "1 while the sink takes snapshots", labels=["sink"])
    merged = CounterMetricFamily(
        "evtop_sink_snapshots_merged", "Snapshots merged into later ones by a full spool", labels=["sink"]
    )
    lost = CounterMetricFamily(
        "evtop_sink_task_changes_lost", "Task changes lost by a full spool", labels=["sink"]
    )
    for sink in snapshot.sinks:
        name = [sanitize(sink.name)]
        depth.add_metric(name, sink.depth)
        up.add_metric(name, int(sink.up))
        merged.add_metric(name, sink.merged)
        lost.add_metric(name, sink.lost)
    yield from (depth, up, merged, lost)
    trust = snapshot.trust
    missed = CounterMetricFamily(
        "evtop_missed_task_starts",
        "Task starts a worker's heartbeats counted that no event showed",
        labels=["hostname"],
    )
    for hostname, count in sorted(trust.missed_tasks.items()):
        missed.add_metric([sanitize(hostname)], count)
    yield missed
    yield GaugeMetricFamily(
        "evtop_lost_tasks",
        "Tasks last seen received or running on a worker that went offline",
        value=trust.lost_count,
    )
    gaps = CounterMetricFamily(
        "evtop_missed_event_seconds",
        "Seconds of a worker's own clock from which no event arrived, after reconnects",
        labels=["hostname"],
    )
    seconds: dict[str, float] = {}
    for gap in trust.gaps:
        seconds[gap.hostname] = seconds.get(gap.hostname, 0.0) + gap.after - gap.before
    for hostname, total in sorted(seconds.items()):
        gaps.add_metric([sanitize(hostname)], total)
    yield gaps
    folded = CounterMetricFamily(
        "evtop_label_values_folded",
        "Events counted under <other> because a label was over its cap",
        labels=["label"],
    )
    for label, count in sorted(snapshot.counters.folded.items()):
        folded.add_metric([label], count)
    yield folded
