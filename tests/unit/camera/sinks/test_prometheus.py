"""The Prometheus exporter over real HTTP, read with prometheus_client's own parser."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from evtop.camera.sinks.prometheus import PrometheusSink
from tests.support.events import HOST, T0, task_event, worker_event
from tests.support.servers import free_port
from tests.unit.camera.sinks.contract import SinkContract, opened
from tests.unit.camera.sinks.shots import Shots, failed, heartbeat, received, retried, started, succeeded


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value, parsed the way Prometheus would."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


class TestPrometheus(SinkContract):
    sink_class = PrometheusSink
    bad_urls = (
        ("prometheus://127.0.0.1:99999", "port must be a number"),
        ("prometheus://127.0.0.1:0", "port must be a number"),
        ("prometheus://u:pw@127.0.0.1:9808", "no user or password"),
        ("prometheus://127.0.0.1:9808/metrics", "write only the address"),
    )

    @pytest.fixture
    def url(self) -> str:
        return f"prometheus://127.0.0.1:{free_port()}"

    @pytest.fixture
    def serving(self, url):
        sink = opened(PrometheusSink(url))
        yield sink
        sink.close()

    def printed(self, sink: PrometheusSink) -> str:
        status, text = get(f"http://127.0.0.1:{sink.port}/metrics")
        assert status == 200
        samples(text)  # it parses
        return text

    def test_counters_count_every_event_with_celery_exporters_names(self, serving):
        shots = Shots()
        shots.feed(
            task_event("task-sent", "t1", T0, 1, hostname="client@h", name="proj.add", queue="q1"),
            received(1, 1),
        )
        serving.write(shots.shoot())
        # started and succeeded between two snapshots: both still count
        shots.feed(
            started(1, 2), succeeded(1, 3), received(2, 3), failed(2, 4), received(3, 4), retried(3, 5)
        )
        shots.feed(heartbeat(5), worker_event("worker-heartbeat", "celery@live", time.time(), 9, active=2))
        serving.write(shots.shoot())
        status, text = get(f"http://127.0.0.1:{serving.port}/metrics")
        assert status == 200
        found = samples(text)
        labels = (("hostname", HOST), ("name", "proj.add"), ("queue_name", ""))
        assert found["celery_task_received_total", labels] == 3
        assert found["celery_task_started_total", labels] == 1
        assert found["celery_task_succeeded_total", labels] == 1
        assert found["celery_task_failed_total", labels] == 1
        assert found["celery_task_retried_total", labels] == 1
        sent = (("hostname", "client@h"), ("name", "proj.add"), ("queue_name", "q1"))
        assert found["celery_task_sent_total", sent] == 1
        assert found["celery_task_runtime_count", (("hostname", HOST), ("name", "proj.add"))] == 1
        assert (
            found["celery_task_runtime_bucket", (("hostname", HOST), ("le", "0.25"), ("name", "proj.add"))]
            == 1
        )
        assert found["celery_worker_up", (("hostname", HOST),)] == 0  # its heartbeat is long past
        assert found["celery_worker_tasks_active", (("hostname", HOST),)] == 1
        assert found["celery_worker_up", (("hostname", "celery@live"),)] == 1
        assert found["celery_worker_tasks_active", (("hostname", "celery@live"),)] == 2
        assert found["evtop_events_received_total", ()] == 10
        assert found["evtop_events_dropped_total", (("reason", "bad_field"),)] == 0
        assert found["evtop_broker_connected", ()] == 1

    def test_queue_wait_is_from_task_sent_to_task_started(self, serving):
        shots = Shots().feed(
            task_event("task-sent", "t1", T0, 1, hostname="client@h", name="proj.add"),
            task_event("task-received", "t1", T0 + 0.5, 2, name="proj.add"),
            task_event("task-started", "t1", T0 + 2, 3),
        )
        serving.write(shots.shoot())
        found = samples(get(f"http://127.0.0.1:{serving.port}/metrics")[1])
        wait = (("hostname", HOST), ("name", "proj.add"))
        assert found["celery_task_queue_wait_time_count", wait] == 1
        assert found["celery_task_queue_wait_time_sum", wait] == pytest.approx(2.0)

    def test_health_follows_the_event_streams_connection(self, serving):
        health = f"http://127.0.0.1:{serving.port}/health"
        assert get(health)[0] == 503  # no snapshot yet
        shots = Shots()
        serving.write(shots.shoot())
        assert get(health) == (200, "ok: connected to redis://h:6379/0\n")
        shots.status.lost("connection reset", retry_in=1.0)
        serving.write(shots.shoot())
        assert get(health)[0] == 503
        assert get(f"http://127.0.0.1:{serving.port}/other")[0] == 404

    def test_queue_gauges_with_celery_exporters_names(self, serving):
        import dataclasses

        from evtop.broker.queues import QueueRow

        queues = (QueueRow("celery", 5, 2, 1, [], 0.5), QueueRow("on-redis", 7, None, None, [], None))
        serving.write(dataclasses.replace(Shots().shoot(), queues=queues))
        found = samples(get(f"http://127.0.0.1:{serving.port}/metrics")[1])
        assert found["celery_queue_length", (("queue_name", "celery"),)] == 5
        assert found["celery_queue_length", (("queue_name", "on-redis"),)] == 7
        assert found["celery_active_consumer_count", (("queue_name", "celery"),)] == 2
        # unknown (Redis tells no consumer count) is left out, not exported as 0
        assert ("celery_active_consumer_count", (("queue_name", "on-redis"),)) not in found
        assert found["celery_queue_unacked_messages", (("queue_name", "celery"),)] == 1
        assert ("celery_queue_unacked_messages", (("queue_name", "on-redis"),)) not in found

    def test_a_snapshot_older_than_the_one_shown_is_ignored(self, serving):
        shots = Shots()
        old = shots.feed(received(1, 1)).shoot()
        new = shots.feed(succeeded(1, 2)).shoot()
        serving.write(new)
        serving.write(old)
        assert serving.latest is new

    def test_label_values_past_the_caps_fold_into_other_and_are_counted(self, serving):
        shots = Shots()
        shots.tracker.counter.names.limit = 3
        shots.feed(*(received(i, i, name=f"proj.t{i}") for i in range(5)))
        serving.write(shots.shoot())
        found = samples(get(f"http://127.0.0.1:{serving.port}/metrics")[1])
        names = {
            dict(labels)["name"]: value
            for (sample, labels), value in found.items()
            if sample == "celery_task_received_total"
        }
        assert names == {"proj.t0": 1, "proj.t1": 1, "proj.t2": 1, "<other>": 2}
        assert found["evtop_label_values_folded_total", (("label", "name"),)] == 2


def test_a_port_in_use_fails_open_and_a_retry_can_succeed_later():
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    sink = PrometheusSink(f"prometheus://127.0.0.1:{blocker.getsockname()[1]}")
    with pytest.raises(OSError):
        sink.open()
    blocker.close()
    sink.open()
    sink.close()


def test_loopback_unless_another_host_is_named():
    assert PrometheusSink("prometheus://").host == "127.0.0.1"
    assert PrometheusSink("prometheus://").port == 9808
    assert PrometheusSink("prometheus://:9100").host == "127.0.0.1"
    assert PrometheusSink("prometheus://0.0.0.0:9100").host == "0.0.0.0"


def test_ipv6_loopback():
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
    sink = opened(PrometheusSink(f"prometheus://[::1]:{port}"))
    try:
        assert get(f"http://[::1]:{port}/health")[0] == 503
    finally:
        sink.close()
