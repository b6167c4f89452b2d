"""Turn a message body into Python data, accepting JSON only (msgpack only when asked).

Anyone who can publish to the event exchange chooses the content type. celery's receiver
accepts whatever ``event_serializer`` says and kombu additionally trusts
``application/data`` and ``application/text``; evtop never does either, so a pickle or
yaml body can never be deserialized here. Decoded data is kept JSON-native: kombu's
``{"__type__": ..., "__value__": ...}`` envelopes become plain strings/numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

_fast_loads: Callable[[bytes], Any] | None
try:  # optional accelerator (``pip install evtop[fast]``); stdlib json remains the arbiter
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - exercised when orjson is not installed
    _fast_loads = None

JSON_CONTENT_TYPES: Final = frozenset({"application/json"})
MSGPACK_CONTENT_TYPES: Final = frozenset({"application/x-msgpack", "application/msgpack"})
_UTF8: Final = frozenset({None, "", "utf-8", "utf8", "binary"})
_ENVELOPE_MARK: Final = b"__type__"
#: kombu envelope types whose value is already JSON-native text or a number in text.
_TEXT_ENVELOPES: Final = frozenset({"datetime", "date", "time", "uuid", "bytes", "base64"})
#: orjson turns integers outside 64 bits into floats (stdlib json keeps them exact ints)
#: and nests without limit, where stdlib json raises; bodies that could differ go to
#: stdlib: many brackets, or a run of 19+ digits (-9223372036854775809, one below the
#: smallest int64, already has 19). Both are read off the body's *shape*: one C pass
#: mapping digits to "9", "[" and "{" to "[" and the rest to " " (no regex).
_SHAPE: Final = bytes(57 if 48 <= b <= 57 else 91 if b in (91, 123) else 32 for b in range(256))
_LONG_DIGIT_RUN: Final = b"9" * 19
_MAX_FAST_BRACKETS: Final = 512


class DisallowedContent(Exception):
    """The content type (or a compression header) is not one evtop accepts."""


class BodyDecodeError(Exception):
    """The body claims an accepted type but cannot be decoded."""


def survey(raw: bytes) -> tuple[int, bool]:
    """``(brackets, exact)`` of a JSON body: its count of ``[`` and ``{`` (which bounds its
    nesting) and whether orjson decodes it exactly as stdlib json does."""
    shape = raw.translate(_SHAPE)
    brackets = shape.count(b"[")
    return brackets, brackets <= _MAX_FAST_BRACKETS and _LONG_DIGIT_RUN not in shape


def _unwrap_envelope(obj: dict[str, Any]) -> Any:
    if len(obj) == 2 and "__type__" in obj and "__value__" in obj:
        kind, value = obj["__type__"], obj["__value__"]
        if kind in _TEXT_ENVELOPES and isinstance(value, str):
            return value
        if kind == "decimal" and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return value
    return obj


_MEDIA_TYPES: dict[str | None, str] = {}


def _media_type(content_type: str | None) -> str:
    """``"Application/JSON; charset=utf-8"`` → ``"application/json"`` (cached: called per message)."""
    media = _MEDIA_TYPES.get(content_type)
    if media is None:
        media = (content_type or "").split(";", 1)[0].strip().lower()
        if len(_MEDIA_TYPES) < 64:
            _MEDIA_TYPES[content_type] = media
    return media


class BodyDecoder:
    """Decodes bodies by content type; everything outside the allowlist is refused."""

    def __init__(self, *, accept_msgpack: bool = False, fast: bool = True) -> None:
        self.accept_msgpack = accept_msgpack
        #: orjson when installed: the same results as stdlib json, several times faster.
        #: Whatever orjson refuses (NaN, lone surrogates, ...) is decided by stdlib json.
        self._fast = _fast_loads if fast else None
        self._msgpack: Any = None
        if accept_msgpack:
            import msgpack  # optional extra, imported only on opt-in

            self._msgpack = msgpack

    def decode(
        self,
        body: bytes | bytearray | memoryview | str,
        content_type: str | None,
        content_encoding: str | None = None,
        compressed: bool = False,
        *,
        exact: bool | None = None,
    ) -> Any:
        """Decoded body; ``exact`` is :func:`survey`'s verdict on the body, if the caller has it."""
        media = _media_type(content_type)
        if compressed:
            raise DisallowedContent("compressed bodies are not accepted")
        if media in JSON_CONTENT_TYPES:
            return self._json(body, content_encoding, exact)
        if media in MSGPACK_CONTENT_TYPES and self._msgpack is not None:
            return self._msgpack_decode(body)
        raise DisallowedContent(media or "no content type")

    def _json(
        self, body: bytes | bytearray | memoryview | str, encoding: str | None, exact: bool | None
    ) -> Any:
        if (encoding or "").lower() not in _UTF8:
            raise BodyDecodeError(f"unsupported content encoding for JSON: {encoding}")
        raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
        hooked = _ENVELOPE_MARK in raw
        if self._fast is not None and not hooked and (survey(raw)[1] if exact is None else exact):
            try:
                return self._fast(raw)
            except (ValueError, RecursionError, TypeError):
                pass  # stdlib json decides: it accepts what celery's receiver would
        try:
            text = raw.decode("utf-8")
            if hooked:
                return json.loads(text, object_hook=_unwrap_envelope)
            return json.loads(text)
        except (ValueError, RecursionError, TypeError) as exc:
            raise BodyDecodeError(type(exc).__name__) from None

    def _msgpack_decode(self, body: bytes | bytearray | memoryview | str) -> Any:
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogatepass")
        try:
            return self._msgpack.unpackb(bytes(body), raw=False, strict_map_key=False)
        except Exception as exc:  # msgpack raises several unrelated exception types
            raise BodyDecodeError(type(exc).__name__) from None
