"""Workflow trees, acting on many tasks at once and custom progress, in the live TUI on a
pty, against a real ``celery worker`` on real Redis and RabbitMQ (#13 items 4 to 7).

A task held by its worker until a far countdown is RECEIVED and stays so: those are the
tasks a revoke is for. The worker's replies name every task id a revoke reached, so one
reply per worker naming all of them shows they went in one broadcast.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest
from celery import chain

from tests.support.terminal import Terminal
from tests.support.workers import app_for, send_task

pytestmark = [pytest.mark.broker, pytest.mark.worker]


def flat(text: str) -> str:
    """The screen as one line: questions and replies wrap."""
    return " ".join(line.strip() for line in text.splitlines())


def wait_flat(term: Terminal, *needles: str, timeout: float = 30.0) -> str:
    """Wait for text that may wrap over lines."""
    deadline = time.monotonic() + timeout
    while True:
        text = flat(term.text)
        if all(needle in text for needle in needles):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{needles!r} not on screen:\n{term.text}")
        time.sleep(0.05)


def only(term: Terminal, task_id: str) -> None:
    term.send(f"/uuid={task_id}\r")
    term.wait_for(f"filter: uuid={task_id}", "[Tasks] 1/")


@pytest.mark.timeout(150)
def test_the_tree_of_a_real_chain_with_child_tasks_and_its_revoke(broker_url, start_worker):
    queue = f"q-tree-{uuid.uuid4().hex[:6]}"
    worker = start_worker(broker_url, pool="prefork", extra_args=("-Q", queue, "-c", "2"))
    with Terminal("-b", broker_url, cols=180, rows=40) as term:
        term.wait_for("workers 1/1 online", timeout=30)
        app = app_for(broker_url)

        def step_of(name: str, *args: object, **options: object) -> object:
            return app.signature(
                f"evtop_test.{name}", args=args, immutable=True, options={"queue": queue, **options}
            )

        # The root sends two child tasks; the chain goes on to echo, then to an add held
        # back by its countdown: root -> (child, child, echo -> add).
        result = chain(
            step_of("spawn_children", 2, queue), step_of("echo", "step"), step_of("add", 1, 1, countdown=600)
        ).apply_async()
        last, step, root = result.id, result.parent.id, result.parent.parent.id
        term.wait_line(last[:8], "RECEIVED", timeout=30)  # the chain has reached it
        only(term, last)
        term.send("w")
        text = term.wait_for(f"Workflow of {last}", f"root {root}: 5 tasks in memory (4 SUCCESS, 1 RECEIVED)")
        lines = [line.rstrip() for line in text.splitlines()]
        at = lines.index(f"evtop_test.spawn_children SUCCESS {root} on {worker.nodename}")
        tree = lines[at : at + 5]
        assert (
            sum(
                re.fullmatch(rf"[├└]─ evtop_test.add SUCCESS \S+ on {worker.nodename}", line) is not None
                for line in tree
            )
            == 2
        )
        assert f"└─ evtop_test.echo SUCCESS {step} on {worker.nodename}" in tree
        assert f"   └─ evtop_test.add RECEIVED {last} on {worker.nodename}  ◀ this task" in tree

        term.send("g")  # the heading: the whole workflow, of which only the held add is unfinished
        term.send("c")
        wait_flat(term, "Revoke 1 task (1 RECEIVED) of the whole workflow, leaving out 4 finished?", "[y/N]")
        term.send("y")
        text = wait_flat(term, "Replies to revoke", "1 of 1 worker replied", f"{last}", "flagged as revoked")
        assert worker.nodename in text
        term.send("q")  # the replies; then the tree, still there
        term.wait_for(f"Workflow of {last}")
        term.send("q")
        term.wait_gone(f"Workflow of {last}")
        term.send("q")
        status, err = term.wait_exit()
    assert status == 0, err


@pytest.mark.timeout(150)
def test_tagged_tasks_revoked_in_one_broadcast_and_a_running_one_terminated(broker_url, start_worker):
    queue = f"q-bulk-{uuid.uuid4().hex[:6]}"
    worker = start_worker(broker_url, pool="prefork", extra_args=("-Q", queue, "-c", "2"))
    with Terminal("-b", broker_url, cols=200, rows=40) as term:
        term.wait_for("workers 1/1 online", timeout=30)
        held = [send_task(broker_url, "evtop_test.add", (i, i), queue=queue, countdown=600) for i in range(3)]
        running = send_task(broker_url, "evtop_test.sleep", (120,), queue=queue)
        term.send(f"/worker={worker.nodename}\r")
        term.wait_for(f"filter: worker={worker.nodename}", "[Tasks] 4/", timeout=30)
        term.wait_line(running[:8], "STARTED", timeout=30)
        for task_id in held:
            term.wait_line(task_id[:8], "RECEIVED", timeout=30)
        term.send("*")
        term.wait_for("tagged: 4")
        term.send("c")
        wait_flat(
            term,
            "Revoke 4 tasks (3 RECEIVED, 1 STARTED)?",
            "1 of them are running, and a revoke does not stop a running task: x terminates them instead.",
            "[y/x/N]",
        )
        term.send("y")
        text = wait_flat(term, "Replies to revoke", "1 of 1 worker replied", timeout=30)
        reply = next(line for line in text.split(worker.nodename) if "flagged as revoked" in line)
        assert all(task_id in reply for task_id in [*held, running])  # one message, every id
        term.send("q")
        term.wait_line(running[:8], "STARTED")  # a revoke did not stop it

        term.send("u")
        term.wait_for("untagged 4 tasks")
        only(term, running)
        term.send("c")  # one running task: the question says so and offers terminate
        wait_flat(
            term,
            f"Revoke task {running} (evtop_test.sleep, STARTED on {worker.nodename})? It is running,",
            "a revoke does not stop a running task: x terminates it instead. [y/x/N]",
        )
        term.send("x")
        wait_flat(term, f"Terminate task {running} (evtop_test.sleep, STARTED on {worker.nodename}): SIGTERM")
        term.send("terminate\r")
        wait_flat(term, "Replies to terminate", "1 of 1 worker replied", timeout=30)
        term.send("q")
        term.wait_line(running[:8], "REVOKED", timeout=30)
        term.send("q")
        status, err = term.wait_exit()
    assert status == 0, err


@pytest.mark.timeout(120)
def test_a_real_tasks_progress_events_show_in_the_table_and_its_pane(broker_url, start_worker):
    queue = f"q-prog-{uuid.uuid4().hex[:6]}"
    start_worker(broker_url, pool="prefork", extra_args=("-Q", queue, "-c", "1"))
    with Terminal("-b", broker_url, cols=160, rows=40) as term:
        term.wait_for("workers 1/1 online", timeout=30)
        task_id = send_task(broker_url, "evtop_test.progress", (2, 5), {"hold": 60}, queue=queue)
        only(term, task_id)
        line = term.wait_line(task_id[:8], "PROGRESS", timeout=30)
        term.wait_line(task_id[:8], "PROGRESS", " 40% ", timeout=30)
        assert "evtop_test.progress" in line
        term.send("i")
        text = term.wait_for(f"Task {task_id}", "2 of 5 (40%)")
        for label, value in (
            ("progress", "2 of 5 (40%)"),
            ("current", "2"),
            ("total", "5"),
            ("state", "PROGRESS"),
        ):
            assert re.search(rf"^{label} +{re.escape(value)} *$", text, re.MULTILINE), label
        term.send("q")
        term.send("q")
        status, err = term.wait_exit()
    assert status == 0, err
