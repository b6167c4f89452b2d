"""Least privilege against real servers: a monitoring user that may only read events.

RabbitMQ: a user that may configure and write only its own ``celeryev.*`` queues and read
the event exchange (README's permissions, tests/support/permissions.py). Redis: an ACL
user limited to PSUBSCRIBE on the event channels and PING. Both run ``--dump
--read-only`` against a real worker. A missing exchange and a refused permission are said
once, with the permission and the resource, and retried until fixed.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from kombu import Connection, Queue

from evtop.broker.config import BrokerConfig
from evtop.broker.entities import pidbox_exchange
from evtop.broker.status import Backoff
from tests.support.dump import DumpProcess
from tests.support.events import task_event, wire
from tests.support.live import LiveReceiver, wait_until
from tests.support.permissions import CONFIGURE, READ, WRITE, WRITE_WITH_WAKEUP, monitor_vhost
from tests.support.publish import EventPublisher
from tests.support.workers import REPO_ROOT, send_task

pytestmark = [pytest.mark.broker]

RECEIVER_LOG = "evtop.events.receiver"
#: README's ACL for a Redis monitoring user on db 0 (PASSWORD stands for the password).
REDIS_ACL = "on >PASSWORD resetchannels &/0.celeryev/* -@all +psubscribe +ping"
#: ...and what README adds to it for the wakeup broadcast.
REDIS_ACL_WAKEUP = "+publish &/0.celery.pidbox"


def limited(admin_url: str, url: str, *, wakeup: bool = False, reader: str = "thread") -> LiveReceiver:
    """evtop's receiver as the limited user (its probes published as a worker would, by admin)."""
    config = BrokerConfig(url=url)
    return LiveReceiver(
        admin_url, config=config, wakeup=wakeup, backoff=Backoff(base=0.1, cap=0.3), reader=reader
    )


def warnings_saying(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


def wait_said_once(live: LiveReceiver, caplog: pytest.LogCaptureFixture, expected: str) -> None:
    """After several retries the status still shows ``expected``, and the log said it once."""

    def retried() -> bool:
        snapshot = live.status.snapshot()
        return snapshot.attempt >= 5 and expected in (snapshot.last_error or "")

    wait_until(retried, 20, f"never said {expected!r}: {live.status.snapshot().last_error}")
    assert len(warnings_saying(caplog, expected)) == 1


def drop_connections(server, user: str) -> None:
    """Close ``user``'s connections on the broker's side: evtop must reconnect."""
    for line in server.ctl("list_connections", "-q", "--no-table-headers", "pid", "user").splitlines():
        pid, _, owner = line.partition("\t")
        if owner == user:
            server.ctl("close_connection", pid, "test: reconnect", check=False)


def dump_every_task_event(dump: DumpProcess, url: str) -> list[str]:
    """Run tasks on ``url`` and wait until the dump printed each one's whole life."""
    ids = [
        send_task(url, "evtop_test.add", (2, 3)),
        send_task(url, "evtop_test.fail", ("boom",)),
        send_task(url, "evtop_test.echo", ("unicode ✓",)),
    ]
    final = {ids[0]: "task-succeeded", ids[1]: "task-failed", ids[2]: "task-succeeded"}

    def complete() -> bool:
        seen = {i: Counter(e["type"] for e in dump.events() if e.get("uuid") == i) for i in ids}
        return all(
            seen[i]["task-sent"]
            and seen[i]["task-received"]
            and seen[i]["task-started"]
            and seen[i][final[i]]
            for i in ids
        )

    wait_until(complete, 40, "evtop --dump missed a task's events")
    return ids


def test_readme_gives_the_permissions_these_tests_use():
    readme = (REPO_ROOT / "README.rst").read_text()
    assert f"'{CONFIGURE}' '{WRITE}' '{READ}'" in readme
    assert f"'{CONFIGURE}' '{WRITE_WITH_WAKEUP}' '{READ}'" in readme
    assert f"ACL SETUSER evtop {REDIS_ACL}" in readme
    assert f"ACL SETUSER evtop {REDIS_ACL_WAKEUP}" in readme


# --- RabbitMQ --------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.timeout(120)
def test_a_rabbitmq_monitoring_user_dumps_a_real_workers_events_read_only(rabbitmq_server, start_worker):
    with monitor_vhost(rabbitmq_server) as vhost:
        start_worker(vhost.admin_url, pool="solo")
        dump = DumpProcess("-b", vhost.url, "--read-only")
        try:
            dump.wait_subscribed(vhost.admin_url)
            dump_every_task_event(dump, vhost.admin_url)
        finally:
            status, err = dump.stop()
        assert status == 130, err  # stopped with Ctrl-C
        assert "refused" not in err and "Traceback" not in err and vhost.password not in err
        # The user cannot forge events: publishing to celeryev needs write on it.
        with Connection(vhost.url) as connection, pytest.raises(Exception, match="ACCESS_REFUSED"):
            connection.Producer().publish([], exchange="celeryev", routing_key="task.multi")
            connection.default_channel.exchange_declare("celeryev", "topic", passive=True)  # refused here


@pytest.mark.timeout(60)
def test_until_a_worker_declares_the_exchange_evtop_says_so_once_and_waits(rabbitmq_server, caplog):
    caplog.set_level(logging.DEBUG, logger=RECEIVER_LOG)
    with monitor_vhost(rabbitmq_server) as vhost:
        live = limited(vhost.admin_url, vhost.url)
        live.thread.start()
        try:
            waiting = (
                f"no worker has sent events on vhost '{vhost.name}' yet: waiting for the celeryev exchange"
            )
            wait_said_once(live, caplog, waiting)
            assert live.status.snapshot().last_error == waiting
            assert live.status.snapshot().outages == ()  # never subscribed: nothing was missed
            live.wait_flowing()  # its probes declare the exchange, as a worker's first event does
            with EventPublisher(vhost.admin_url) as publisher:
                publisher.publish(wire(task_event("task-received", "t1", time.time(), name="proj.add")))
            wait_until(lambda: "t1" in live.state.tasks, 10)
        finally:
            live.stop()
        exchanges = rabbitmq_server.ctl("list_exchanges", "-p", vhost.name, "name", "type", "durable")
        assert "celeryev\ttopic\ttrue" in exchanges  # as a worker declares it


MISSING = [
    ({"configure": ""}, "no configure permission on queue 'celeryev.<uuid>'"),
    ({"write": ""}, "no write permission on queue 'celeryev.<uuid>'"),
    ({"read": r"^celeryev\."}, "no read permission on exchange 'celeryev'"),
    ({"read": "^celeryev$"}, "no read permission on queue 'celeryev.<uuid>'"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("lacking", "said"), MISSING, ids=["configure", "write", "read-exchange", "read-queue"]
)
def test_a_refused_permission_is_named_once_and_retried_until_granted(rabbitmq_server, caplog, lacking, said):
    caplog.set_level(logging.DEBUG, logger=RECEIVER_LOG)
    permissions = {"configure": CONFIGURE, "write": WRITE, "read": READ, **lacking}
    with monitor_vhost(rabbitmq_server, **permissions) as vhost:
        EventPublisher(vhost.admin_url).close()  # a worker declared the exchange
        live = limited(vhost.admin_url, vhost.url)
        live.thread.start()
        try:
            wait_said_once(live, caplog, f"the broker user '{vhost.user}' has {said} in vhost '{vhost.name}'")
            rabbitmq_server.set_permissions(
                vhost.user, vhost=vhost.name, configure=CONFIGURE, write=WRITE, read=READ
            )
            live.wait_flowing()
        finally:
            live.stop()


@contextlib.contextmanager
def pidbox_listener(url: str) -> Iterator[Callable[[], list[dict]]]:
    """A worker's pidbox queue, standing in for a worker; yields a poll of what it heard."""
    heard: list[dict] = []
    with Connection(url) as listener:
        queue = Queue(f"listener.{uuid.uuid4().hex}", exchange=pidbox_exchange("celery"), exclusive=True)
        listener.Consumer(
            queue, callbacks=[lambda body, message: heard.append(body)], accept=["json"]
        ).consume()

        def poll() -> list[dict]:
            with contextlib.suppress(TimeoutError):
                listener.drain_events(timeout=0.1)
            return heard

        poll()  # on Redis the listener's PSUBSCRIBE is sent by its first drain
        yield poll


@pytest.mark.timeout(90)
def test_a_refused_wakeup_is_said_once_and_events_still_flow(rabbitmq_server, caplog):
    caplog.set_level(logging.DEBUG, logger=RECEIVER_LOG)
    with monitor_vhost(rabbitmq_server) as vhost, pidbox_listener(vhost.admin_url) as heard:
        live = limited(vhost.admin_url, vhost.url, wakeup=True)
        try:
            live.start()
            refused = f"no write permission on exchange 'celery.pidbox' in vhost '{vhost.name}'"
            wait_until(lambda: warnings_saying(caplog, refused), 10, "the refused wakeup was not reported")
            drop_connections(rabbitmq_server, vhost.user)
            wait_until(lambda: live.status.snapshot().reconnects >= 1, 20)
            live.wait_flowing()
            assert len(warnings_saying(caplog, refused)) == 1  # the second refusal was not repeated
            assert not heard()
            # README's write permission with the wakeup: the next connection wakes the workers.
            rabbitmq_server.set_permissions(
                vhost.user, vhost=vhost.name, configure=CONFIGURE, write=WRITE_WITH_WAKEUP, read=READ
            )
            drop_connections(rabbitmq_server, vhost.user)
            wait_until(heard, 20, "the permitted wakeup never arrived")
            assert [body["method"] for body in heard()] == ["heartbeat"]
        finally:
            live.stop()


# --- Redis -----------------------------------------------------------------------------


@contextlib.contextmanager
def redis_monitor(server, acl: str = REDIS_ACL):
    user, password = f"evtop-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    server.cli("ACL", "SETUSER", user, *acl.replace("PASSWORD", password).split())
    try:
        yield user, password, f"redis://{user}:{password}@{server.host}:{server.port}/0"
    finally:
        server.cli("ACL", "DELUSER", user)


@pytest.mark.worker
@pytest.mark.timeout(120)
def test_a_redis_acl_user_dumps_a_real_workers_events_read_only(redis_server, start_worker):
    with redis_monitor(redis_server) as (user, password, url):
        start_worker(redis_server.url, pool="prefork")
        dump = DumpProcess("-b", url, "--read-only")
        try:
            dump.wait_subscribed(redis_server.url)
            dump_every_task_event(dump, redis_server.url)
        finally:
            status, err = dump.stop()
        assert status == 130, err  # stopped with Ctrl-C
        assert "Traceback" not in err and password not in err
        assert user not in redis_server.cli("ACL", "LOG")  # evtop never tried more than its ACL allows
        as_user = ("--user", user, "--pass", password)
        assert "NOPERM" in redis_server.cli(*as_user, "PUBLISH", "/0.celeryev/task.multi", "[]", check=False)
        assert "NOPERM" in redis_server.cli(*as_user, "KEYS", "*", check=False)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("reader", ["thread", "process"])
def test_a_redis_acl_refusal_names_the_channel_pattern_once(redis_server, caplog, reader):
    """Through a reader process too: its log records reach evtop's log, at the levels set there."""
    caplog.set_level(logging.DEBUG, logger=RECEIVER_LOG)
    with redis_monitor(redis_server, REDIS_ACL.replace("/0.", "/1.")) as (user, _password, url):
        live = limited(redis_server.url, url, reader=reader)
        live.thread.start()
        try:
            wait_said_once(live, caplog, "the channel pattern &/0.celeryev/*")
            assert "the Redis ACL refused" in live.status.snapshot().last_error
            redis_server.cli("ACL", "SETUSER", user, "&/0.celeryev/*")
            live.wait_flowing()
        finally:
            live.stop()


@pytest.mark.timeout(60)
def test_a_redis_acl_user_with_readmes_wakeup_rights_wakes_the_workers(redis_server, caplog):
    with (
        redis_monitor(redis_server, f"{REDIS_ACL} {REDIS_ACL_WAKEUP}") as (user, _password, url),
        pidbox_listener(redis_server.url) as heard,
    ):
        live = limited(redis_server.url, url, wakeup=True)
        try:
            live.start()
            wait_until(heard, 20, "the wakeup never arrived")
        finally:
            live.stop()
        assert [body["method"] for body in heard()] == ["heartbeat"]
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert user not in redis_server.cli("ACL", "LOG")
