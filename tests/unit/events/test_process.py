"""The reader process's two ends, without a broker: its frames, what the child's
boundary sends, and how evtop applies each frame (tests/integration: with brokers)."""

from __future__ import annotations

import json
import logging
import marshal
import os
import threading

import pytest

from evtop.broker.config import BrokerConfig, DurableQueue
from evtop.broker.refusals import BrokerRefused
from evtop.broker.status import Backoff, ConnectionStatus, Phase
from evtop.events.pipeline import Ingest
from evtop.events.process import frames
from evtop.events.process.child import ForwardedStatus, ForwardingIngest
from evtop.events.process.source import ProcessReceiver
from evtop.events.stats import DROP_REASONS

NOW = 1795418542.5


def event(type_="task-received", uuid="u-1", **fields):
    return {
        "type": type_,
        "uuid": uuid,
        "hostname": "celery@a",
        "timestamp": NOW - 0.1,
        "clock": 3,
        "utcoffset": 0,
        "pid": 7,
        "local_received": NOW,
        **fields,
    }


class Pipe:
    """Both ends of a pipe: the child's writer and evtop's reader."""

    def __init__(self) -> None:
        self.read_fd, write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self.writer = frames.FrameWriter(write_fd)
        self.reader = frames.FrameReader()

    def frames(self) -> list[tuple]:
        try:
            return self.reader.feed(os.read(self.read_fd, 1 << 20))
        except BlockingIOError:
            return []


# --- frames -----------------------------------------------------------------------------


def test_frames_are_cut_out_whatever_the_sizes_of_the_reads():
    sent = [(frames.EVENTS, [event(uuid=str(n))], (0,) * 11, NOW) for n in range(3)]
    sent.append((frames.LOG, logging.WARNING, "evtop.x", "é \x00 text"))
    data = b"".join(frames.encode(frame) for frame in sent)
    for size in (1, 2, 3, 7, 64, len(data)):
        reader = frames.FrameReader()
        got = []
        for start in range(0, len(data), size):
            got += reader.feed(data[start : start + size])
        assert got == sent and reader.pending == 0


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"\xff\xff\xff\x7f", "a frame of 2,147,483,647 bytes"),
        (b"\x03\x00\x00\x00abc", "an unreadable frame"),
    ],
)
def test_a_broken_stream_is_an_error_not_data(data, said):
    with pytest.raises(frames.FrameError, match=said):
        frames.FrameReader().feed(data)


def test_only_tuples_are_frames():
    data = frames.encode(("x",))
    body = marshal.dumps(["x"])
    with pytest.raises(frames.FrameError, match="a frame of type list"):
        frames.FrameReader().feed(len(body).to_bytes(4, "little") + body)
    assert frames.FrameReader().feed(data) == [("x",)]


def test_the_setup_carries_the_whole_broker_configuration():
    config = BrokerConfig(
        url="redis://:secret@h:6379/3",
        transport_options={"global_keyprefix": "p:", "visibility_timeout": 3600},
        event_exchange="ev",
        durable_queue=DurableQueue("celeryev.cam", ttl=60.0, max_length=10),
    )
    backoff = Backoff(base=0.1, factor=3.0, cap=0.5, jitter=0.0, healthy_after=2.0)
    data = frames.setup(
        config, wakeup=True, accept_msgpack=False, batch=256, levels={"": 30, "kombu": 40}, backoff=backoff
    )
    (frame,) = frames.FrameReader().feed(data)
    told = frames.read_setup(frame)
    assert told[:5] == (config, True, False, 256, {"": 30, "kombu": 40})
    assert [told.backoff.next_delay() for _ in range(3)] == [0.1, pytest.approx(0.3), 0.5]
    assert told.backoff.healthy_after == 2.0


def test_a_configuration_marshal_cannot_carry_is_refused_before_any_process_starts():
    config = BrokerConfig(url="redis://h/0", transport_options={"ssl": object()})
    with pytest.raises(ValueError):
        frames.setup(config, wakeup=False, accept_msgpack=False, batch=1, levels={}, backoff=Backoff())


def test_log_levels_are_the_roots_and_those_set_on_loggers():
    named = logging.getLogger("evtop.test.process")
    named.setLevel(logging.DEBUG)
    try:
        levels = frames.log_levels()
    finally:
        named.setLevel(logging.NOTSET)
    assert levels["evtop.test.process"] == logging.DEBUG
    assert levels[""] == logging.getLogger().level
    assert "evtop.test.process" not in frames.log_levels()


# --- the child's side --------------------------------------------------------------------


def forwarding(pipe: Pipe) -> ForwardingIngest:
    status = ConnectionStatus("redis://h/0")
    status.last_message_at = NOW
    return ForwardingIngest(pipe.writer, status, accept_msgpack=False, batch=4)


def feed(ingest: Ingest, body) -> None:
    ingest.feed_message(json.dumps(body).encode(), "application/json", "utf-8")


def test_the_child_sends_each_run_of_valid_events_with_what_it_dropped():
    pipe = Pipe()
    ingest = forwarding(pipe)
    for n in range(6):  # the fourth fills a run of 4, which goes at once
        feed(ingest, event(uuid=str(n)))
    (first,) = pipe.frames()
    assert first[0] == frames.EVENTS and [e["uuid"] for e in first[1]] == ["0", "1", "2", "3"]
    assert first[2][:2] == (4, 4)  # messages, received
    feed(ingest, {"type": 5})
    ingest.feed_message(b"{not json", "application/json", "utf-8")
    ingest.flush()
    (second,) = pipe.frames()
    _, events, delta, last = second
    assert [e["uuid"] for e in events] == ["4", "5"] and last == NOW
    assert delta[:2] == (4, 4)
    dropped = dict(zip(DROP_REASONS, delta[2:-2], strict=True))
    assert dropped["unknown_type"] == 1 and dropped["decode_error"] == 1 and sum(dropped.values()) == 2
    assert [a + b for a, b in zip(first[2], delta, strict=True)] == list(ingest.stats.counts())
    ingest.flush()
    assert pipe.frames() == []  # nothing new: no frame


def test_a_flush_with_only_drops_still_says_so():
    pipe = Pipe()
    ingest = forwarding(pipe)
    ingest.feed_message(b"\x80\x04K\x01.", "application/x-python-serialize", "binary")
    ingest.flush()
    ((_, events, delta, _),) = pipe.frames()
    assert events == [] and delta[:2] == (1, 1)
    assert dict(zip(DROP_REASONS, delta[2:-2], strict=True))["disallowed_content"] == 1


def test_an_event_marshal_cannot_carry_is_dropped_and_counted_not_the_run():
    pipe = Pipe()
    ingest = forwarding(pipe)
    feed(ingest, [event(uuid="a")])
    ingest._out.append(event(uuid="odd", result=object()))  # e.g. a msgpack extension type
    ingest.flush()
    ((_, events, delta, _),) = pipe.frames()
    assert [e["uuid"] for e in events] == ["a"]
    assert dict(zip(DROP_REASONS, delta[2:-2], strict=True))["bad_field"] == 1


def test_the_child_tells_each_transition_but_not_the_end():
    pipe = Pipe()
    status = ForwardedStatus("redis://h/0", pipe.writer)
    status.connecting()
    status.connected()
    status.lost("gone", 1.5)
    status.stopped()
    assert pipe.frames() == [
        (frames.STATUS, "connecting", ()),
        (frames.STATUS, "connected", ()),
        (frames.STATUS, "lost", ("gone", 1.5)),
    ]
    assert status.snapshot().phase is Phase.STOPPED


# --- evtop's side -------------------------------------------------------------------------


def receiver() -> tuple[ProcessReceiver, list[dict]]:
    seen: list[dict] = []
    ingest = Ingest(seen.append, batch=256)
    return ProcessReceiver(BrokerConfig(url="redis://h/0"), ingest), seen


def test_forwarded_events_are_observed_applied_and_accounted_for():
    source, seen = receiver()
    one_decode_error = tuple(int(reason == "decode_error") for reason in DROP_REASONS)
    source._apply((frames.EVENTS, [event(uuid="a"), event(uuid="b")], (5, 7, *one_decode_error, 2, 1), NOW))
    source._apply((frames.EVENTS, [], (1, 1, *one_decode_error, 0, 0), NOW + 1))
    source.ingest.flush()
    stats = source.ingest.stats
    assert [e["uuid"] for e in seen] == ["a", "b"]
    assert (stats.messages, stats.received, stats.applied) == (6, 8, 2)
    assert stats.dropped["decode_error"] == 2 and (stats.fields_truncated, stats.fields_removed) == (2, 1)
    assert source.ingest.health.senders["celery@a"].task_events == 2
    assert source.status.last_message_at == NOW + 1


def test_the_accounting_balances_when_the_child_counted_truly():
    pipe, (source, seen) = Pipe(), receiver()
    child = forwarding(pipe)
    feed(child, [event(uuid=str(n)) for n in range(3)] + [{"type": 5}])
    child.feed_message(b"{not json", "application/json", "utf-8")
    child.flush()
    for frame in pipe.frames():
        source._apply(frame)
    source.ingest.flush()
    stats = source.ingest.stats
    assert len(seen) == 3 and stats.balanced and stats.received == 5 and stats.dropped_total == 2


def test_transitions_replay_on_evtops_status_which_keeps_the_history():
    source, _ = receiver()
    for transition, args in (("connecting", ()), ("connected", ()), ("lost", ("gone", 0.5))):
        source._apply((frames.STATUS, transition, args))
    source._apply((frames.STATUS, "stopped", ()))  # evtop decides when reading stops
    source._apply((frames.STATUS, "connecting", ()))
    source._apply((frames.STATUS, "connected", ()))  # a restarted child starts from scratch
    snapshot = source.status.snapshot()
    assert snapshot.phase is Phase.CONNECTED and snapshot.reconnects == 1
    assert [outage.reason for outage in snapshot.outages] == ["gone"]


def test_the_childs_log_records_go_to_evtops_loggers(caplog):
    source, _ = receiver()
    with caplog.at_level(logging.INFO):
        source._apply((frames.LOG, logging.WARNING, "evtop.events.receiver", "Cannot connect"))
        source._apply((frames.CRASHED, "Traceback: boom"))
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("evtop.events.receiver", logging.WARNING, "Cannot connect"),
        ("evtop.events.process.source", logging.ERROR, "The event reader process failed:\nTraceback: boom"),
    ]


def test_a_refusal_from_the_child_ends_the_run():
    source, _ = receiver()
    with pytest.raises(BrokerRefused, match="x-max-length"):
        source._apply((frames.REFUSED, "queue 'q' exists with another x-max-length"))


def test_a_reader_that_cannot_start_is_tried_again_as_an_outage(monkeypatch, caplog):
    source, _ = receiver()
    source.backoff = Backoff(base=0.01, cap=0.01)
    stop = threading.Event()
    tries = []

    def refuse(*args, **kwargs):
        tries.append(args)
        if len(tries) == 3:
            stop.set()
        raise OSError(24, "Too many open files")

    monkeypatch.setattr("evtop.events.process.source.subprocess.Popen", refuse)
    source.run(stop)
    assert len(tries) == 3
    snapshot = source.status.snapshot()
    assert snapshot.phase is Phase.STOPPED
    assert "could not start" in snapshot.last_error and "Too many open files" in snapshot.last_error
    assert sum("Starting it again" in record.getMessage() for record in caplog.records) == 2
