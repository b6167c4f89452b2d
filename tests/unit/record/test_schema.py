"""Schema v1: ASCII JSON lines that round-trip exactly; readers tolerant of the future."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from evtop.broker.decode import survey
from evtop.record.schema import (
    BadRecord,
    EventRecord,
    NewerSchema,
    OutageRecord,
    SessionRecord,
    dumps,
    event_line,
    outage_line,
    parse,
    session_line,
)

EVENT = {"type": "task-failed", "hostname": "h", "uuid": "u", "local_received": 12.5, "clock": 3}


def test_event_line_shape():
    line = event_line(EVENT)
    assert json.loads(line) == {"v": 1, "kind": "event", "received": 12.5, "event": EVENT}
    assert line.startswith('{"v":1,"kind":"event","received":12.5,"event":{')
    assert parse(line) == EventRecord(12.5, EVENT)


def test_markers_round_trip():
    assert parse(outage_line(1.0, 2.5, "ConnectionError: down")) == OutageRecord(
        1.0, 2.5, "ConnectionError: down"
    )
    assert parse(outage_line(1.0, None, "x")) == OutageRecord(1.0, None, "x")
    assert parse(session_line(3.0, "redis://h:6379/0", "0.1.0")) == SessionRecord(
        3.0, "redis://h:6379/0", "0.1.0"
    )


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.text(), max_size=5))
def test_any_string_round_trips_exactly_in_pure_ascii(fields):
    event = {**EVENT, **fields, "local_received": 12.5}
    line = event_line(event)
    assert line.isascii() and line.isprintable()
    assert parse(line.encode("ascii")) == EventRecord(12.5, event)


def test_hostile_strings_are_escaped_and_surrogates_survive():
    line = event_line({**EVENT, "args": "\x1b[2J\x9b\u202e\ud800"})
    assert "\\u001b[2J\\u009b\\u202e\\ud800" in line
    assert parse(line).event["args"] == "\x1b[2J\x9b\u202e\ud800"  # type: ignore[union-attr]


def test_non_finite_numbers_stay_valid_json():
    line = dumps({"v": 1, "x": [math.nan, math.inf, -math.inf], "y": {"z": math.nan}})
    assert json.loads(line, parse_constant=pytest.fail) == {
        "v": 1,
        "x": ["NaN", "Infinity", "-Infinity"],
        "y": {"z": "NaN"},
    }


def test_readers_ignore_future_fields():
    record = {"v": 1, "kind": "event", "received": 1, "event": {"type": "a-b"}, "added_in_v1_5": True}
    assert parse(json.dumps(record)) == EventRecord(1.0, {"type": "a-b"})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
@example({"big": 10**30, "small": -(10**20), "deep": [[[[]]]] * 200})
def test_the_fast_reader_reads_exactly_what_stdlib_json_reads(fields):
    """Where :func:`survey` allows orjson, records come out the same: integers beyond 64
    bits stay exact, lone surrogates and non-finite numbers survive."""
    line = event_line({**EVENT, **fields}).encode("ascii")
    assert parse(line, exact=survey(line)[1]) == EventRecord(12.5, json.loads(line)["event"])


@pytest.mark.parametrize("exact", [False, True], ids=["json", "orjson"])
@pytest.mark.parametrize(
    ("line", "why"),
    [
        ('{"v":1,"kind":"event","received":1,"eve', "not JSON"),  # truncated by a crash
        (b"\xff\xfe{}", "not JSON"),  # not UTF-8
        ("[1, 2]", "not an evtop record"),
        ('{"kind":"event"}', "not an evtop record"),
        ('{"v":"1","kind":"event"}', "not an evtop record"),
        ('{"v":0,"kind":"event"}', "not an evtop record"),
        ('{"v":1,"kind":"snapshot"}', "unknown kind"),
        ('{"v":1}', "unknown kind"),
        ('{"v":1,"kind":"event","received":"soon","event":{}}', "incomplete event record"),
        ('{"v":1,"kind":"event","received":1,"event":[]}', "incomplete event record"),
        ('{"v":1,"kind":"event","received":NaN,"event":{}}', "incomplete event record"),
        ('{"v":1,"kind":"outage","ended":2}', "incomplete outage record"),
        ('{"v":1,"kind":"session"}', "incomplete session record"),
        ("[" * 100_000, "not JSON"),
    ],
)
def test_bad_lines_say_why(line, why, exact):
    with pytest.raises(BadRecord) as caught:
        parse(line, exact=exact)
    assert str(caught.value) == why
    assert not isinstance(caught.value, NewerSchema)


def test_newer_schema_is_refused_clearly():
    with pytest.raises(NewerSchema, match=r"written by a newer evtop \(schema v2\)"):
        parse('{"v":2,"kind":"event","received":1,"event":{}}')
