"""``evtop control`` against real Celery workers on real Redis and RabbitMQ.

One module-scoped cluster of three prefork workers per broker is reused by every test;
each test leaves the workers as it found them (limits removed, pool size and queues
restored, paused worker resumed). Effects are checked where Celery shows them: events
seen by celery's own receiver (the oracle), ``stats``, ``registered`` and
``active_queues``, the broker's own queue and key listings, and the tasks' behaviour.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Queue

from evtop.broker.config import BrokerConfig
from evtop.broker.entities import pidbox_exchange
from evtop.cli import main
from evtop.control import COMMANDS, Control, Mailbox
from evtop.env import Environment
from tests.support.live import wait_until
from tests.support.oracle import CeleryOracle
from tests.support.servers import RabbitMQServer, RedisServer
from tests.support.workers import CeleryWorker, send_task

pytestmark = [pytest.mark.broker, pytest.mark.worker]

REPLY_SUFFIX = ".reply.celery.pidbox"


@dataclass
class Run:
    status: int
    out: str
    err: str
    seconds: float

    @property
    def json(self) -> Any:
        return json.loads(self.out)


def evtop(url: str, *argv: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    status = main(["-b", url, *argv], Environment(stdout=out, stderr=err, stdin=io.StringIO(), environ={}))
    return Run(status, out.getvalue(), err.getvalue(), time.monotonic() - started)


@pytest.fixture(scope="module")
def cluster(broker_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[CeleryWorker]]:
    kind = broker_url.split(":", 1)[0]
    logs = tmp_path_factory.mktemp(f"control-{kind}")
    workers = [
        CeleryWorker(broker_url, concurrency=2, name=f"ctl{i}-{kind}", log_dir=logs) for i in (1, 2, 3)
    ]
    with ThreadPoolExecutor(len(workers)) as pool:
        try:
            list(pool.map(CeleryWorker.start, workers))
            yield workers
        finally:
            list(pool.map(CeleryWorker.stop, workers))


def everyone(cluster: list[CeleryWorker]) -> str:
    return ",".join(worker.nodename for worker in cluster)


def reply_leftovers(server: RedisServer | RabbitMQServer) -> set[str]:
    """Reply queues (RabbitMQ) or reply keys and bindings (Redis) present right now."""
    if isinstance(server, RabbitMQServer):
        return {row[0] for row in server.list_queues("name") if row[0].endswith(REPLY_SUFFIX)}
    keys = set(server.cli("--scan", "--pattern", "*reply*").split())
    members = server.cli("smembers", "_kombu.binding.reply.celery.pidbox").split()
    return keys | {f"binding:{member}" for member in members}


def test_ping_lists_every_worker_and_stops_as_soon_as_all_replied(cluster, broker_url):
    run = evtop(broker_url, "control", "ping", "--destination", everyone(cluster), "--timeout", "10")
    assert run.status == 0, run.err
    for worker in cluster:
        assert f"{worker.nodename}: OK pong" in run.out
    assert "3 of 3 workers replied within" in run.out
    assert run.seconds < 5  # did not wait for the 10 s deadline
    broadcast = evtop(broker_url, "control", "ping", "--json")
    assert broadcast.status == 0 and {w.nodename for w in cluster} <= set(broadcast.json["replied"])
    assert broadcast.json["summary"].endswith("workers replied within 1.0 s")


def test_revoke_of_a_queued_task(cluster, broker_url):
    with CeleryOracle(broker_url) as oracle:
        task_id = send_task(broker_url, "evtop_test.sleep", (0.1,), countdown=3)
        oracle.wait_task(task_id, "RECEIVED")  # a worker holds it until its countdown ends
        run = evtop(broker_url, "control", "revoke", task_id, "--destination", everyone(cluster))
        assert run.status == 0, run.err
        assert run.out.count("flagged as revoked") == 3 and task_id in run.out
        assert "note: A revoke stops tasks that have not started yet" in run.out
        oracle.wait_task(task_id, "REVOKED", timeout=20)
        types = oracle.types_for(task_id)
        assert "task-started" not in types and "task-succeeded" not in types
        revoked = [e for e in oracle.events_for(task_id) if e["type"] == "task-revoked"]
        assert revoked and not revoked[0]["terminated"]


def test_terminate_of_a_running_task(cluster, broker_url):
    with CeleryOracle(broker_url) as oracle:
        task_id = send_task(broker_url, "evtop_test.sleep", (60,))
        started = oracle.wait_task(task_id, "STARTED")
        run = evtop(broker_url, "control", "terminate", task_id, "--signal", "KILL", "--yes",
                    "--destination", everyone(cluster))  # fmt: skip
        assert run.status == 0, run.err
        assert f"{started.worker.hostname}: OK terminate: {task_id}" in run.out
        assert run.out.count("OK terminate: tasks unknown") == 2
        oracle.wait_task(task_id, "REVOKED", timeout=20)
        revoked = [e for e in oracle.events_for(task_id) if e["type"] == "task-revoked"]
        assert revoked[-1]["terminated"] is True and revoked[-1]["signum"] == signal.SIGKILL
        assert "task-succeeded" not in oracle.types_for(task_id)


def registered(url: str, cluster: list[CeleryWorker], *attributes: str) -> dict[str, list[str]]:
    run = evtop(url, "control", "registered", *attributes, "--destination", everyone(cluster), "--json")
    assert run.status == 0, run.err
    return {reply["node"]: reply["value"] for reply in run.json["replies"]}


def test_rate_limit_is_applied_and_removed(cluster, broker_url):
    names = everyone(cluster)
    run = evtop(broker_url, "control", "rate-limit", "evtop_test.echo", "1/s", "--destination", names)
    assert run.status == 0 and run.out.count("OK new rate limit set successfully") == 3, run.out
    try:
        for tasks in registered(broker_url, cluster, "rate_limit").values():
            assert "evtop_test.echo [rate_limit=1/s]" in tasks
        # Behaviour: 4 tasks on 3 workers put two on one worker, whose second must wait
        # about a second for a token; unlimited, all four start within milliseconds.
        with CeleryOracle(broker_url) as oracle:
            ids = [send_task(broker_url, "evtop_test.echo", (i,)) for i in range(4)]
            started = [oracle.wait_task(task_id, "SUCCESS", timeout=20).started for task_id in ids]
        assert max(started) - min(started) >= 0.8
    finally:
        run = evtop(
            broker_url, "control", "rate-limit", "evtop_test.echo", "--remove", "--destination", names
        )
    assert run.out.count("OK rate limit disabled successfully") == 3
    for tasks in registered(broker_url, cluster, "rate_limit").values():
        assert "evtop_test.echo" in tasks


def test_time_limit_is_recorded_and_removed(cluster, broker_url):
    """Checked in ``registered``: Celery's prefork workers cache a task type's time limits
    when their consumer starts, so a runtime change does not reach running tasks (the
    command's note says so); what the command controls is the worker's task setting."""
    names = everyone(cluster)
    run = evtop(broker_url, "control", "time-limit", "evtop_test.sleep", "0.5", "2", "--destination", names)
    assert run.status == 0 and run.out.count("OK time limits set successfully") == 3, run.out
    try:
        for tasks in registered(broker_url, cluster, "time_limit", "soft_time_limit").values():
            assert "evtop_test.sleep [time_limit=2.0 soft_time_limit=0.5]" in tasks
    finally:
        run = evtop(broker_url, "control", "time-limit", "evtop_test.sleep", "none", "--destination", names)
    assert run.out.count("OK time limits set successfully") == 3
    for tasks in registered(broker_url, cluster, "time_limit", "soft_time_limit").values():
        assert "evtop_test.sleep" in tasks


def test_pool_grow_and_shrink_show_in_stats(cluster, broker_url):
    worker = cluster[0].nodename

    def processes() -> int:
        run = evtop(broker_url, "control", "stats", "--destination", worker, "--json", "--timeout", "5")
        return len(run.json["replies"][0]["value"]["pool"]["processes"])

    before = processes()
    run = evtop(broker_url, "control", "pool-grow", "--destination", worker)
    assert run.status == 0 and f"{worker}: OK pool will grow" in run.out
    wait_until(lambda: processes() == before + 1, 15, "the pool did not grow")
    run = evtop(broker_url, "control", "pool-shrink", "1", "--destination", worker)
    assert run.status == 0 and f"{worker}: OK pool will shrink" in run.out
    wait_until(lambda: processes() == before, 15, "the pool did not shrink")


def test_add_and_cancel_consumer_show_in_active_queues(cluster, broker_url):
    worker = cluster[1].nodename
    queue = f"evtop-ctl-{uuid.uuid4().hex[:8]}"

    def consumed() -> set[str]:
        run = evtop(
            broker_url, "control", "active-queues", "--destination", worker, "--json", "--timeout", "5"
        )
        return {q["name"] for q in run.json["replies"][0]["value"]}

    try:
        run = evtop(broker_url, "control", "add-consumer", queue, "--destination", worker)
        assert run.status == 0 and f"{worker}: OK add consumer {queue}" in run.out
        wait_until(lambda: queue in consumed(), 15, "the worker did not start consuming")
        run = evtop(broker_url, "control", "cancel-consumer", queue, "--destination", worker)
        assert run.status == 0 and f"{worker}: OK no longer consuming from {queue}" in run.out
        wait_until(lambda: queue not in consumed(), 15, "the worker did not stop consuming")
    finally:
        with Connection(broker_url) as conn:  # the worker declared it durable: clean up
            bound = Queue(queue, Exchange(queue, "direct"), routing_key=queue)(conn.default_channel)
            bound.declare()
            bound.delete()


def test_reply_queue_is_celerys_and_is_gone_afterwards(cluster, broker_url, broker_server):
    """While a broadcast waits, its reply queue is Celery's shape (exclusive on AMQP)."""
    baseline = reply_leftovers(broker_server)
    results = []
    control = Control(BrokerConfig(url=broker_url))
    waiting = threading.Thread(
        target=lambda: results.append(
            control.broadcast("ping", destination=[cluster[0].nodename, "nobody@nowhere"], timeout=6)
        )
    )
    waiting.start()
    try:
        new = wait_until(lambda: reply_leftovers(broker_server) - baseline, 5, "no reply queue appeared")
        if isinstance(broker_server, RabbitMQServer):
            rows = broker_server.list_queues("name", "exclusive", "durable", "auto_delete", "arguments")
            (row,) = [r for r in rows if r[0] in new]
            assert row[1:4] == ["true", "false", "true"]
            assert "x-expires" in row[4] and "10000" in row[4]
            assert "x-message-ttl" in row[4] and "300000" in row[4]
        else:
            (member,) = [m for m in new if m.startswith("binding:")]
            oid = member.removeprefix("binding:").split("\x06\x16")[0]
            assert member.endswith(f"{oid}{REPLY_SUFFIX}")
    finally:
        waiting.join(10)
    (result,) = results
    assert result.nodes == [cluster[0].nodename] and result.missing == ["nobody@nowhere"]
    assert reply_leftovers(broker_server) == baseline


def test_a_stopped_worker_gives_2_of_3_and_late_replies_leave_nothing(cluster, broker_url, broker_server):
    baseline = reply_leftovers(broker_server)
    stopped = cluster[2]
    stopped.pause()
    try:
        run = evtop(broker_url, "control", "ping", "--destination", everyone(cluster), "--timeout", "1")
    finally:
        stopped.resume()
    assert run.status == 0, run.err
    assert "2 of 3 workers replied within 1.0 s" in run.out and f"{stopped.nodename}: no reply" in run.out
    assert run.seconds < 2.5
    # The resumed worker answers the old ping first (late, to a deleted queue), then this one.
    wait_until(
        lambda: (
            evtop(broker_url, "control", "ping", "--destination", stopped.nodename, "--timeout", "2").status
            == 0
        ),
        20,
        "the resumed worker never answered",
    )
    assert reply_leftovers(broker_server) == baseline


class PidboxSpy:
    """A queue bound to ``celery.pidbox``: sees every control request sent to any worker."""

    def __init__(self, url: str) -> None:
        self.conn = Connection(url)
        self.methods: list[tuple[str, Any]] = []
        channel = self.conn.channel()
        spy = Queue(f"evtop-spy-{uuid.uuid4().hex}", exchange=pidbox_exchange("celery"), durable=False,
                    auto_delete=True, exclusive=True)  # fmt: skip
        queue = spy(channel)
        queue.declare()
        Consumer(channel, [queue], no_ack=True, on_message=self._on_message).consume()
        with contextlib.suppress(TimeoutError):  # on Redis this sends the SUBSCRIBE
            self.conn.drain_events(timeout=0.1)

    def _on_message(self, message: Any) -> None:
        body = json.loads(message.body)
        self.methods.append((body["method"], body["destination"]))

    def drain_until(self, predicate: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                self.conn.drain_events(timeout=0.1)


def test_read_only_publishes_nothing_on_the_broker(cluster, broker_url):
    spy = PidboxSpy(broker_url)
    try:
        for command in COMMANDS.values():
            argv = [f"{p.metavar}1" for p in command.params if p.required and not p.option]
            argv = ["1" if a in ("N1", "MAX1", "MIN1", "SOFT1") else a for a in argv]
            extra = ["--remove"] if command.name == "rate_limit" else []
            run = evtop(broker_url, "--read-only", "control", command.cli_name, *argv, *extra, "--yes")
            assert run.status == 1 and "read-only mode" in run.err, (command.name, run.err)
        sentinel = ["evtop-spy@nowhere"]
        with Connection(broker_url) as conn:  # a positive control: the spy does see requests
            mailbox = Mailbox()
            mailbox.publish(conn.default_channel, mailbox.request("ping", destination=sentinel))
        spy.drain_until(lambda: spy.methods, 10)
        assert spy.methods == [("ping", sentinel)]
    finally:
        spy.conn.release()


@contextlib.contextmanager
def frozen(server: RedisServer | RabbitMQServer) -> Iterator[None]:
    """SIGSTOP the broker: it still accepts TCP connections but never answers."""
    pids = [server.pid] if isinstance(server, RedisServer) else list(server.all_pids())
    for pid in pids:
        if pid is not None:
            os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)


def test_a_frozen_broker_is_a_clear_error_within_the_timeout(cluster, broker_url, broker_server):
    with frozen(broker_server):
        run = evtop(broker_url, "control", "ping", "--timeout", "1")
    assert run.status == 1 and run.seconds < 2.5
    assert "cannot reach the broker" in run.err and "nothing was sent" in run.err
    assert "guest:guest" not in run.err
    assert evtop(broker_url, "control", "ping", "--destination", everyone(cluster)).status == 0  # recovered
