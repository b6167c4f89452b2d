"""Silence on a live connection: said once when it begins and once when events resume."""

from __future__ import annotations

import logging

from evtop.broker.status import ConnectionStatus, Phase
from evtop.events.silence import HINT, SilenceWatch, quiet
from evtop.events.stats import IngestStats
from evtop.report import Reporter

T0 = 1_795_418_542.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def connected(clock: Clock) -> ConnectionStatus:
    status = ConnectionStatus("redis://h:6379/0", clock=clock)
    status.connected()
    assert status.snapshot().phase is Phase.CONNECTED
    return status


def test_silence_counts_from_the_connection_until_something_arrives():
    clock = Clock()
    status = connected(clock)
    clock.now += 30
    assert quiet(status.snapshot(), clock.now, 30) is None  # not longer than the limit
    clock.now += 0.5
    found = quiet(status.snapshot(), clock.now, 30)
    assert found is not None and found.seconds == 30.5 and not found.heard_before
    status.last_message_at = clock.now - 1
    assert quiet(status.snapshot(), clock.now, 30) is None
    clock.now += 40
    found = quiet(status.snapshot(), clock.now, 30)
    assert found is not None and found.seconds == 41 and found.heard_before


def test_an_outage_is_not_silence():
    clock = Clock()
    status = connected(clock)
    status.lost("boom", retry_in=5.0)
    clock.now += 100
    assert quiet(status.snapshot(), clock.now, 30) is None


def test_the_watch_says_the_beginning_once_and_the_end_once():
    clock = Clock()
    status = connected(clock)
    watch = SilenceWatch(after=30)
    lines = []
    for _ in range(100):  # 100 s of nothing, looked at every second
        clock.now += 1
        lines.append(watch.check(status.snapshot(), clock.now))
    said = [line for line in lines if line]
    assert said == [f"no events for 31 s: {HINT}"] and watch.silent
    clock.now += 5
    status.last_message_at = clock.now
    assert watch.check(status.snapshot(), clock.now) == "events resumed after 105 s of silence"
    assert not watch.silent
    assert watch.check(status.snapshot(), clock.now + 1) is None


def test_the_reporter_logs_silence_for_a_live_source_only(caplog):
    clock = Clock()
    status = connected(clock)
    live = Reporter(IngestStats(), "redis://h:6379/0", status=status, clock=clock)
    replayed = Reporter(IngestStats(), "replay of f", clock=clock)
    clock.now += 31
    with caplog.at_level(logging.WARNING, logger="evtop"):
        live.report_silence()
        replayed.report_silence()
        live.report_silence()
    assert [r.getMessage() for r in caplog.records] == [f"redis://h:6379/0: no events for 31 s: {HINT}"]
