"""The ``--dump`` line is celery's own, byte for byte on benign input, and always terminal-safe.

The oracle is celery's ``Dumper`` (celery is a test dependency) fed deep copies of the same
normalised events evtop's formatter sees.
"""

from __future__ import annotations

import copy
import io
import threading
import time
from datetime import datetime, timezone
from typing import Any

import pytest
from celery.events import dumper as celery_dumper
from hypothesis import given, settings
from hypothesis import strategies as st

from evtop.demo.source import DemoSource
from evtop.dump.format import TASK_CACHE_SIZE, TextFormatter, humanize_type, utc_time
from evtop.events.pipeline import Ingest
from evtop.text.sanitize import sanitize
from tests.support.events import HOSTILE, assert_terminal_safe, task_event, wire, worker_event

NOW = 1795418542.5


def celery_lines(events: list[dict[str, Any]]) -> list[str]:
    """What ``celery events --dump`` prints for ``events``, one string per event.

    celery prints multi-line values raw, so each event gets its own output buffer; the
    task-name cache (a celery module global) is shared across them, as in a real run.
    """
    celery_dumper.TASK_NAMES.clear()
    lines = []
    for event in events:
        out = io.StringIO()
        celery_dumper.Dumper(out=out).on_event(copy.deepcopy(event))
        lines.append(out.getvalue().removesuffix("\n"))
    return lines


def evtop_lines(events: list[dict[str, Any]]) -> list[str]:
    formatter = TextFormatter()
    return [formatter.line(event) for event in events]


def normalised(*bodies: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    ingest = Ingest(seen.append, now=lambda: NOW)
    for body in bodies:
        ingest.feed_decoded(copy.deepcopy(body))
    return seen


def worker(type_: str, **fields: Any) -> dict[str, Any]:
    """A worker's body as sent (no ``local_received``: :func:`normalised` adds it)."""
    return wire(worker_event(type_, "celery@box", NOW, 1, sent=NOW - 1, pid=11923, **fields))


def task(type_: str, uuid: str = "d9b0c3c6-0000-4000-8000-000000000001", **fields: Any) -> dict[str, Any]:
    return wire(task_event(type_, uuid, NOW, 2, hostname="celery@box", sent=NOW - 0.5, pid=11923, **fields))


RECEIVED = {
    "name": "proj.tasks.add",
    "args": "(2, 2)",
    "kwargs": "{}",
    "root_id": "d9b0c3c6-0000-4000-8000-000000000001",
    "parent_id": None,
    "retries": 0,
    "eta": None,
    "expires": None,
}

LIFECYCLE = [
    worker("worker-online"),
    task("task-received", **RECEIVED),
    task("task-started"),
    task("task-succeeded", result="4", runtime=0.0012),
    task("task-failed", uuid="unknown-uuid", exception="ZeroDivisionError('division by zero')"),
    task("task-retried", exception="Retry in 1s", traceback="Traceback (most recent call last): ..."),
    task("task-revoked", terminated=True, signum="15", expired=False),
    task("task-rejected", requeue=False),
    task("task-cancelled"),
    worker("worker-heartbeat", active=1),
    worker("worker-offline"),
    {"type": "foo-bar", "hostname": "celery@box", "timestamp": NOW, "answer": 42},
    {"type": "custom-nofields", "hostname": "celery@box", "timestamp": NOW},
    task("Task-Received", uuid="mixed-case", **RECEIVED),
    task("task-progress", current=3, total=10),
]


def test_the_lifecycle_prints_exactly_as_celery_does():
    events = normalised(*LIFECYCLE)
    assert len(events) == len(LIFECYCLE)
    assert evtop_lines(events) == celery_lines(events)


def test_line_shapes_from_the_spec():
    formatter = TextFormatter()
    events = normalised(worker("worker-online"), task("task-received", **RECEIVED), task("task-failed", "u2"))
    online, received, failed = (formatter.line(e) for e in events)
    stamp = utc_time(NOW - 1)
    assert online.startswith(f"celery@box [{stamp}] started: active=0, clock=1, freq=2.0, loadavg=[0.1, 0.2")
    assert stamp.endswith("+00:00")
    assert received.startswith(
        "celery@box [2026-11-23 07:22:22+00:00] task received: "
        "proj.tasks.add(d9b0c3c6-0000-4000-8000-000000000001) args=(2, 2) kwargs={} clock="
    )
    assert " task failed:  clock=" in failed  # unknown task: two spaces, as celery prints


def test_a_line_without_fields_keeps_celerys_trailing_space():
    event = {"type": "custom-nofields", "hostname": "h", "timestamp": NOW, "clock": 1, "local_received": NOW}
    bare = {k: v for k, v in event.items() if k in ("type", "hostname", "timestamp")}
    assert TextFormatter().line(bare) == f"h [{utc_time(NOW)}] custom nofields "
    assert TextFormatter().line(bare) == celery_lines([bare])[0]


def test_microseconds_zero_and_utc_rendering():
    assert utc_time(0.5) == "1970-01-01 00:00:00.500000+00:00"
    assert utc_time(1795418542.0) == "2026-11-23 07:22:22+00:00"


def test_the_event_is_not_mutated_and_the_cache_is_per_formatter():
    events = normalised(task("task-received", **RECEIVED), task("task-succeeded", result="4"))
    before = copy.deepcopy(events)
    first = TextFormatter()
    lines = [first.line(e) for e in events]
    assert events == before
    assert "proj.tasks.add(" in lines[1]
    assert "proj.tasks.add(" not in TextFormatter().line(events[1])  # a new formatter knows nothing


def test_the_task_cache_is_a_bounded_lru():
    formatter = TextFormatter(task_cache_size=2)
    names = {u: f"t.{u}" for u in ("a", "b", "c")}
    for uuid, name in names.items():
        formatter.line(task("task-received", uuid, **{**RECEIVED, "name": name}))
        formatter.line(task("task-started", "a"))  # keeps "a" recent
    assert "t.a(" in formatter.line(task("task-started", "a"))
    assert "t.b(" not in formatter.line(task("task-started", "b"))  # evicted
    assert "t.c(" in formatter.line(task("task-started", "c"))
    assert celery_dumper.TASK_NAMES.limit == TASK_CACHE_SIZE


def test_multiline_traceback_stays_on_one_line_with_visible_breaks():
    tb = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: boom\r\n'
    (event,) = normalised(task("task-failed", exception="ValueError('boom')", traceback=tb))
    line = TextFormatter().line(event)
    assert "\n" not in line and "\r" not in line
    assert "last):␊  File" in line and "boom␍␊" in line
    assert line == sanitize(celery_lines([event])[0])


def collect_demo_events(minimum: int = 30, timeout: float = 4.0) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    source = DemoSource(Ingest(lambda e: events.append(copy.deepcopy(e))), wakeup=False, seed=7)
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while len(events) < minimum and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(10)
    return events


def test_events_of_the_demo_cluster_print_as_celery_prints_them():
    events = collect_demo_events()
    assert len(events) >= 20
    assert {e["type"] for e in events} >= {"worker-online", "task-sent", "task-received"}
    # Demo tracebacks hold newlines, which evtop shows as ␊: compare with celery's line made safe.
    assert evtop_lines(events) == [sanitize(line) for line in celery_lines(events)]


# --- property tests ------------------------------------------------------------------------

KEYS = st.sampled_from(
    "args kwargs result exception traceback name retries runtime eta queue".split()
    + "freq active loadavg sw_ver pid a zz x_1 current total".split()
)
BENIGN = st.text(
    st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs", "Mn", "Mc", "Me")),
    max_size=30,
)
ANY_TEXT = st.text(max_size=30)


def values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-(10**9), 10**9), st.floats(allow_nan=False), text
    )
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=6)


TYPES = st.sampled_from(
    "task-received task-sent task-started task-succeeded task-failed task-retried task-progress".split()
    + "Task-Succeeded TASK-RECEIVED worker-online worker-heartbeat worker-offline worker-custom".split()
    + "foo-bar x-y.z my_app-progress-update".split()
)


@st.composite
def events(draw: st.DrawFn, text: st.SearchStrategy[str]) -> dict[str, Any]:
    type_ = draw(TYPES)
    event: dict[str, Any] = {
        "type": type_,
        "hostname": draw(text.filter(bool)),
        "timestamp": draw(st.floats(1.0, 2.0**33)),
        **draw(st.dictionaries(KEYS, values(text), max_size=5)),
    }
    if type_.lower().startswith("task-"):
        event["uuid"] = draw(st.sampled_from(["u1", "u2", "u3"]))
    if type_.lower() in ("task-received", "task-sent"):
        event.update(name=draw(text), args=draw(text), kwargs=draw(text))
    return event


@settings(max_examples=150, deadline=None)
@given(st.lists(events(BENIGN), min_size=1, max_size=8))
def test_benign_events_print_exactly_as_celery_does(bodies):
    events = normalised(*bodies)
    assert evtop_lines(events) == celery_lines(events)


@settings(max_examples=150, deadline=None)
@given(st.lists(events(ANY_TEXT), min_size=1, max_size=8))
def test_any_event_prints_as_celerys_line_made_safe(bodies):
    events = normalised(*bodies)
    lines = evtop_lines(events)
    assert lines == [sanitize(line) for line in celery_lines(events)]
    for line in lines:
        assert_terminal_safe(line)


@pytest.mark.parametrize("field", ["hostname", "name", "args", "kwargs", "result", "exception", "traceback"])
def test_hostile_strings_in_any_field_never_reach_the_line_raw(field):
    formatter = TextFormatter()
    for hostile in HOSTILE:
        base = (
            task("task-received", **RECEIVED) if field in ("name", "args", "kwargs") else task("task-failed")
        )
        base[field] = hostile[:200] if field in ("hostname", "name") else hostile
        for event in normalised(base):
            assert_terminal_safe(formatter.line(event))


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.floats(1e-6, 2.0**34, exclude_max=True),
        st.integers(1, 2**34).map(lambda s: s - 0.0000005),  # rounds half-even up to the next second
        st.integers(1, 2**34).map(lambda s: s + 0.0000005),
        st.integers(1, 2**34).map(float),
    )
)
def test_utc_time_is_datetimes_rendering(timestamp):
    assert utc_time(timestamp) == str(datetime.fromtimestamp(timestamp, timezone.utc))


# --- the time text and the per-message template: the same bytes as before ------------------


def printf_utc_time(timestamp: float) -> str:
    """The rendering ``utc_time`` had before the fraction came from a table (evtop 0.x):
    the reference for inputs the Ingest boundary never lets through, where datetime
    disagrees (negative timestamps) or fails."""
    seconds = int(timestamp)
    micros = round((timestamp - seconds) * 1e6)
    if micros >= 1_000_000:
        seconds += 1
        micros -= 1_000_000
    text = str(datetime.fromtimestamp(seconds, timezone.utc))[:19]
    return "%s.%06d+00:00" % (text, micros) if micros else text + "+00:00"  # noqa: UP031


def outcome(render: Any, timestamp: float) -> str:
    try:
        return render(timestamp)
    except Exception as exc:  # the same exception type counts as the same outcome
        return f"raised {type(exc).__name__}"


def line_time(timestamp: float, formatter: TextFormatter | None = None) -> str:
    """The time text as a line shows it, through the formatter's own (inlined) path."""
    formatter = formatter or TextFormatter()
    line = formatter.line({"type": "x-y", "hostname": "h", "timestamp": timestamp})
    assert line.startswith("h [") and line.endswith("] x y ")
    return line[3:-6]


#: Whole seconds where the date part changes: a minute, a day, a year, a leap day, 2038.
BOUNDARIES = [60, 86400, 1798761600, 1709164800, 1709251200, 2**31, 951782400, 4102444800]
NUDGES = [0.0, 5e-7, -5e-7, 4.9e-7, -4.9e-7, 5.1e-7, -5.1e-7, 1e-6, -1e-6, 0.5, -0.5, 0.999999, -0.999999]


@pytest.mark.parametrize("second", BOUNDARIES)
def test_the_time_text_across_second_day_and_year_boundaries(second):
    for nudge in NUDGES:
        timestamp = second + nudge
        expected = str(datetime.fromtimestamp(timestamp, timezone.utc))
        assert utc_time(timestamp) == expected == line_time(timestamp), timestamp


def test_the_seconds_cache_is_cleared_when_full_and_stays_right(monkeypatch):
    from evtop.dump import format as module

    monkeypatch.setattr(module, "_seconds", {})
    monkeypatch.setattr(module, "_SECONDS_CACHED", 3)
    for timestamp in [NOW + n + 0.25 for n in range(10)] + [NOW + 0.25]:
        assert utc_time(timestamp) == str(datetime.fromtimestamp(timestamp, timezone.utc))
        assert line_time(timestamp + 0.5) == str(datetime.fromtimestamp(timestamp + 0.5, timezone.utc))
        assert len(module._seconds) <= 3


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(-(2.0**34), 2.0**35),
        st.integers(-(2**34), 2**34).map(lambda s: s + 0.0000005),
        st.integers(-(2**34), 2**34).map(lambda s: s - 0.0000005),
        st.integers(-(2**34), 2**34).map(lambda s: s - 0.9999996),
        st.integers(-(2**40), 2**64),
    )
)
def test_utc_time_and_the_line_render_any_number_as_printf_did(timestamp):
    """Byte for byte (or the same exception) for any number, also those the Ingest boundary
    refuses: negative, NaN, infinite, beyond datetime's range, integers."""
    expected = outcome(printf_utc_time, timestamp)
    assert outcome(utc_time, timestamp) == expected
    assert outcome(line_time, timestamp) == expected


STAMPS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-3.0, 3.0),
    st.floats(1795418540.0, 1795418545.0),
    st.sampled_from([NOW, NOW + 0.4999995, NOW + 0.9999995, NOW + 1, 1.9999996, -0.9999996, -1.0]),
    st.integers(-3, 3),
    st.integers(1795418540, 1795418545),
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(STAMPS, min_size=1, max_size=12))
def test_one_formatter_renders_any_sequence_of_times_as_printf_did(timestamps):
    """The formatter remembers the second of the line before (its shortcut): whatever came
    before -- the same second, a rounding into the next, a negative, NaN, an int -- every
    line's time is the printf rendering of its own timestamp."""
    formatter = TextFormatter()
    for timestamp in timestamps:
        assert outcome(lambda t: line_time(t, formatter), timestamp) == outcome(printf_utc_time, timestamp)


MESSAGE_TIMES = st.one_of(st.floats(1.0, 2.0**34), st.sampled_from([NOW, NOW + 1, 1e-05, 1e16, 1e22]))


def normalised_messages(messages: list[tuple[float, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Events as the Ingest boundary hands them over, message by message: each message's
    events share one ``local_received`` float object, as from a live broker."""
    seen: list[dict[str, Any]] = []
    clock = iter([float(received) for received, _ in messages])  # fresh objects, equal or not
    ingest = Ingest(seen.append, now=lambda: next(clock))
    for _, bodies in messages:
        ingest.feed_decoded(copy.deepcopy(bodies))
    return seen


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(MESSAGE_TIMES, st.lists(events(BENIGN), min_size=1, max_size=6)), max_size=6))
def test_messages_with_their_own_receive_times_print_as_celery_does(messages):
    """The ``local_received`` text is put into each layout's template once per message:
    a layout seen again in a later message (same time or another) must show that message's."""
    events = normalised_messages(messages)
    assert evtop_lines(events) == celery_lines(events)


KEY_TEXT = st.text(st.sampled_from("%sdl_ocaer"), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["worker-heartbeat", "task-succeeded", "x-y"])},
            optional={
                "local_received": st.one_of(
                    st.floats(allow_nan=True), st.text("%s1.", max_size=4), st.none(), st.integers()
                ),
                "uuid": st.just("u"),
            },
        ).flatmap(
            lambda event: st.dictionaries(KEY_TEXT, values(ANY_TEXT), max_size=4).map(
                lambda more: {**more, **event, "hostname": "h", "timestamp": NOW}
            )
        ),
        max_size=8,
    )
)
def test_percent_signs_in_keys_and_odd_receive_times_are_plain_text(raw):
    """The formatter is pure: fed events that never crossed the Ingest boundary (``%`` in
    keys, ``local_received`` as text, None or NaN), it still prints celery's line, made safe."""
    raw = [{**event, "uuid": "u"} if event["type"].startswith("task-") else event for event in raw]
    assert evtop_lines(raw) == [sanitize(line) for line in celery_lines(raw)]


def test_bounded_caches_stay_right_when_cleared(monkeypatch):
    """The per-type, per-host and per-layout caches clear when full; lines do not change."""
    from evtop.dump import format as module

    for bound in ("_KINDS_CACHED", "_HOSTS_CACHED", "_LAYOUTS_CACHED"):
        monkeypatch.setattr(module, bound, 2)
    events = normalised(*LIFECYCLE, *LIFECYCLE) + normalised(*reversed(LIFECYCLE))
    assert evtop_lines(events) == celery_lines(events)


def test_styles_colour_only_the_human_type():
    styles = {"task-succeeded": lambda s: f"<g>{s}</g>", "worker-online": lambda s: f"<b>{s}</b>"}
    events = normalised(*LIFECYCLE)
    plain, styled = TextFormatter(), TextFormatter(styles=styles)
    for event in events:
        line, coloured = plain.line(event), styled.line(event)
        style = styles.get(event["type"].lower())
        if style is None:
            assert coloured == line
        else:
            human = humanize_type(event["type"].lower())
            assert coloured == line.replace(f"] {human}", f"] {style(human)}", 1)
