"""A worker's pane as text: whatever a worker answers (or a hostile one sends) renders."""

from __future__ import annotations

from evtop.view.workerpane import INQUIRIES, Answer, WorkerDetail
from tests.support.cluster import T0, cluster


def lines(detail: WorkerDetail) -> list[str]:
    return detail.pane(cluster(), T0 + 100).lines()


def test_answers_of_the_wrong_shape_render_as_data_not_errors():
    detail = WorkerDetail("celery@w1", timeout=2.0)
    odd = {
        "stats": ["not", "a", "dict"],
        "active": {"not": "a list"},
        "reserved": None,
        "scheduled": [42, {"request": "nope"}],
        "registered": "proj.add",
        "active_queues": [7, {"exchange": "not a dict"}],
    }
    for method, value in odd.items():
        detail.answers[method] = Answer(value, after=0.01)
    text = "\n".join(lines(detail))
    assert "6 of 6 replied within 2 s (R asks again)" in text
    assert '"a list"' in text and "  none" in text and "  42" in text and "  7" in text


def test_errors_silence_and_hostile_text():
    detail = WorkerDetail("celery@w1", timeout=1.0)
    assert "0 of 6 replied so far" in "\n".join(lines(detail))
    detail.answers["stats"] = Answer(error="the worker answered: \x1b]0;pwned\x07nope")
    detail.answers["active"] = Answer()
    detail.answers["registered"] = Answer(["proj.\x1b[31mred"], after=0.2)
    text = "\n".join(lines(detail))
    assert "\x1b" not in text and "\x07" not in text and "nope" in text and "proj." in text
    assert "no reply within 1 s (busy, or gone)" in text
    assert "1 of 6 replied so far" in text and text.count("waiting for the reply...") == len(INQUIRIES) - 3
    detail.cannot_ask = "--read-only sends nothing to the workers"
    text = "\n".join(lines(detail))
    assert "not asked: --read-only" in text and "Stats" not in text
    assert "tasks in memory  6" in text  # what the events say is there either way
