"""The source thread of the streaming modes: a refusal no retry can fix ends the run."""

from __future__ import annotations

import threading

import pytest

from evtop.broker.refusals import BrokerRefused
from evtop.broker.status import ConnectionStatus
from evtop.runner import run_source


class Refused:
    """A source the broker turned away for good, as the receiver is for a mismatched --queue."""

    def __init__(self) -> None:
        self.status = ConnectionStatus("amqp://guest:**@localhost//")

    def run(self, stop: threading.Event) -> None:
        raise BrokerRefused("queue 'celeryev.cam' already exists with another x-max-length")


def test_a_refusal_that_ended_the_source_is_raised_once_it_stopped():
    stop = threading.Event()
    with pytest.raises(BrokerRefused, match="x-max-length"):
        run_source(Refused(), stop)
    assert stop.is_set()
