"""RabbitMQ's management API, as far as it can be checked without RabbitMQ (the live
test is tests/integration/test_queues_live.py): its password never shows in an error."""

from __future__ import annotations

import socket

import pytest

from evtop.broker.config import BrokerConfig
from evtop.broker.queues import lists_queues, management_depths, sampled_from
from evtop.errors import EvtopError


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_management_api_is_named_without_its_password():
    port = closed_port()
    with pytest.raises(EvtopError) as caught:
        management_depths(f"http://guest:s3cret@127.0.0.1:{port}", "/", timeout=2)
    message = str(caught.value)
    assert f"the management API at 127.0.0.1:{port} did not answer" in message
    assert "s3cret" not in message and "guest" not in message


def test_a_management_url_lists_the_queues_of_a_broker_that_cannot():
    rabbit = BrokerConfig(url="amqp://guest@rabbit//")
    assert not lists_queues(rabbit)
    assert lists_queues(BrokerConfig(url="amqp://guest@rabbit//", management_url="http://rabbit:15672"))
    assert lists_queues(BrokerConfig(url="redis://h/0"))


def test_where_the_depths_come_from_is_said_without_a_password():
    api = "http://monitor:s3cret@rabbit:15672"
    managed = sampled_from(BrokerConfig(url="amqp://guest:pw@rabbit//", management_url=api))
    assert managed == "the RabbitMQ management API at http://monitor:**@rabbit:15672"
    assert sampled_from(BrokerConfig(url="amqp://guest:pw@rabbit//")) == "AMQP passive queue.declare"
    assert sampled_from(BrokerConfig(url="redis://:pw@h/0", management_url=api)) == "Redis LLEN"
