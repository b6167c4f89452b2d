"""Workflow trees, tags and custom progress on a real pty (``python -m evtop --replay``).

The control keys' questions against real workers are in tests/integration/test_tui_live.py;
a replay has no workers, so here they are refused with the reason.
"""

from __future__ import annotations

import pytest

from tests.support.events import T0, lifecycle, task_event, write_recording
from tests.support.terminal import Terminal

ROOT = "a0000000-0000-4000-8000-000000000000"
STEP = "a0000000-0000-4000-8000-000000000001"
CHILD = "a0000000-0000-4000-8000-000000000002"
PROGRESS = "b0000000-0000-4000-8000-000000000000"


def workflow_events() -> list[dict]:
    """A chain root -> step (running) -> child (queued), and a task reporting progress."""
    return [
        task_event("task-received", ROOT, T0 + 50, 100, name="flow.root", root_id=ROOT),
        task_event("task-started", ROOT, T0 + 50.1, 101),
        task_event("task-succeeded", ROOT, T0 + 50.2, 102, runtime=0.1, result="1"),
        task_event("task-received", STEP, T0 + 51, 103, name="flow.step", root_id=ROOT, parent_id=ROOT),
        task_event("task-started", STEP, T0 + 51.1, 104),
        task_event("task-received", CHILD, T0 + 52, 105, name="flow.child", root_id=ROOT, parent_id=STEP),
        task_event("task-received", PROGRESS, T0 + 53, 106, name="proj.resize", root_id=PROGRESS),
        task_event("task-started", PROGRESS, T0 + 53.1, 107),
        task_event("task-progress", PROGRESS, T0 + 53.2, 108, current=2, total=5, step="thumbnails"),
    ]


@pytest.fixture
def recording(tmp_path):
    return write_recording(tmp_path / "flow.jsonl", lifecycle(5) + workflow_events())


def only(term: Terminal, uuid: str) -> None:
    term.send(f"/uuid={uuid}\r")
    term.wait_for(f"filter: uuid={uuid}", "[Tasks] 1/")


def test_w_opens_the_workflow_tree_with_states_and_counts(recording):
    with Terminal("--replay", recording, "--speed", "max", cols=140) as term:
        term.wait_for("replay finished")
        only(term, CHILD)
        term.send("w")
        text = term.wait_for(f"Workflow of {CHILD}", "root a0000000-0000-4000-8000-000000000000: 3 tasks")
        assert "(1 RECEIVED, 1 STARTED, 1 SUCCESS)" in text
        lines = [line.rstrip() for line in text.splitlines()]
        at = lines.index(f"flow.root SUCCESS {ROOT} on celery@h")
        assert lines[at + 1 : at + 3] == [
            f"└─ flow.step STARTED {STEP} on celery@h",
            f"   └─ flow.child RECEIVED {CHILD} on celery@h  ◀ this task",
        ]
        row = lines.index(lines[at + 1])
        cells = term.screen.buffer[row]
        assert (
            cells[3].fg == "default" and cells[3 + len("flow.step ")].fg == "brightbrown"
        )  # STARTED: yellow
        term.send("k")  # onto flow.step: c asks about it and its child; a replay has no workers
        term.send("c")
        term.wait_for("no workers to send to")
        term.send("q")
        term.wait_gone("Workflow of")
        term.wait_for("[Tasks] 1/")
        term.send("q")
        assert term.wait_exit()[0] == 0


def test_space_tags_star_tags_the_filtered_rows_and_u_untags(recording):
    with Terminal("--replay", recording, "--speed", "max", cols=140) as term:
        term.wait_for("replay finished", "[Tasks] 9/9")
        term.send("g ")  # the newest row, tagged; the selection moves down
        term.wait_for("tagged: 1 (u: untag)")
        assert term.wait_line(f"*{PROGRESS[:20]}", "proj.resize")  # marked before its uuid
        term.send(" ")  # the next row too
        term.wait_for("tagged: 2")
        term.send(" ")
        term.wait_for("tagged: 3")
        term.send("k ")  # back up one and again: untagged
        term.wait_for("tagged: 2")
        term.send("/name=proj.add\r*")
        text = term.wait_for("tagged: 7", "tagged 5 more")
        assert sum(line.lstrip().startswith("*0000") for line in text.splitlines()) == 5
        term.send("c")  # acts on the tags; a replay has no workers to send to
        term.wait_for("no workers to send to")
        term.send("u")
        text = term.wait_for("untagged 7 tasks")
        assert "tagged:" not in text and "*0000" not in text
        term.send("\x06")  # page down is still ^F (and PgDn)
        term.send("q")
        assert term.wait_exit()[0] == 0


def test_progress_of_custom_events_in_the_table_and_the_task_pane(recording):
    with Terminal("--replay", recording, "--speed", "max", cols=140) as term:
        term.wait_for("replay finished")
        line = term.wait_line(PROGRESS[:8], "proj.resize")
        # Running since its start: for how long, by the recording's last receive time.
        assert "PROGRESS" in line and " 40% " in line and " 0.110s " in line
        assert "DONE" in term.text
        only(term, PROGRESS)
        term.send("i")
        text = term.wait_for(f"Task {PROGRESS}", "progress     2 of 5 (40%)", "running for  0.110s")
        assert "step         thumbnails" in text and "state        PROGRESS" in text
        term.send("q")
        term.wait_gone(f"Task {PROGRESS}")
        term.send("q")
        assert term.wait_exit()[0] == 0
