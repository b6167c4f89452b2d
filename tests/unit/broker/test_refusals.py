"""Broker refusals in words: the permission and the resource, from what the broker said.

The texts are RabbitMQ 3.10's and Redis 7's, captured from the real servers the
integration tests run (tests/integration/test_least_privilege_live.py and
test_durable_queue_live.py prove the whole path); the exceptions are built the way py-amqp
and kombu build them.
"""

from __future__ import annotations

import pytest
from amqp.exceptions import ChannelError, error_for_code
from kombu.exceptions import ChannelError as VirtualChannelError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoPermissionError

from evtop.broker.refusals import Kind, explain

UUID = "96c888a1-7fe4-4e69-8347-1b41561706ed"


def amqp_error(code: int, text: str, method: tuple[int, int]) -> Exception:
    return error_for_code(code, text, method, ChannelError)


@pytest.mark.parametrize(
    ("method", "text", "said"),
    [
        (
            (50, 10),
            f"ACCESS_REFUSED - access to queue 'celeryev.{UUID}' in vhost '/' refused for user 'mon'",
            "the broker user 'mon' has no configure permission on queue 'celeryev.<uuid>' in vhost '/'"
            " (refused: Queue.declare)",
        ),
        (
            (50, 20),
            f"ACCESS_REFUSED - access to queue 'celeryev.{UUID}' in vhost '/' refused for user 'mon'",
            "no write permission on queue 'celeryev.<uuid>'",
        ),
        (
            (50, 20),
            "ACCESS_REFUSED - access to exchange 'celeryev' in vhost 'v' refused for user 'mon'",
            "no read permission on exchange 'celeryev' in vhost 'v'",
        ),
        (
            (60, 20),
            "ACCESS_REFUSED - access to queue 'celeryev.cam' in vhost '/' refused for user 'mon'",
            "no read permission on queue 'celeryev.cam'",
        ),
        (
            (60, 40),
            "ACCESS_REFUSED - access to exchange 'celery.pidbox' in vhost '/' refused for user 'mon'",
            "no write permission on exchange 'celery.pidbox'",
        ),
        (
            (40, 10),
            "ACCESS_REFUSED - access to exchange 'celeryev' in vhost '/' refused for user 'mon'",
            "no configure permission on exchange 'celeryev'",
        ),
        (
            (50, 40),  # a method evtop never uses: no guess at the permission
            "ACCESS_REFUSED - access to queue 'q' in vhost '/' refused for user 'mon'",
            "the broker user 'mon' has no access to queue 'q' in vhost '/' (refused: Queue.delete)",
        ),
    ],
)
def test_a_refused_permission_names_the_permission_and_the_resource(method, text, said):
    refusal = explain(amqp_error(403, text, method))
    assert refusal is not None and refusal.kind is Kind.NO_PERMISSION and not refusal.fatal
    assert said in refusal.message


def test_a_missing_exchange_is_recognised_from_rabbitmq_and_from_kombus_own_transports():
    text = "NOT_FOUND - no exchange 'celeryev' in vhost 'prod'"
    for exc in (
        amqp_error(404, text, (40, 10)),
        VirtualChannelError(text, (50, 10), "Channel.exchange_declare", "404"),
    ):
        refusal = explain(exc)
        assert refusal is not None and refusal.kind is Kind.MISSING_EXCHANGE
        assert (refusal.resource, refusal.vhost) == ("celeryev", "prod")


def test_a_queue_someone_else_consumes_is_waited_for():
    for code, text in (
        (403, "ACCESS_REFUSED - queue 'celeryev.cam' in vhost '/' in exclusive use"),
        (
            405,
            "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'celeryev.cam' in vhost '/'."
            " It could be originally declared on another connection or the exclusive property value does"
            " not match that of the original declaration.",
        ),
    ):
        refusal = explain(amqp_error(code, text, (60, 20)))
        assert refusal is not None and refusal.kind is Kind.IN_USE and not refusal.fatal
        assert (
            "queue 'celeryev.cam' in vhost '/' is in exclusive use by another connection" in refusal.message
        )


def test_a_queue_with_other_arguments_is_fatal_and_names_the_argument():
    text = (
        "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue 'celeryev.cam' in vhost '/':"
        " received '100000' but current is '5'"
    )
    refusal = explain(amqp_error(406, text, (50, 10)))
    assert refusal is not None and refusal.fatal
    assert refusal.message.startswith(
        "queue 'celeryev.cam' in vhost '/' already exists with another x-max-length than evtop declares"
        " (received '100000' but current is '5')"
    )


def test_a_redis_acl_refusal_says_what_evtop_needs():
    subscribe = RedisConnectionError(
        "PSUBSCRIBE refused: NOPERM this user has no permissions to access one of the channels used"
        " as arguments"
    )
    refusal = explain(subscribe, pattern="/0.celeryev/*")
    assert refusal is not None and refusal.kind is Kind.NO_PERMISSION
    assert refusal.message == (
        "the Redis ACL refused: this user has no permissions to access one of the channels used as"
        " arguments (evtop needs +psubscribe and +ping, the channel pattern &/0.celeryev/*, and +select"
        " for a database other than 0)"
    )
    select = explain(NoPermissionError("this user has no permissions to run the 'select' command"))
    assert select is not None and "run the 'select' command" in select.message


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("timed out"),
        amqp_error(
            320, "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'", (10, 50)
        ),
        RedisConnectionError("Redis closed the event subscription"),
    ],
)
def test_anything_else_is_not_a_refusal(exc):
    assert explain(exc) is None
