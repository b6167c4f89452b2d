"""The control client on kombu's memory transport with fake pidbox workers.

Pinned here: the request body and headers, the real total deadline (not kombu's per-drain
idle timeout), stopping early, ticket matching, duplicates, JSON-only decoding, the
honest summary, read-only refusal, and a clear error for a broker that is down or
blackholed. The real-broker proof is tests/integration/test_control_live.py.
"""

from __future__ import annotations

import socket
import time
from dataclasses import replace

import pytest

from evtop.broker.config import BrokerConfig
from evtop.control import BroadcastResult, Control, ControlError, ReadOnlyError, Reply, Status, build_request
from tests.support.servers import free_port
from tests.unit.control.fakes import FakeWorker, Out, memory_config


@pytest.fixture
def config() -> BrokerConfig:
    return memory_config()


def test_request_body_and_headers_are_celerys(config):
    with FakeWorker(config, "a@x") as worker:
        request = build_request("revoke", task_ids=["t1", "t2"], terminate=True, signal="KILL")
        before = time.time()
        result = Control(config).send(request, destination=["a@x"], timeout=2.0)
    body, headers = worker.requests[0], worker.headers[0]
    assert set(body) == {"method", "arguments", "destination", "pattern", "matcher", "ticket", "reply_to"}
    assert body["method"] == "revoke"
    assert body["arguments"] == {"task_id": ["t1", "t2"], "terminate": True, "signal": "SIGKILL"}
    assert body["destination"] == ["a@x"] and body["pattern"] is None and body["matcher"] is None
    assert body["reply_to"]["exchange"] == "reply.celery.pidbox"
    assert isinstance(body["reply_to"]["routing_key"], str) and body["ticket"]
    assert isinstance(headers["clock"], int) and before + 2.0 <= headers["expires"] <= time.time() + 2.0
    assert [r.node for r in result.replies] == ["a@x"]


def test_fire_and_forget_has_no_ticket_and_waits_for_nothing(config):
    with FakeWorker(config, "a@x") as worker:
        started = time.monotonic()
        result = Control(config).send(build_request("shutdown"), timeout=5.0)
        assert time.monotonic() - started < 1.0
        deadline = time.monotonic() + 5
        while not worker.requests and time.monotonic() < deadline:
            time.sleep(0.01)
    assert "ticket" not in worker.requests[0] and "reply_to" not in worker.requests[0]
    assert not result.reply_wanted and result.replies == ()
    assert result.summary() == "shutdown sent to all workers; no reply is expected"


def test_every_worker_replies_and_collection_stops_early(config):
    with FakeWorker(config, "a@x"), FakeWorker(config, "b@x"):
        result = Control(config).broadcast("ping", destination=["a@x", "b@x"], timeout=5.0)
    assert sorted(result.nodes) == ["a@x", "b@x"] and result.complete and result.any_ok
    assert result.elapsed < 2.5  # not the 5 s deadline
    assert result.summary().startswith("2 of 2 workers replied within ")
    assert all(r.status is Status.OK and r.value == "pong" for r in result.replies)


def test_broadcast_to_all_waits_the_whole_timeout_and_counts(config):
    with FakeWorker(config, "a@x"), FakeWorker(config, "b@x"):
        result = Control(config).broadcast("ping", timeout=0.3)
    assert sorted(result.nodes) == ["a@x", "b@x"]
    assert 0.3 <= result.elapsed < 1.5
    assert result.summary() == "2 workers replied within 0.3 s"


def test_silent_worker_is_missing_not_failed(config):
    silent = FakeWorker(config, "c@x", answer=lambda worker, request: [])
    with FakeWorker(config, "a@x"), FakeWorker(config, "b@x"), silent:
        started = time.monotonic()
        result = Control(config).broadcast("ping", destination=["a@x", "b@x", "c@x"], timeout=0.5)
        waited = time.monotonic() - started
    assert waited < 1.5
    assert result.missing == ["c@x"] and not result.complete and result.any_ok
    assert result.summary() == (
        "2 of 3 workers replied within 0.5 s; "
        "no reply does not mean a worker is down (try a longer --timeout)"
    )


def test_expected_workers_can_be_given_without_a_destination(config):
    """The TUI passes the workers it believes alive; the request still goes to all."""
    with FakeWorker(config, "a@x") as a, FakeWorker(config, "new@x"):
        result = Control(config).broadcast("ping", expected=["a@x", "gone@x"], timeout=0.3)
    assert a.requests[0]["destination"] is None
    assert result.missing == ["gone@x"] and result.unexpected == ["new@x"]
    assert result.summary().startswith("1 of 2 workers replied within 0.3 s (and 1 not expected); ")


def test_deadline_is_total_even_while_stray_replies_keep_coming(config):
    """kombu's timeout restarts with every message; evtop's deadline does not."""

    def chatty(worker, request):
        return [Out({worker.name: {"ok": "noise"}}, ticket="someone-else", delay=0.05) for _ in range(30)]

    with FakeWorker(config, "a@x", answer=chatty):
        started = time.monotonic()
        result = Control(config).broadcast("ping", destination=["a@x"], timeout=0.3)
        waited = time.monotonic() - started
    assert waited < 1.0  # kombu's idle timeout would wait for the last stray + 0.3 s: over 1.8 s
    assert result.replies == () and result.ignored >= 3 and result.missing == ["a@x"]


def test_late_reply_after_the_deadline_is_not_counted(config):
    def slow(worker, request):
        return [Out({worker.name: {"ok": "pong"}}, delay=0.6)]

    with FakeWorker(config, "a@x", answer=slow):
        result = Control(config).broadcast("ping", destination=["a@x"], timeout=0.2)
    assert result.replies == () and result.elapsed < 0.5


def test_limit_stops_after_that_many_replies(config):
    with FakeWorker(config, "a@x"), FakeWorker(config, "b@x"), FakeWorker(config, "c@x"):
        result = Control(config).broadcast("ping", timeout=5.0, limit=2)
    assert len(result.replies) == 2 and result.elapsed < 2.5


def test_duplicate_nodenames_are_reported_not_merged(config):
    def twice(worker, request):
        return [Out({"dup@x": {"ok": "pong"}}), Out({"dup@x": {"ok": "pong"}})]

    with FakeWorker(config, "a@x", answer=twice):
        result = Control(config).broadcast("ping", timeout=0.3)
    assert len(result.replies) == 2 and result.duplicates == ["dup@x"] and result.nodes == ["dup@x"]


def test_error_and_data_replies(config):
    def mixed(worker, request):
        return [
            Out({"e@x": {"error": "unknown task"}}),
            Out({"d@x": [{"name": "celery"}]}),
            Out({"n@x": None}),
            Out({"m@x": {"ok": "x", "extra": 1}}),
        ]

    with FakeWorker(config, "a@x", answer=mixed):
        result = Control(config).broadcast("active_queues", timeout=0.3)
    by_node = {r.node: r for r in result.replies}
    assert by_node["e@x"].status is Status.ERROR and not by_node["e@x"].ok
    assert by_node["d@x"].status is Status.DATA and by_node["d@x"].value == [{"name": "celery"}]
    assert by_node["n@x"].status is Status.DATA and by_node["n@x"].value is None
    assert by_node["m@x"].status is Status.DATA


def test_only_error_replies_mean_no_success(config):
    def nok(worker, request):
        return [Out({worker.name: {"error": "unknown task"}})]

    with FakeWorker(config, "a@x", answer=nok):
        result = Control(config).broadcast("rate_limit", {"task_name": "x", "rate_limit": "1"}, timeout=0.3)
    assert result.replies and not result.any_ok


def test_replies_are_json_only_never_pickle(config):
    def hostile(worker, request):
        return [
            Out({"p@x": {"ok": "pickled"}}, serializer="pickle"),
            Out(["not", "a", "mapping"]),
            Out({"good@x": {"ok": "pong"}}),
        ]

    with FakeWorker(config, "a@x", answer=hostile):
        result = Control(config).broadcast("ping", timeout=0.3)
    assert result.nodes == ["good@x"] and result.unreadable == 2


def test_result_json_shape(config):
    with FakeWorker(config, "a@x"):
        result = Control(config).broadcast("ping", destination=["a@x", "b@x"], timeout=0.2)
    data = result.to_json()
    assert data["method"] == "ping" and data["destination"] == ["a@x", "b@x"]
    assert data["replied"] == ["a@x"] and data["missing"] == ["b@x"]
    assert data["replies"][0]["status"] == "ok" and data["replies"][0]["value"] == "pong"
    assert data["summary"] == result.summary()


def test_summary_wording():
    base = BroadcastResult("ping", {}, None, None, timeout=1.0, reply_wanted=True)
    assert base.summary().startswith("0 workers replied within 1.0 s; no reply does not mean")
    one = replace(base, replies=(Reply("a@x", Status.OK, "pong", 0.01),), expected=["a@x"], elapsed=0.012)
    assert one.summary() == "1 of 1 worker replied within 0.01 s"


def test_read_only_refuses_before_connecting():
    # An unreachable broker proves that nothing, not even a connection, is attempted.
    config = BrokerConfig(url=f"amqp://guest:guest@127.0.0.1:{free_port()}//")
    control = Control(config, read_only=True)
    with pytest.raises(ReadOnlyError, match="read-only"):
        control.broadcast("ping")
    with pytest.raises(ReadOnlyError):
        control.send(build_request("shutdown"))
    with pytest.raises(ReadOnlyError):
        control.ensure_writable("revoke")


def test_read_only_sends_nothing_to_workers(config):
    with FakeWorker(config, "a@x") as worker:
        with pytest.raises(ReadOnlyError):
            Control(config, read_only=True).broadcast("ping", timeout=0.2)
        Control(config).broadcast("ping", destination=["a@x"], timeout=2.0)  # a positive control
    assert [r["method"] for r in worker.requests] == ["ping"]


@pytest.mark.parametrize("scheme", ["amqp", "redis"])
def test_broker_down_is_a_clear_error_within_the_timeout(scheme):
    url = f"{scheme}://user:s3cret@127.0.0.1:{free_port()}/" + ("/" if scheme == "amqp" else "0")
    started = time.monotonic()
    with pytest.raises(ControlError) as caught:
        Control(BrokerConfig(url=url)).broadcast("ping", timeout=1.0)
    assert time.monotonic() - started < 1.5
    message = str(caught.value)
    assert "cannot reach the broker" in message and "nothing was sent" in message
    assert "s3cret" not in message and "user:**@" in message


@pytest.mark.parametrize("scheme", ["amqp", "redis"])
def test_blackholed_broker_times_out_instead_of_hanging(scheme):
    """A peer that accepts the TCP connection and then never answers."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)
        port = hole.getsockname()[1]
        url = f"{scheme}://user:s3cret@127.0.0.1:{port}/" + ("/" if scheme == "amqp" else "0")
        started = time.monotonic()
        with pytest.raises(ControlError, match="cannot reach the broker"):
            Control(BrokerConfig(url=url)).broadcast("ping", timeout=1.0)
        assert time.monotonic() - started < 2.0


def test_bad_calls_are_refused(config):
    control = Control(config)
    with pytest.raises(TypeError):
        control.broadcast("ping", destination="a@x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        control.broadcast("ping", destination=[])
    with pytest.raises(ValueError, match="timeout"):
        control.broadcast("ping", timeout=0)
