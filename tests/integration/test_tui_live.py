"""The live TUI against a real ``celery worker -E`` on real Redis and RabbitMQ, on a pty.

What an operator does during an incident: watch a task run, find a stuck one, terminate
it, revoke a queued one, and see the worker's replies and the resulting task states.
"""

from __future__ import annotations

import uuid

import pytest

from tests.support.terminal import Terminal
from tests.support.workers import send_task

pytestmark = [pytest.mark.broker, pytest.mark.worker]


def only(term: Terminal, task_id: str) -> str:
    """Filter the task table down to one task: it is then the selected row."""
    term.send(f"/uuid={task_id}\r")
    return term.wait_for(f"filter: uuid={task_id}", "[Tasks] 1/")


@pytest.mark.timeout(150)
def test_watch_terminate_and_revoke_through_the_tui(broker_url, start_worker):
    queue = f"q-tui-{uuid.uuid4().hex[:6]}"
    worker = start_worker(broker_url, pool="prefork", extra_args=("-Q", queue, "-c", "2"))
    with Terminal("-b", broker_url, cols=160, rows=40) as term:
        term.wait_for("connected to", timeout=30)
        term.wait_for("workers 1/1 online", timeout=30)

        added = send_task(broker_url, "evtop_test.add", (2, 3), queue=queue)
        text = term.wait_for(added[:20], timeout=30)
        term.wait_for("SUCCESS", timeout=30)

        # A stuck task: terminate it from its row, after typing the confirmation.
        stuck = send_task(broker_url, "evtop_test.sleep", (120,), queue=queue)
        term.wait_for(stuck[:20], timeout=30)
        only(term, stuck)
        term.wait_line(stuck[:8], "STARTED", timeout=30)
        term.send("x")
        term.wait_for(f"Terminate task {stuck} (evtop_test.sleep, STARTED on {worker.nodename})")
        term.wait_for("type terminate and Enter to confirm")
        term.send("y\r")  # a reflex y is not enough for a kill
        term.wait_for("terminate cancelled: nothing was sent")
        term.send("x")
        term.wait_for("type terminate and Enter to confirm")
        term.send("terminate\r")
        text = term.wait_for("Replies to terminate", "1 of 1 worker replied", timeout=30)
        assert f"terminate: {stuck}" in text
        term.send("q")
        term.wait_line(stuck[:8], "REVOKED", timeout=30)

        # A queued task (its ETA is far away): revoke it.
        later = send_task(broker_url, "evtop_test.add", (1, 1), queue=queue, countdown=600)
        only(term, later)
        term.wait_line(later[:8], "RECEIVED", timeout=30)
        term.send("c")
        term.wait_for(f"Revoke task {later} (evtop_test.add, RECEIVED on {worker.nodename})")
        term.send("n")  # no: nothing is sent
        term.wait_for("revoke cancelled: nothing was sent")
        term.send("c")
        term.wait_for(f"Revoke task {later}")
        term.send("y")
        text = term.wait_for("Replies to revoke", f"{later}'}} flagged as revoked", timeout=30)
        assert worker.nodename in text

        # The worker view shows what the worker did.
        term.send("q")
        term.send("2")
        text = term.wait_for("[Workers] 1/1", worker.nodename)
        term.send("q")
        status, err = term.wait_exit()
    assert status == 0, err
    assert "Traceback" not in err
