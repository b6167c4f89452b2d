"""Incremental parsers for the Redis wire protocol (RESP2 and RESP3), for pub/sub reading.

redis-py parses every pushed message with several Python calls per element; the event
stream is hundreds of thousands of small messages, so evtop reads the subscribed socket
in large chunks and parses complete values straight out of the buffer: with hiredis's C
reader when hiredis is installed (``evtop[fast]``), else with :class:`RespParser`. Only
what a subscribed connection receives needs to be understood: arrays/pushes of bulk
strings, simple strings, errors, integers and RESP3 scalars.

Both parsers give the same values for the same bytes however they are split, and both
raise :class:`ProtocolError` on the same malformed input, so which one runs changes
speed only. What remains different is leniency about bytes Redis never sends:
RespParser reads numbers with Python's ``int()`` and ``float()``, which also accept a
plus sign, leading zeros, underscores, surrounding spaces and ``Infinity`` where hiredis
refuses them; hiredis trusts a bulk string's announced length and skips the two bytes
after it unchecked, so a wrong length surfaces as a protocol error at the value after
it; and hiredis mixes up the values of a map that repeats a key.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any, Final, Protocol

_hiredis: Any
try:  # optional accelerator (``pip install evtop[fast]``)
    import hiredis as _hiredis
except ImportError:  # pragma: no cover - exercised when hiredis is not installed
    _hiredis = None

#: Redis refuses bulk strings larger than this (``proto-max-bulk-len``); larger is garbage.
MAX_BULK: Final = 512 * 1024 * 1024
#: More elements in one aggregate are garbage (hiredis refuses them too).
MAX_ELEMENTS: Final = 2**32 - 1
#: Aggregates nested deeper are refused: RespParser recurses once per level.
MAX_DEPTH: Final = 8
_CRLF: Final = b"\r\n"
_BOOLEANS: Final = {b"t": True, b"T": True, b"f": False, b"F": False}


class ProtocolError(ConnectionError):
    """The byte stream is not RESP: the connection cannot be trusted any more (reconnect)."""


class ErrorReply(str):
    """A ``-ERR ...`` reply (kept as a value: the server stays usable after it)."""


class Parser(Protocol):
    """Feed bytes with :meth:`feed`, take complete values from :meth:`values`."""

    def feed(self, data: bytes) -> None: ...

    def values(self) -> Iterator[Any]:
        """Every complete value received, in order; stops at an incomplete one."""
        ...


class RespParser:
    """The pure-Python parser: parses complete values out of one growing buffer."""

    __slots__ = ("_buffer", "_pos")

    def __init__(self) -> None:
        self._buffer = b""
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos:
            self._buffer = self._buffer[self._pos :] + data
            self._pos = 0
        else:
            self._buffer += data

    def values(self) -> Iterator[Any]:
        while True:
            parsed = self._parse(self._pos, 0)
            if parsed is None:
                return
            value, self._pos = parsed
            yield value

    def _parse(self, pos: int, depth: int) -> tuple[Any, int] | None:
        buffer = self._buffer
        end = buffer.find(_CRLF, pos)
        if end < 0:
            return None
        kind = buffer[pos]
        if kind == 36 or kind == 61:  # $ bulk string, = verbatim string
            size = _integer(buffer, pos + 1, end)
            if size < 0:
                return _null(size, end)
            if size > MAX_BULK:
                raise ProtocolError(f"bulk string of {size} bytes")
            stop = end + 2 + size
            if len(buffer) < stop + 2:
                return None
            if buffer[stop : stop + 2] != _CRLF:
                raise ProtocolError("bulk string not terminated by CRLF")
            if kind == 61:  # the text comes after a format: "txt:" or "mkd:"
                if size < 4 or buffer[end + 5] != 58:
                    raise ProtocolError("verbatim string without its format")
                return buffer[end + 6 : stop], stop + 2
            return buffer[end + 2 : stop], stop + 2
        if kind == 42 or kind == 62 or kind == 126 or kind == 37 or kind == 124:  # * > ~ % |
            count = _integer(buffer, pos + 1, end)
            if count < 0:
                return _null(count, end)
            if count > MAX_ELEMENTS:
                raise ProtocolError(f"aggregate of {count} elements")
            if depth >= MAX_DEPTH:
                raise ProtocolError("values nested too deeply")
            if kind == 37 or kind == 124:  # maps and attributes: key, value pairs
                count *= 2
            items = []
            cursor = end + 2
            for _ in range(count):
                parsed = self._parse(cursor, depth + 1)
                if parsed is None:
                    return None
                item, cursor = parsed
                items.append(item)
            if kind == 37:
                try:
                    return dict(zip(items[::2], items[1::2], strict=True)), cursor
                except TypeError:
                    raise ProtocolError("a map key is an aggregate") from None
            return items, cursor
        line = buffer[pos + 1 : end]
        if kind == 43 or kind == 45:  # + simple string, - error
            if b"\r" in line or b"\n" in line:
                raise ProtocolError("line break in a simple string")
            if kind == 43:
                return line, end + 2
            return ErrorReply(line.decode("utf-8", "replace")), end + 2
        if kind == 58:  # : integer
            return _integer(buffer, pos + 1, end), end + 2
        if kind == 40:  # ( big number: kept as its digits, as hiredis does
            digits = line[1:] if line[:1] == b"-" else line
            if digits and not digits.isdigit():
                raise ProtocolError("bad big number")
            return line, end + 2
        if kind == 95:  # _ null
            if line:
                raise ProtocolError("bad null")
            return None, end + 2
        if kind == 35:  # # boolean
            if line not in _BOOLEANS:
                raise ProtocolError("bad boolean")
            return _BOOLEANS[line], end + 2
        if kind == 44:  # , double
            try:
                return float(line), end + 2
            except ValueError:
                raise ProtocolError("bad double") from None
        raise ProtocolError(f"unknown RESP type byte {kind!r}")


def _integer(buffer: bytes, start: int, end: int) -> int:
    try:
        return int(buffer[start:end])
    except ValueError:
        raise ProtocolError("bad length or integer") from None


def _null(length: int, end: int) -> tuple[None, int]:
    """A length of -1 is RESP2's null; other negative lengths are garbage."""
    if length != -1:
        raise ProtocolError(f"length {length}")
    return None, end + 2


_INCOMPLETE: Final = object()
#: The types hiredis makes aggregates of (RESP3 pushes became a list subclass in 3.2).
_AGGREGATES: Final = frozenset({list, dict, getattr(_hiredis, "PushNotification", list)})
#: How far into hiredis's buffer the value it waits for can start (it drops consumed
#: bytes once a KiB of them has gone by), plus the longest length line it accepts.
_HEAD: Final = 1024 + 32
#: The first byte of every RESP value, as one-byte strings.
_TYPE_BYTES: Final = frozenset(bytes([kind]) for kind in b"$=*>~%|+-:(_#,!")
#: What a type byte hiredis consumed may have begun, one of each shape: a bulk string,
#: an aggregate, a map (two items per count) and a line (any line parses as ``+``).
_RESUMED_KINDS: Final = (b"$", b"*", b"%", b"+")


class HiredisParser:
    """hiredis's C reader, held to RespParser's values, limits and errors.

    hiredis waits for a bulk string of any announced size and allows aggregates 1024
    levels deep, where RespParser refuses a length over :data:`MAX_BULK` as soon as its
    line arrives and nesting beyond :data:`MAX_DEPTH`. So after each batch of values a
    RespParser reads the start of what hiredis still holds (at most a KiB, taken from
    the chunks fed, which are kept until hiredis is done with them: a value larger than
    a read is held twice meanwhile), and a complete value holding aggregates is checked
    for depth.

    What hiredis holds does not always start where a value does: it consumes the
    elements of an aggregate one by one, and the type byte of an item before the rest
    of it has arrived, and drops what it consumed once a KiB has gone by. So the held
    bytes start at a value, at an element inside one, or just after a type byte
    (``928\r\n...`` of a bulk string ``$928``): then the kind of that item is not
    known, and the bytes are refused only when no kind makes sense of them (or the
    number is larger than a bulk string may be), so a crafted stream may be refused
    only later, by hiredis itself or never; a valid one is never refused.
    """

    __slots__ = ("_held", "_held_size", "_reader")

    def __init__(self) -> None:
        self._reader = _hiredis.Reader(
            protocolError=ProtocolError, replyError=ErrorReply, notEnoughData=_INCOMPLETE
        )
        self._held: deque[bytes] = deque()
        self._held_size = 0

    def feed(self, data: bytes) -> None:
        self._reader.feed(data)
        self._held.append(data)
        self._held_size += len(data)

    def values(self) -> Iterator[Any]:
        gets = self._reader.gets
        while True:
            try:
                value = gets()
            except TypeError:  # hiredis could not make a dict: an aggregate as a map key
                raise ProtocolError("a map key is an aggregate") from None
            if value is _INCOMPLETE:
                break
            if type(value) in _AGGREGATES:  # only one holding aggregates can nest too deeply
                for item in value.values() if type(value) is dict else value:
                    if type(item) in _AGGREGATES:
                        _check_depth(value)
                        break
            yield value
        self._check_waiting()

    def _check_waiting(self) -> None:
        """Refuse the value hiredis waits for now if RespParser would."""
        held = self._reader.len()  # the last ``held`` bytes fed
        chunks = self._held
        while chunks and self._held_size - len(chunks[0]) >= held:
            self._held_size -= len(chunks.popleft())
        if not held:
            return
        skip = self._held_size - held
        head = chunks[0][skip : skip + _HEAD]
        for chunk in islice(chunks, 1, None):
            if len(head) >= _HEAD:
                break
            head += chunk[: _HEAD - len(head)]
        if head[:1] in _TYPE_BYTES:
            _probe(head)
            return
        # Just after a type byte hiredis consumed: the item is a bulk string it waits
        # for, or was any item since completed. A number too large for a bulk string
        # is refused; else the bytes are garbage only if no kind of item makes sense
        # of them (RespParser's verdict on them as a bulk string is the one raised).
        end = head.find(_CRLF)
        if 0 < end <= 20 and head[:end].isdigit() and int(head[:end]) > MAX_BULK:
            raise ProtocolError(f"bulk string of {int(head[:end])} bytes")
        refusals = []
        for kind in _RESUMED_KINDS:
            try:
                _probe(kind + head)
            except ProtocolError as exc:
                refusals.append(exc)
            else:
                return
        raise refusals[0]


def _probe(data: bytes) -> None:
    """Raise what RespParser raises on ``data``, if anything."""
    probe = RespParser()
    probe.feed(data)
    for _ in probe.values():
        pass


def _check_depth(value: Any) -> None:
    """Refuse what RespParser refuses: aggregates nested more than MAX_DEPTH deep."""
    level = [value]
    for _ in range(MAX_DEPTH):
        level = [
            item
            for parent in level
            for item in (parent.values() if type(parent) is dict else parent)
            if isinstance(item, (list, dict))
        ]
        if not level:
            return
    raise ProtocolError("values nested too deeply")


#: The parser the event reader uses: hiredis's when it is installed. A module attribute,
#: so that tests and benchmarks can choose either.
default_parser: Callable[[], Parser] = RespParser if _hiredis is None else HiredisParser


def command(*parts: str | bytes) -> bytes:
    """Encode one command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)
