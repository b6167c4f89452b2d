"""Turn a message body into Python data, accepting JSON only (msgpack only when asked).

Anyone who can publish to the event exchange chooses the content type. celery's receiver
accepts whatever ``event_serializer`` says and kombu additionally trusts
``application/data`` and ``application/text``; evtop never does either, so a pickle or
yaml body can never be deserialized here. Decoded data is kept JSON-native: kombu's
``{"__type__": ..., "__value__": ...}`` envelopes become plain strings/numbers.
"""

from __future__ import annotations

import json
from typing import Any, Final

JSON_CONTENT_TYPES: Final = frozenset({"application/json"})
MSGPACK_CONTENT_TYPES: Final = frozenset({"application/x-msgpack", "application/msgpack"})
_UTF8: Final = frozenset({None, "", "utf-8", "utf8", "binary"})
_ENVELOPE_MARK: Final = b"__type__"
#: kombu envelope types whose value is already JSON-native text or a number in text.
_TEXT_ENVELOPES: Final = frozenset({"datetime", "date", "time", "uuid", "bytes", "base64"})


class DisallowedContent(Exception):
    """The content type (or a compression header) is not one evtop accepts."""


class BodyDecodeError(Exception):
    """The body claims an accepted type but cannot be decoded."""


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


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


class BodyDecoder:
    """Decodes bodies by content type; everything outside the allowlist is refused."""

    def __init__(self, *, accept_msgpack: bool = False) -> None:
        self.accept_msgpack = accept_msgpack
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
    ) -> Any:
        media = _media_type(content_type)
        if compressed:
            raise DisallowedContent("compressed bodies are not accepted")
        if media in JSON_CONTENT_TYPES:
            return self._json(body, content_encoding)
        if media in MSGPACK_CONTENT_TYPES and self._msgpack is not None:
            return self._msgpack_decode(body)
        raise DisallowedContent(media or "no content type")

    def _json(self, body: bytes | bytearray | memoryview | str, encoding: str | None) -> Any:
        if (encoding or "").lower() not in _UTF8:
            raise BodyDecodeError(f"unsupported content encoding for JSON: {encoding}")
        try:
            if isinstance(body, str):
                text = body
                hooked = "__type__" in text
            else:
                raw = bytes(body)
                hooked = _ENVELOPE_MARK in raw
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
