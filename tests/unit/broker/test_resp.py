"""The RESP parser behind the Redis event reader, checked against redis-py's own parser."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evtop.broker.resp import ErrorReply, ProtocolError, RespParser, command


def parse_all(data: bytes, cut_points: list[int] | None = None) -> list:
    parser = RespParser()
    values = []
    start = 0
    for cut in [*sorted(cut_points or []), len(data)]:
        parser.feed(data[start:cut])
        values.extend(parser.values())
        start = cut
    assert parser.pending == 0
    return values


PMESSAGE = command("pmessage", "/0.celeryev/*", "/0.celeryev/task.multi", "hello")


def test_pubsub_messages_resp2_and_resp3():
    resp3 = PMESSAGE.replace(b"*4", b">4", 1)
    assert (
        parse_all(PMESSAGE + resp3)
        == [[b"pmessage", b"/0.celeryev/*", b"/0.celeryev/task.multi", b"hello"]] * 2
    )


def test_confirmations_pings_errors_and_scalars():
    data = (
        b"*3\r\n$10\r\npsubscribe\r\n$13\r\n/0.celeryev/*\r\n:1\r\n"
        b"*2\r\n$4\r\npong\r\n$0\r\n\r\n+PONG\r\n-ERR unknown\r\n_\r\n#t\r\n,1.5\r\n(123\r\n"
        b"%1\r\n+k\r\n:2\r\n$-1\r\n*-1\r\n=7\r\ntxt:abc\r\n!3\r\nbad\r\n~1\r\n:9\r\n"
    )
    values = parse_all(data)
    assert values[0] == [b"psubscribe", b"/0.celeryev/*", 1]
    assert values[1:4] == [[b"pong", b""], b"PONG", ErrorReply("ERR unknown")]
    assert isinstance(values[3], ErrorReply)
    assert values[4:] == [None, True, 1.5, 123, [b"k", 2], None, None, b"txt:abc", ErrorReply("bad"), [9]]


@settings(max_examples=300, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=300), min_size=1, max_size=8),
    cuts=st.lists(st.integers(0, 5000), max_size=12),
)
def test_any_chunking_gives_the_same_messages(payloads, cuts):
    """A message split anywhere across reads (even mid length prefix) parses identically."""
    data = b"".join(command("pmessage", "/0.celeryev/*", "/0.celeryev/x", payload) for payload in payloads)
    cut_points = [c for c in cuts if c <= len(data)]
    assert parse_all(data, cut_points) == [
        [b"pmessage", b"/0.celeryev/*", b"/0.celeryev/x", p] for p in payloads
    ]


@settings(max_examples=200, deadline=None)
@given(payloads=st.lists(st.binary(max_size=100), min_size=1, max_size=5))
def test_agrees_with_redis_py(payloads):
    from redis._parsers.resp2 import _RESP2Parser
    from redis._parsers.socket import SocketBuffer

    data = b"".join(command("pmessage", "p", "c", payload) for payload in payloads)

    class FakeSocket:
        def __init__(self, blob: bytes) -> None:
            self.blob = blob

        def recv(self, size):
            chunk, self.blob = self.blob[:size], self.blob[size:]
            return chunk

        def settimeout(self, value):
            pass

    parser = _RESP2Parser(socket_read_size=4096)
    parser._buffer = SocketBuffer(FakeSocket(data), 4096, 5.0)
    expected = [parser._read_response(disable_decoding=True) for _ in payloads]
    assert parse_all(data) == expected


@pytest.mark.parametrize(
    "garbage",
    [b"?what\r\n", b"$abc\r\nxx\r\n", b"$3\r\nabcXY", b"*1\r\n" * 20 + b":1\r\n", b"$999999999999\r\n"],
    ids=["unknown-type", "bad-length", "no-crlf", "too-deep", "too-big"],
)
def test_garbage_is_a_protocol_error(garbage):
    parser = RespParser()
    parser.feed(garbage + b"\r\n" * 4)
    with pytest.raises(ProtocolError):
        list(parser.values())
    assert issubclass(ProtocolError, ConnectionError)  # the reader reconnects instead of guessing


def test_command_encoding():
    assert command("PSUBSCRIBE", "/0.celeryev/*") == b"*2\r\n$10\r\nPSUBSCRIBE\r\n$13\r\n/0.celeryev/*\r\n"
    assert command("PING", b"\xff") == b"*2\r\n$4\r\nPING\r\n$1\r\n\xff\r\n"
