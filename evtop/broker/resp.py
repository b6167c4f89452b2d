"""Incremental parser for the Redis wire protocol (RESP2 and RESP3), for pub/sub reading.

redis-py parses every pushed message with several Python calls per element; the event
stream is hundreds of thousands of small messages, so evtop reads the subscribed socket
in large chunks and parses complete values straight out of the buffer. Only what a
subscribed connection receives needs to be understood: arrays/pushes of bulk strings,
simple strings, errors, integers and RESP3 scalars.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

#: Redis refuses bulk strings larger than this (``proto-max-bulk-len``); larger is garbage.
MAX_BULK: Final = 512 * 1024 * 1024
MAX_DEPTH: Final = 8
_CRLF: Final = b"\r\n"


class ProtocolError(ConnectionError):
    """The byte stream is not RESP: the connection cannot be trusted any more (reconnect)."""


class ErrorReply(str):
    """A ``-ERR ...`` reply (kept as a value: the server stays usable after it)."""


class RespParser:
    """Feed bytes with :meth:`feed`, take complete values from :meth:`values`."""

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

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete value."""
        return len(self._buffer) - self._pos

    def values(self) -> Iterator[Any]:
        """Every complete value in the buffer, in order; stops at an incomplete one."""
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
                return None if kind == 61 else (None, end + 2)
            if size > MAX_BULK:
                raise ProtocolError(f"bulk string of {size} bytes")
            stop = end + 2 + size
            if len(buffer) < stop + 2:
                return None
            if buffer[stop : stop + 2] != _CRLF:
                raise ProtocolError("bulk string not terminated by CRLF")
            return buffer[end + 2 : stop], stop + 2
        if kind == 42 or kind == 62 or kind == 126 or kind == 37 or kind == 124:  # * > ~ % |
            count = _integer(buffer, pos + 1, end)
            if count < 0:
                return None, end + 2
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
            return items, cursor
        line = buffer[pos + 1 : end]
        if kind == 43:  # + simple string
            return line, end + 2
        if kind == 45:  # - error
            return ErrorReply(line.decode("utf-8", "replace")), end + 2
        if kind == 58 or kind == 40:  # : integer, ( big number
            return _integer(buffer, pos + 1, end), end + 2
        if kind == 95:  # _ null
            return None, end + 2
        if kind == 35:  # # boolean
            return line == b"t", end + 2
        if kind == 44:  # , double
            try:
                return float(line), end + 2
            except ValueError:
                raise ProtocolError("bad double") from None
        if kind == 33:  # ! blob error: like a bulk string
            size = _integer(buffer, pos + 1, end)
            stop = end + 2 + size
            if len(buffer) < stop + 2:
                return None
            return ErrorReply(buffer[end + 2 : stop].decode("utf-8", "replace")), stop + 2
        raise ProtocolError(f"unknown RESP type byte {kind!r}")


def _integer(buffer: bytes, start: int, end: int) -> int:
    try:
        return int(buffer[start:end])
    except ValueError:
        raise ProtocolError("bad length or integer") from None


def command(*parts: str | bytes) -> bytes:
    """Encode one command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)
