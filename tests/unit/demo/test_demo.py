"""``--demo``: a simulated cluster travels the real Receiver → Ingest → State path."""

from __future__ import annotations

import threading

import pytest

from evtop import State
from evtop.demo.source import DemoSource
from evtop.events.pipeline import Ingest
from tests.support.live import wait_until


@pytest.mark.timeout(60)
def test_demo_cluster_shows_the_whole_story():
    state = State()
    ingest = Ingest(state.event)
    source = DemoSource(ingest, seed=7, pace=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(stop,), daemon=True)
    thread.start()
    try:

        def story() -> bool:
            with state._mutex:
                tasks = list(state.tasks.values())
                return (
                    len(list(state.alive_workers())) >= 3
                    and len(state.task_types()) >= 10
                    and any(t.state == "FAILURE" and t.traceback for t in tasks)
                    and any(t.retried for t in tasks)
                    and any(t.state == "REVOKED" for t in tasks)
                    and any(t.parent_id and t.parent_id != t.uuid for t in tasks)
                    and any(t.client for t in tasks)
                    and any(t.state == "PROGRESS" and 0 < t.current < t.total for t in tasks)
                )

        wait_until(
            story, 45, "the demo never showed workers, failures, retries, revokes, children and progress"
        )
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    stats = ingest.stats
    assert stats.balanced and stats.dropped_total == 0 and stats.messages > stats.received / 30
    assert source.status.snapshot().reconnects == 0
    # Task events arrive batched, as from a prefork worker.
    assert stats.received > stats.messages
