"""``evtop --dump --json`` as a real process against real brokers and ``celery worker -E``.

celery's own receiver (the oracle) listens at the same time: evtop must print every event
of the tasks the test ran, with the same fields. The run is recorded with ``--record``,
and ``--replay --dump --json --speed max`` must then print the very same events.
"""

from __future__ import annotations

import gzip
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evtop.events.states import READY_STATES
from evtop.record.schema import SessionRecord, parse
from tests.support.dump import DumpProcess
from tests.support.live import wait_until
from tests.support.oracle import CeleryOracle
from tests.support.workers import send_task

pytestmark = [pytest.mark.broker, pytest.mark.worker]

#: Set by each receiver itself: its receive time, and its own clock for client events.
RECEIVER_LOCAL = {"clock", "local_received"}


def by_task(events: list[dict[str, Any]], ids: list[str]) -> dict[str, Counter[str]]:
    return {i: Counter(e["type"] for e in events if e.get("uuid") == i) for i in ids}


def payload(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in RECEIVER_LOCAL}


def oracle_events(oracle: CeleryOracle, ids: list[str]) -> list[dict[str, Any]]:
    with oracle.lock:
        return [e for e in oracle.events if e.get("uuid") in ids]


@pytest.mark.timeout(90)
def test_dump_json_shows_every_event_and_replays_them(broker_url, start_worker, tmp_path: Path):
    queues = {pool: f"q-{pool}-{uuid.uuid4().hex[:6]}" for pool in ("prefork", "solo")}
    workers = {
        pool: start_worker(broker_url, pool=pool, extra_args=("-Q", queue)) for pool, queue in queues.items()
    }
    recording = tmp_path / "live.jsonl.gz"
    with CeleryOracle(broker_url) as oracle:
        dump = DumpProcess("-b", broker_url, "--record", str(recording))
        try:
            dump.wait_subscribed(broker_url)
            ids = []
            for queue in queues.values():
                ids += [
                    send_task(broker_url, "evtop_test.add", (2, 3), queue=queue),
                    send_task(broker_url, "evtop_test.fail", ("boom\n\x1b[2J",), queue=queue),
                    send_task(broker_url, "evtop_test.flaky", (1,), queue=queue),
                    send_task(broker_url, "evtop_test.echo", ("unicode ✓ \u202e",), queue=queue),
                ]

            def finished(state: Any) -> bool:
                return all(
                    state.tasks.get(i) is not None and state.tasks[i].state in READY_STATES for i in ids
                )

            oracle.wait_for(finished, timeout=40, message="the oracle never saw every task finish")
            expected = by_task(oracle_events(oracle, ids), ids)
            wait_until(lambda: by_task(dump.events(), ids) == expected, 15, "evtop missed events")
        finally:
            status, err = dump.stop()
    assert status == 130, err  # stopped with Ctrl-C, as a shell reports it
    assert "Traceback" not in err

    # Every event of every task, field for field as celery's receiver got it.
    live = [e for e in dump.events() if e.get("uuid") in ids]
    key = lambda e: (e["uuid"], e["type"], e["timestamp"])  # noqa: E731
    assert sorted(map(payload, live), key=key) == sorted(map(payload, oracle_events(oracle, ids)), key=key)
    assert {e["type"] for e in live} >= {"task-sent", "task-received", "task-started", "task-succeeded"}
    assert {"task-failed", "task-retried"} <= {e["type"] for e in live}
    ran_on = {e["hostname"] for e in live if e["type"] == "task-started"}
    assert ran_on == {worker.nodename for worker in workers.values()}

    # The recording replays to exactly what was printed live.
    with gzip.open(recording, "rb") as stream:
        session = parse(stream.readline())
    assert isinstance(session, SessionRecord) and session.source.split(":")[0] == broker_url.split(":")[0]
    replay = DumpProcess("--replay", str(recording), "--speed", "max")
    assert replay.proc.wait(timeout=30) == 0
    replay.reader.join(10)
    assert replay.events() == dump.events()
