"""A live ``--dump`` on a broker where nothing arrives says so on stderr, and when it ends.

Redis db 7 of the session's redis-server: pub/sub channels carry the db number, so no
worker of another test is heard there, and the silence is real.
"""

from __future__ import annotations

import time

import pytest

from evtop.events.silence import HINT
from tests.support.events import task_event, wire
from tests.support.live import EvtopProcess
from tests.support.publish import EventPublisher

pytestmark = [pytest.mark.broker]


@pytest.mark.timeout(120)
def test_a_silent_broker_is_named_once_and_the_end_of_the_silence_too(redis_server):
    url = f"redis://{redis_server.host}:{redis_server.port}/7"
    began = time.monotonic()
    evtop = EvtopProcess("-b", url, "--dump")
    try:
        evtop.wait_said("no events for", 60)
        assert time.monotonic() - began >= 29  # not before 30 s of silence
        (said,) = [line for line in evtop.err if "no events for" in line]
        assert "WARNING" in said and f"{url}: no events for 3" in said and said.rstrip().endswith(HINT)
        with EventPublisher(url) as publisher:
            publisher.publish(wire(task_event("task-received", "after-silence", time.time())))
        evtop.wait_said("events resumed after", 15)
    finally:
        status = evtop.stop()
    assert status == 0
    assert sum("no events for" in line for line in evtop.err) == 1
    assert sum("events resumed after" in line for line in evtop.err) == 1
    assert not evtop.said("Traceback")
