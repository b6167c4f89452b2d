"""The validation boundary: every event is applied or dropped with a reason, never lost."""

from __future__ import annotations

import json
import math
import os
import pickle  # noqa: TID251 - the test builds a hostile pickle payload
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evtop import State
from evtop.events.normalize import MAX_KEYS
from evtop.events.pipeline import Ingest
from evtop.events.stats import DROP_REASONS

NOW = 1795418542.5


def good(type_="task-received", **fields):
    event = {
        "type": type_,
        "hostname": "celery@a",
        "timestamp": NOW - 0.1,
        "clock": 3,
        "utcoffset": 0,
        "pid": 7,
    }
    if type_.startswith("task-"):
        event["uuid"] = "u-1"
    event.update(fields)
    return event


def make(handler=None, **kwargs):
    seen = []
    ingest = Ingest(handler or seen.append, now=lambda: NOW, **kwargs)
    return ingest, seen


def feed(ingest, body, content_type="application/json"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    ingest.feed_message(raw, content_type, "utf-8")


def test_single_event_and_batches_are_applied():
    ingest, seen = make()
    feed(ingest, good())
    feed(ingest, [good("task-started"), good("task-succeeded", result="4", runtime=0.1)])
    feed(ingest, [])  # empty task.multi batches are normal from released celery versions
    assert [e["type"] for e in seen] == ["task-received", "task-started", "task-succeeded"]
    assert ingest.stats.received == 3 and ingest.stats.applied == 3 and ingest.stats.balanced
    assert all(e["local_received"] == NOW for e in seen)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "unknown_type"),
        ({"hostname": "w1"}, "unknown_type"),
        ({"type": 5}, "unknown_type"),
        ({"type": "foo"}, "unknown_type"),
        ({"type": "x" * 10_000 + "-y"}, "unknown_type"),
        ({"type": "task-\x1b[2J"}, "unknown_type"),
        ({"type": "task-started", "hostname": "w"}, "missing_field"),
        ({"type": "task-succeeded", "uuid": "u"}, "missing_field"),
        ({"type": "worker-heartbeat"}, "missing_field"),
        ({"type": "worker-heartbeat", "hostname": {"a": 1}}, "bad_field"),
        ({"type": "task-started", "hostname": "w", "uuid": ["list"]}, "bad_field"),
        ({"type": "task-started", "hostname": "w", "uuid": "u" * 300}, "bad_field"),
        ({"type": "task-started", "hostname": "w", "uuid": "u", "timestamp": "abc"}, "bad_field"),
        ({"type": "task-started", "hostname": "w", "uuid": "u", "timestamp": 1e20}, "bad_field"),
        ({"type": "task-started", "hostname": "w", "uuid": "u", "timestamp": -5}, "bad_field"),
        ({"type": "task-started", "hostname": "w", "uuid": "u", "clock": "x"}, "bad_field"),
        ({"type": "task-started", "hostname": "w", "uuid": "u", "clock": -1}, "bad_field"),
        ("a string", "not_an_object"),
        (5, "not_an_object"),
        (None, "not_an_object"),
    ],
)
def test_malformed_events_are_counted_by_reason(body, reason):
    ingest, seen = make()
    feed(ingest, body)
    feed(ingest, good())  # the next valid event still goes through
    assert ingest.stats.dropped[reason] == 1
    assert ingest.stats.received == 2 and ingest.stats.applied == 1 and ingest.stats.balanced
    assert [e["type"] for e in seen] == ["task-received"]


def test_mixed_list_applies_the_good_elements():
    ingest, seen = make()
    feed(ingest, [good(), 1, {"type": "task-started"}, good("task-started"), [good()]])
    assert [e["type"] for e in seen] == ["task-received", "task-started"]
    assert ingest.stats.dropped["not_an_object"] == 2 and ingest.stats.dropped["missing_field"] == 1
    assert ingest.stats.balanced


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"\xff\xfe{not json", "application/json"),
        (b'{"type": "task-started", "hostname": "\xff"}', "application/json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        (b'{"type": "task-x", "n": ' + b"9" * 5000 + b"}", "application/json"),
        (b"", "application/json"),
    ],
    ids=["bad-utf8-and-json", "bad-utf8-in-string", "nested-100k", "5000-digit-int", "empty"],
)
def test_undecodable_bodies_are_decode_errors(body, content_type):
    ingest, seen = make()
    ingest.feed_message(body, content_type, "utf-8")
    assert ingest.stats.dropped["decode_error"] == 1 and ingest.stats.balanced and seen == []


def test_pickle_yaml_and_trusted_raw_types_are_refused(tmp_path: Path):
    canary = tmp_path / "canary"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {canary}",))

    ingest, seen = make()
    ingest.feed_message(pickle.dumps(Exploit()), "application/x-python-serialize", "binary")
    ingest.feed_message(b"!!python/object/apply:os.system ['true']", "application/x-yaml", "utf-8")
    ingest.feed_message(json.dumps(good()).encode(), "application/data", "binary")
    ingest.feed_message(json.dumps(good()).encode(), "application/text", "utf-8")
    ingest.feed_message(json.dumps(good()).encode(), None, None)
    assert not canary.exists()
    assert seen == []
    assert ingest.stats.dropped["disallowed_content"] == 5 and ingest.stats.balanced


def test_msgpack_only_by_opt_in():
    msgpack = pytest.importorskip("msgpack")
    body = msgpack.packb(good())
    ingest, seen = make()
    ingest.feed_message(body, "application/x-msgpack", "binary")
    assert seen == [] and ingest.stats.dropped["disallowed_content"] == 1
    ingest, seen = make(accept_msgpack=True)
    ingest.feed_message(body, "application/x-msgpack", "binary")
    assert [e["type"] for e in seen] == ["task-received"]


def test_compressed_messages_are_refused():
    ingest, seen = make()
    ingest.feed_message(json.dumps(good()).encode(), "application/json", "utf-8", compressed=True)
    assert seen == [] and ingest.stats.dropped["disallowed_content"] == 1


def test_kombu_envelopes_become_plain_values():
    ingest, seen = make()
    body = good(
        "task-received",
        timestamp={"__type__": "datetime", "__value__": "2026-11-23T07:22:22.329845+00:00"},
        eta={"__type__": "datetime", "__value__": "2026-11-23T08:00:00"},
        cost={"__type__": "decimal", "__value__": "1.5"},
        args="({'__type__': 'x'},)",
    )
    feed(ingest, body)
    (event,) = seen
    assert event["timestamp"] == pytest.approx(1795418542.329845)
    assert event["eta"] == "2026-11-23T08:00:00" and event["cost"] == 1.5
    assert event["args"] == "({'__type__': 'x'},)"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("timestamp", 1795418000, 1795418000.0),
        ("timestamp", "1795418000.5", 1795418000.5),
        ("clock", 7.0, 7),
        ("clock", "12", 12),
        ("freq", "2", 2.0),
        ("freq", 0, None),
        ("freq", -2, None),
        ("freq", "fast", None),
        ("active", "3", 3),
        ("active", -1, None),
        ("loadavg", "high", None),
        ("loadavg", [0.1, "x", 3], None),
        ("utcoffset", None, None),
        ("utcoffset", 99, None),
        ("utcoffset", -5.5, -5.5),
    ],
)
def test_field_types_are_coerced_or_removed(field, value, expected):
    ingest, seen = make()
    feed(ingest, good("worker-heartbeat", **{field: value}))
    (event,) = seen
    assert event.get(field) == expected
    assert ingest.stats.balanced


def test_missing_timestamp_and_clock_are_filled_like_celery():
    ingest, seen = make()
    event = good()
    del event["timestamp"], event["clock"]
    feed(ingest, event)
    feed(ingest, good("task-started", clock=None))
    assert seen[0]["timestamp"] == NOW and seen[0]["clock"] == 1
    assert seen[1]["clock"] == 2


def test_task_sent_clock_is_rewritten_from_the_receiver_clock():
    ingest, seen = make()
    feed(ingest, good("task-started", clock=41))  # receiver clock becomes 42
    feed(ingest, good("task-sent", clock=999_999, name="proj.add"))
    assert seen[1]["clock"] == 41  # celery: (receiver clock or 1) - 1


def test_timestamps_are_not_shifted_by_utcoffset():
    ingest, seen = make()
    feed(ingest, good(utcoffset=-8, timestamp=NOW - 1))
    assert seen[0]["timestamp"] == NOW - 1


def test_oversized_strings_are_capped_and_marked():
    ingest, seen = make()
    feed(ingest, good("task-failed", traceback="T" * 200_000, exception="E" * 50_000, custom="c" * 20_000))
    (event,) = seen
    assert event["traceback"].startswith("T" * 1000) and event["traceback"].endswith("…[+134464 chars]")
    assert (
        len(event["traceback"]) < 66_000 and len(event["exception"]) < 17_000 and len(event["custom"]) < 9000
    )
    assert ingest.stats.fields_truncated == 3


def test_huge_or_deep_containers_are_replaced():
    ingest, seen = make()
    deep: list = []
    for _ in range(200):
        deep = [deep]
    feed(ingest, good(big=list(range(100_000)), deep=deep, loadavg=[1.0, 2.0, 3.0]))
    (event,) = seen
    assert event["big"].startswith("<list too large") and event["deep"].startswith("<list too large")
    assert ingest.stats.fields_truncated == 2


def test_bad_field_names_are_removed_not_fatal():
    ingest, seen = make()
    feed(ingest, {**good(), "__class__": 1, "_private": 2, "bad key": 3, "x" * 100: 4, "fine_key": 5})
    (event,) = seen
    assert "fine_key" in event and not {"__class__", "_private", "bad key", "x" * 100} & set(event)
    assert ingest.stats.fields_removed == 4


def test_fields_past_max_keys_are_removed_even_when_every_name_is_known():
    ingest, seen = make()
    for names in (range(100), range(100, 200), range(200)):  # all 200 names known by the third
        feed(ingest, good(**{f"k{i}": i for i in names}))
    assert len(seen[0]) == len(good()) + 100 + 1  # + local_received, added after the check
    assert len(seen[2]) == MAX_KEYS + 1
    assert ingest.stats.fields_removed == len(good()) + 200 - MAX_KEYS


FIELD_NAMES = st.one_of(
    st.sampled_from(["type", "hostname", "timestamp", "uuid", "clock", "pid", "ok_1", "x" * 64, "x" * 65]),
    st.text(st.sampled_from("ab_1 .%"), min_size=1, max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(FIELD_NAMES, st.integers(0, 9), max_size=140), min_size=1, max_size=6))
def test_field_names_are_checked_alike_whatever_came_before(extras):
    """The names known to be good are remembered across events: an event keeps exactly the
    fields it would keep as the first event of a fresh ingest (the first MAX_KEYS names,
    and of those the plain identifiers)."""
    shared, seen = make()
    for extra in extras:
        body = {**extra, **good()}  # extra names first: the good ones may fall past MAX_KEYS
        alone, kept = make()
        feed(alone, body)
        before, removed = dict(shared.stats.dropped), shared.stats.fields_removed
        feed(shared, body)
        assert seen == kept and shared.stats.fields_removed - removed == alone.stats.fields_removed
        assert {r: n - before[r] for r, n in shared.stats.dropped.items()} == alone.stats.dropped
        if kept:
            names = list(body)[:MAX_KEYS]
            valid = {name for name in names if re.fullmatch(r"[A-Za-z]\w{0,63}", name, re.ASCII)}
            assert set(kept[0]) == valid | {"local_received"}
        seen.clear()


def test_handler_errors_are_isolated_and_counted():
    applied = []

    def handler(event):
        if event.get("poison"):
            raise RuntimeError("boom")
        applied.append(event)

    ingest, _ = make(handler)
    feed(ingest, [good(), good(poison=True), good("task-started")])
    assert len(applied) == 2 and ingest.stats.dropped["handler_error"] == 1 and ingest.stats.balanced


def test_after_message_runs_once_per_message_after_its_events(caplog):
    log = []
    ingest, _ = make(lambda event: log.append(event["type"]), after_message=lambda: log.append("end"))
    feed(ingest, [good(), good("task-started")])
    feed(ingest, good("task-succeeded"))
    feed(ingest, [])  # nothing applied: nothing to hand over
    assert log == ["task-received", "task-started", "end", "task-succeeded", "end"]

    def broken():
        raise RuntimeError("hook")

    ingest.after_message = broken
    feed(ingest, good("task-failed"))  # a failing hook is logged, never raised
    assert ingest.stats.balanced and "end-of-message hook failed" in caplog.text


def test_hostile_field_names_cannot_break_state():
    """Keys that would replace Task/Worker methods or internals are ignored by State."""
    state = State()
    ingest, _ = make(state.event)
    feed(ingest, good(info="x", as_dict="y", ready="z", worker="w", children="c", state="S", name="proj.t"))
    feed(ingest, good("worker-heartbeat", heartbeats="h", alive="a", id="i", freq=2.0))
    task = state.tasks["u-1"]
    assert task.info() == {}  # still the method: an "info" field did not replace it
    assert task.as_dict()["uuid"] == "u-1" and task.ready is False and task.state == "RECEIVED"
    assert task.worker.hostname == "celery@a"
    worker = state.workers["celery@a"]
    assert isinstance(worker.heartbeats, list) and worker.alive in (True, False) and worker.id == "celery@a.7"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
event_like = st.dictionaries(
    st.sampled_from(
        [
            "type",
            "uuid",
            "hostname",
            "timestamp",
            "clock",
            "utcoffset",
            "freq",
            "name",
            "parent_id",
            "root_id",
            "active",
            "loadavg",
            "runtime",
            "retries",
            "pid",
            "x",
        ]
    ),
    st.one_of(
        json_values, st.sampled_from(["task-received", "task-started", "worker-heartbeat", "task-sent"])
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(event_like, json_values), max_size=6))
def test_any_json_never_raises_and_always_balances(bodies):
    """Whatever JSON arrives, State ingests it or it is counted; nothing raises."""
    state = State(max_tasks_in_memory=3)
    ingest, _ = make(state.event)
    for body in bodies:
        raw = json.dumps(body, allow_nan=True).encode()
        ingest.feed_message(raw, "application/json", "utf-8")
    assert ingest.stats.balanced
    assert ingest.stats.dropped["handler_error"] == 0
    assert set(ingest.stats.dropped) == set(DROP_REASONS)
    for task in state.tasks.values():  # everything the UI will compute with is well-typed
        assert isinstance(task.uuid, str) and (task.name is None or isinstance(task.name, str))
        assert task.timestamp is None or (isinstance(task.timestamp, float) and math.isfinite(task.timestamp))
    for worker in state.workers.values():
        assert isinstance(worker.freq, (int, float)) and worker.alive in (True, False)


HOSTILE_BODIES = [
    b'{"type": "task-started", "hostname": "w", "uuid": "\\ud800"}',
    b'{"type": "task-started", "hostname": "w", "uuid": "u", "x": NaN}',
    b'{"type": "task-started", "hostname": "w", "uuid": "u", "x": 123456789012345678901234567890}',
    b'{"type": "task-started", "hostname": "w", "uuid": "u", "x": 18446744073709551616}',
    b'{"type": "task-started", "hostname": "w", "uuid": "u", "x": 9223372036854775808}',
    b'{"type": "task-started", "hostname": "w", "uuid": "u", "x": -9223372036854775809}',
    b"[" * 600 + b"]" * 600,
    b"[" * 5000 + b"]" * 5000,
    b'{"type": "task-started", "hostname": "w", "uuid": "u", "x": 1e400}',
    b'{"type": "task-started", "hostname": "w", "uuid": "u", "a": 1, "a": 2}',
    b'\xef\xbb\xbf{"type": "task-started", "hostname": "w", "uuid": "u"}',
]


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_fast_and_stdlib_decoders_agree(body):
    """With orjson installed, decoding must give exactly what stdlib json gives."""
    from evtop.broker.decode import BodyDecodeError, BodyDecoder

    def outcome(decoder):
        try:
            return ("ok", repr(decoder.decode(body, "application/json", "utf-8"))[:2000])
        except BodyDecodeError:
            return ("error",)

    assert outcome(BodyDecoder(fast=True)) == outcome(BodyDecoder(fast=False))


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.integers(),
        st.integers(-(2**65), 2**65),
        st.integers(-(10**19), -(2**63)),  # 19 digits, yet below int64
        st.sampled_from([-(2**63) - 1, -(2**63), 2**63, 2**64 - 1, 2**64, -(10**19) + 1]),
        st.floats(allow_nan=False, allow_infinity=False),
    )
)
def test_fast_and_stdlib_decoders_agree_on_every_number(number):
    """orjson turns integers outside 64 bits into floats; those bodies must go to stdlib json."""
    from evtop.broker.decode import BodyDecoder

    body = json.dumps({"type": "task-started", "x": number, "y": [number]}).encode()
    fast, slow = (BodyDecoder(fast=f).decode(body, "application/json", "utf-8") for f in (True, False))
    assert repr(fast) == repr(slow)


def test_a_batching_ingest_hands_events_over_in_runs_and_when_flushed():
    ingest, seen = make(batch=3)
    feed(ingest, good())
    feed(ingest, [good("task-started")])
    assert seen == [] and ingest.stats.received == 2 and ingest.stats.applied == 0
    assert ingest.health.senders["celery@a"].events == 2  # the stream's health reads each at once
    feed(ingest, [good("task-succeeded", result="4", runtime=0.1), good("task-failed")])
    assert [e["type"] for e in seen] == ["task-received", "task-started", "task-succeeded", "task-failed"]
    feed(ingest, good("task-revoked"))
    assert len(seen) == 4 and not ingest.stats.balanced
    ingest.flush()
    ingest.flush()  # nothing left: no event twice
    assert [e["type"] for e in seen][4:] == ["task-revoked"]
    assert ingest.stats.applied == 5 and ingest.stats.balanced


def test_a_handler_failing_on_one_event_of_a_run_drops_that_one_only():
    seen = []

    def handler(event):
        if event["type"] == "task-started":
            raise RuntimeError("boom")
        seen.append(event["type"])

    ingest = Ingest(handler, now=lambda: NOW, batch=10)
    feed(ingest, [good(), good("task-started"), good("task-succeeded", result="4", runtime=0.1)])
    ingest.flush()
    assert seen == ["task-received", "task-succeeded"]
    assert ingest.stats.dropped["handler_error"] == 1 and ingest.stats.balanced


def test_a_batching_ingest_refuses_a_per_message_hook():
    with pytest.raises(ValueError, match="batch=1"):
        Ingest(print, after_message=lambda: None, batch=2)
