"""The RESP parsers behind the Redis event reader: hiredis's and the pure-Python fallback.

Every test runs against both, so the fallback stays covered where hiredis is installed
(and the hiredis cases are skipped where it is not). Expected values come from the
generators below and from redis-py's own parser, not from either implementation.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evtop.broker import resp
from evtop.broker.resp import MAX_BULK, ErrorReply, ProtocolError, RespParser, command

try:
    import hiredis
except ImportError:  # the pure-Python parser alone is tested
    hiredis = None

PARSERS = [
    pytest.param(RespParser, id="python"),
    pytest.param(
        resp.HiredisParser,
        id="hiredis",
        marks=pytest.mark.skipif(hiredis is None, reason="hiredis is not installed"),
    ),
]
with_each_parser = pytest.mark.parametrize("make_parser", PARSERS)

END = b"+END\r\n"


def parse_all(make_parser, data: bytes, cut_points: list[int] | None = None) -> list:
    """Values of ``data`` fed in pieces; a marker value after it proves it was all consumed."""
    parser = make_parser()
    values = []
    start = 0
    data += END
    for cut in [*sorted(cut_points or []), len(data)]:
        parser.feed(data[start:cut])
        values.extend(parser.values())
        start = cut
    assert values[-1] == b"END"
    return values[:-1]


def every_split(make_parser, data: bytes) -> list[list]:
    """``data`` parsed in two pieces split at each byte boundary, and one byte at a time."""
    results = [parse_all(make_parser, data, [cut]) for cut in range(len(data) + 1)]
    results.append(parse_all(make_parser, data, list(range(len(data)))))
    return results


PMESSAGE = command("pmessage", "/0.celeryev/*", "/0.celeryev/task.multi", "hello")
MESSAGE = [b"pmessage", b"/0.celeryev/*", b"/0.celeryev/task.multi", b"hello"]


@with_each_parser
def test_pubsub_messages_resp2_and_resp3(make_parser):
    resp3 = PMESSAGE.replace(b"*4", b">4", 1)
    for values in every_split(make_parser, PMESSAGE + resp3):
        assert values == [MESSAGE, MESSAGE]
        assert all(isinstance(value, list) for value in values)  # what the reader checks


@with_each_parser
def test_confirmations_pings_errors_and_scalars(make_parser):
    data = (
        b"*3\r\n$10\r\npsubscribe\r\n$13\r\n/0.celeryev/*\r\n:1\r\n"
        b"*2\r\n$4\r\npong\r\n$0\r\n\r\n+PONG\r\n-ERR unknown\r\n_\r\n#t\r\n#f\r\n,1.5\r\n(-123\r\n"
        b"%1\r\n+k\r\n:2\r\n$-1\r\n*-1\r\n=7\r\ntxt:abc\r\n~1\r\n:9\r\n|1\r\n+a\r\n:1\r\n"
    )
    for values in every_split(make_parser, data):
        assert values[0] == [b"psubscribe", b"/0.celeryev/*", 1]
        assert values[1:4] == [[b"pong", b""], b"PONG", ErrorReply("ERR unknown")]
        assert isinstance(values[3], ErrorReply)
        assert values[4:] == [None, True, False, 1.5, b"-123", {b"k": 2}, None, None, b"abc", [9], [b"a", 1]]


def wire_scalars() -> st.SearchStrategy[tuple[bytes, object]]:
    """(encoding, value) of every scalar type, values as both parsers return them."""
    line = st.binary(max_size=30).filter(lambda b: b"\r" not in b and b"\n" not in b)
    text = st.text(max_size=30).filter(lambda t: "\r" not in t and "\n" not in t)
    return st.one_of(
        st.binary(max_size=60).map(lambda b: (b"$%d\r\n%s\r\n" % (len(b), b), b)),
        line.map(lambda b: (b"+%s\r\n" % b, b)),
        text.map(lambda t: (b"-%s\r\n" % t.encode(), ErrorReply(t))),
        st.integers(-(2**63), 2**63 - 1).map(lambda n: (b":%d\r\n" % n, n)),
        st.integers().map(lambda n: (b"(%d\r\n" % n, b"%d" % n)),
        st.floats(allow_nan=False).map(lambda f: (b",%r\r\n" % f, f)),
        st.sampled_from([(b"#t\r\n", True), (b"#T\r\n", True), (b"#f\r\n", False), (b"#F\r\n", False)]),
        st.sampled_from([(b"_\r\n", None), (b"$-1\r\n", None), (b"*-1\r\n", None), (b"%-1\r\n", None)]),
        st.binary(max_size=30).map(lambda b: (b"=%d\r\ntxt:%s\r\n" % (len(b) + 4, b), b)),
    )


def wire_values(depth: int = 0) -> st.SearchStrategy[tuple[bytes, object]]:
    """Any RESP value nested at most as deep as both parsers accept."""
    if depth == resp.MAX_DEPTH:
        return wire_scalars()
    inner = st.deferred(lambda: wire_values(depth + 1))

    def aggregate(kind: bytes) -> st.SearchStrategy[tuple[bytes, object]]:
        return st.lists(inner, max_size=4).map(
            lambda items: (
                b"%s%d\r\n" % (kind, len(items)) + b"".join(w for w, _ in items),
                [v for _, v in items],
            )
        )

    keys = st.one_of(
        st.binary(max_size=8).map(lambda b: (b"$%d\r\n%s\r\n" % (len(b), b), b)),
        st.integers(0, 9).map(lambda n: (b":%d\r\n" % n, n)),
    )
    # Distinct keys: Redis never repeats one, and hiredis mixes up the values when it does.
    maps = st.lists(st.tuples(keys, inner), max_size=3, unique_by=lambda pair: pair[0][1]).map(
        lambda pairs: (
            b"%%%d\r\n" % len(pairs) + b"".join(kw + vw for (kw, _), (vw, _) in pairs),
            {k: v for (_, k), (_, v) in pairs},
        )
    )
    return st.one_of(wire_scalars(), aggregate(b"*"), aggregate(b">"), aggregate(b"~"), maps)


# The nested strategies' repr (only ever printed with a failing example) runs to megabytes.
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@with_each_parser
@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(wire_values(), min_size=1, max_size=6), cuts=st.lists(st.integers(0, 3000), max_size=12)
)
def test_any_value_however_split(make_parser, items, cuts):
    """Both parsers return the same values for any RESP2/RESP3 stream, split anywhere."""
    data = b"".join(wire for wire, _ in items)
    assert parse_all(make_parser, data, [c for c in cuts if c <= len(data)]) == [v for _, v in items]


@with_each_parser
@settings(max_examples=200, deadline=None)
@given(payloads=st.lists(st.binary(max_size=100), min_size=1, max_size=5))
def test_agrees_with_redis_py(make_parser, payloads):
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
    assert parse_all(make_parser, data) == expected


@with_each_parser
def test_a_value_larger_than_many_reads(make_parser):
    payload = bytes(range(256)) * 12_000  # 3 MB, fed as the reader would: 256 KiB reads
    data = command("pmessage", "p", "c", payload) + PMESSAGE
    values = parse_all(make_parser, data, list(range(0, len(data), 256 * 1024)))
    assert values == [[b"pmessage", b"p", b"c", payload], MESSAGE]


@with_each_parser
def test_messages_over_a_kib_however_split(make_parser):
    """hiredis drops what it consumed once a KiB has gone by, also in the middle of a
    message (after its first elements, after a type byte): what it still holds then
    starts inside one, which is not garbage. Events are about that size."""
    payloads = [b"%d" % n * 1200 for n in range(2)]
    data = PMESSAGE * 15 + b"".join(command("pmessage", "/0.celeryev/*", "c", body) for body in payloads)
    expected = [MESSAGE] * 15 + [[b"pmessage", b"/0.celeryev/*", b"c", payload] for payload in payloads]
    for cut in range(len(data) + 1):
        assert parse_all(make_parser, data, [cut]) == expected


def refused(make_parser, data: bytes) -> list:
    """Feed ``data`` whole, in two pieces split at each byte boundary, and a byte at a
    time: a ProtocolError naming the problem must end each run (not a hang, not another
    exception). Returns the values returned before the errors."""
    seen = []
    for cuts in [[], *([cut] for cut in range(len(data))), list(range(len(data)))]:
        parser = make_parser()
        start = 0
        with pytest.raises(ProtocolError, match=r"\w"):
            for cut in [*cuts, len(data)]:
                parser.feed(data[start:cut])
                start = cut
                for value in parser.values():
                    seen.append(value)
    return seen


GARBAGE = {
    "unknown-type": b"?what\r\n",
    "bad-length": b"$abc\r\nxx\r\n",
    "too-deep": b"*1\r\n" * 20 + b":1\r\n",
    "too-deep-later": b"*2\r\n:1\r\n" + b"*1\r\n" * 10 + b":1\r\n",
    "too-big": b"$999999999999\r\n",
    "too-big-in-a-message": b"*4\r\n$8\r\npmessage\r\n$1\r\np\r\n$1\r\nc\r\n$%d\r\n" % (MAX_BULK + 1),
    "too-many": b"*%d\r\n" % 2**32,
    "negative-length": b"$-2\r\n",
    "negative-count": b"*-2\r\n",
    "bad-boolean": b"#x\r\n",
    "line-break-in-a-simple-string": b"+a\rb\r\n",
    "bad-null": b"_x\r\n",
    "bad-double": b",abc\r\n",
    "bad-big-number": b"(12a\r\n",
    "bad-verbatim": b"=2\r\nab\r\n",
    "blob-error": b"!3\r\nbad\r\n",  # RESP3's blob error: Redis does not send it, hiredis refuses it
    "aggregate-map-key": b"%1\r\n*0\r\n:1\r\n",
}


@with_each_parser
@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_is_a_protocol_error_however_split(make_parser, garbage):
    """No value is made of it either. Over a KiB of messages comes first (hiredis has
    dropped them by then, so its checks cannot lean on what came before), and more after."""
    seen = refused(make_parser, PMESSAGE * 20 + garbage + PMESSAGE * 2)
    assert all(value == MESSAGE for value in seen)
    assert issubclass(ProtocolError, ConnectionError)  # the reader reconnects instead of guessing


@with_each_parser
def test_a_bulk_length_too_short_is_a_protocol_error(make_parser):
    """hiredis skips the two bytes after a bulk string unchecked, so it returns the cut
    string and refuses the rest of it instead."""
    seen = refused(make_parser, PMESSAGE * 20 + b"$3\r\nabcXY\r\n" + PMESSAGE * 2)
    cut = [b"abc"] if make_parser is resp.HiredisParser else []
    assert all(value == MESSAGE or value in cut for value in seen)


@with_each_parser
@pytest.mark.parametrize("before", [0, 1, 200], ids=["first", "after-one", "after-many"])
def test_a_huge_length_is_refused_when_its_line_arrives(make_parser, before):
    """Not once gigabytes arrived: the events that follow would be swallowed meanwhile."""
    parser = make_parser()
    parser.feed(PMESSAGE * before + b"*4\r\n$8\r\npmessage\r\n$1\r\np\r\n$1\r\nc\r\n$9999999999")
    assert len(list(parser.values())) == before
    parser.feed(b"\r\n" + b"x" * 1000)
    with pytest.raises(ProtocolError, match="bulk string of 9999999999 bytes"):
        list(parser.values())


def test_hiredis_is_the_default_when_installed():
    assert resp.default_parser is (RespParser if hiredis is None else resp.HiredisParser)


def test_command_encoding():
    assert command("PSUBSCRIBE", "/0.celeryev/*") == b"*2\r\n$10\r\nPSUBSCRIBE\r\n$13\r\n/0.celeryev/*\r\n"
    assert command("PING", b"\xff") == b"*2\r\n$4\r\nPING\r\n$1\r\n\xff\r\n"
