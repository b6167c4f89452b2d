"""Delivery threads: at least once, in order, down and up logged once, one sink never
holding up another, and a final wait that says what it could not deliver."""

from __future__ import annotations

import logging
import threading

import pytest

from evtop.broker.status import Backoff
from evtop.camera.sinks.base import Sink
from evtop.camera.sinks.delivery import Deliveries, Delivery
from tests.support.live import wait_until
from tests.unit.camera.sinks.shots import Shots, received


class Recording(Sink):
    """A sink that keeps what it is given, and fails while told to."""

    def __init__(self, url: str = "recording://") -> None:
        super().__init__(url)
        self.written: list[int] = []
        self.failing = threading.Event()
        #: Writes wait while it is closed (a sink that hangs).
        self.gate = threading.Event()
        self.gate.set()
        self.opens = 0
        self.cleanups: list[float] = []

    def open(self) -> None:
        self.opens += 1
        if self.failing.is_set():
            raise ConnectionError("database is down")

    def write(self, snapshot) -> None:
        self.gate.wait()
        if self.failing.is_set():
            raise ConnectionError("database is down")
        self.written.append(snapshot.id)

    def cleanup(self, before: float) -> None:
        self.cleanups.append(before)


def fast(sink: Sink) -> Delivery:
    return Delivery(sink, backoff=Backoff(base=0.01, cap=0.05, jitter=0))


def snapshots(n: int) -> list:
    shots = Shots()
    return [shots.feed(received(i, i)).shoot() for i in range(n)]


def test_a_sink_that_fails_gets_every_snapshot_in_order_once_it_is_back(caplog):
    sink = Recording()
    delivery = fast(sink)
    delivery.start()
    taken = snapshots(6)
    delivery.put(taken[0])
    wait_until(lambda: sink.written == [1], 10)
    sink.failing.set()
    for snapshot in taken[1:4]:
        delivery.put(snapshot)
    wait_until(lambda: not delivery.health().up, 10)
    wait_until(lambda: sink.opens > 3, 10)  # retried meanwhile
    sink.failing.clear()
    for snapshot in taken[4:]:
        delivery.put(snapshot)
    wait_until(lambda: delivery.pending == 0, 10)
    assert sink.written == [1, 2, 3, 4, 5, 6]
    assert delivery.stop(deadline=0) is True
    messages = [r.getMessage() for r in caplog.records if r.name == "evtop.camera.sinks.delivery"]
    assert len(messages) == 2
    assert messages[0].startswith(
        "sink recording:// is down: write failed (ConnectionError: database is down)"
    )
    assert messages[1].startswith("sink recording:// is up again after ")


def test_a_hanging_sink_holds_up_neither_the_camera_nor_another_sink():
    stuck, fine = Recording("stuck://"), Recording("fine://")
    stuck.gate.clear()
    deliveries = Deliveries([fast(stuck), fast(fine)])
    deliveries.start()
    for snapshot in snapshots(3):
        deliveries.put(snapshot)  # returns at once
    wait_until(lambda: fine.written == [1, 2, 3], 10)
    assert stuck.written == []
    assert [h.depth for h in deliveries.health()] == [3, 0]
    problems = deliveries.finish(timeout=0.2)
    assert problems == [
        "sink stuck://: 3 snapshots (3 task changes) not delivered within 0.2 s, the final one included"
    ]
    stuck.gate.set()


def test_finishing_retries_a_failing_sink_until_the_deadline_and_names_the_error():
    sink = Recording("down://")
    sink.failing.set()
    delivery = Delivery(sink, backoff=Backoff(base=60, cap=60, jitter=0))  # would wait a minute
    deliveries = Deliveries([delivery])
    deliveries.start(wait=10)
    deliveries.put(snapshots(1)[0])
    threading.Timer(0.3, sink.failing.clear).start()
    assert deliveries.finish(timeout=10) == []  # retried within a second, not a minute
    assert sink.written == [1]


def test_an_undeliverable_final_snapshot_is_reported_with_the_last_error():
    sink = Recording("down://")
    sink.failing.set()
    deliveries = Deliveries([fast(sink)])
    deliveries.start()
    deliveries.put(snapshots(1)[0])
    [problem] = deliveries.finish(timeout=0.3)
    assert problem.endswith("the final one included; last error: ConnectionError: database is down")


def test_a_cleanup_waits_for_the_sink_and_runs_once():
    sink = Recording()
    sink.failing.set()
    deliveries = Deliveries([fast(sink)])
    deliveries.start()
    deliveries.cleanup(1234.0)
    sink.failing.clear()
    wait_until(lambda: sink.cleanups == [1234.0], 10)
    assert deliveries.finish(timeout=1) == []


@pytest.mark.parametrize("merged", [True, False])
def test_spool_merging_is_logged_once_and_losses_are_reported_at_the_end(caplog, merged):
    caplog.set_level(logging.WARNING)
    sink = Recording()
    sink.failing.set()
    delivery = fast(sink)
    delivery.spool.max_snapshots = 2
    if not merged:
        delivery.spool.max_tasks = 1
    deliveries = Deliveries([delivery])
    deliveries.start()
    for snapshot in snapshots(4):
        deliveries.put(snapshot)
    sink.failing.clear()
    problems = deliveries.finish(timeout=10)
    spool_lines = [r.getMessage() for r in caplog.records if "spool" in r.getMessage()]
    assert spool_lines[0].startswith("sink recording://: spool full (2 snapshots")
    if merged:
        assert problems == [] and len(spool_lines) == 1
    else:
        assert problems == ["sink recording://: 3 task changes were lost while its spool was full"]
