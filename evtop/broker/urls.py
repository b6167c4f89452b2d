"""Broker URL validation and password masking: the one place that knows where secrets are.

Broker passwords have leaked from every peer of evtop through start-up banners,
connection errors, debug dumps and failover URL lists, so evtop masks them everywhere it
prints, logs or records anything. The rules here:

* **Parse, don't scan.** One small parser (:func:`_parse_part`) finds the user-info
  password and ``password=`` query values; :func:`mask_url`, :func:`validate_broker_url`
  and :func:`url_secrets` all use it, so they can never disagree about where a password is.
* **Fail closed.** A part of a URL that cannot be parsed with confidence (a raw ``@``,
  ``/``, ``?`` or ``#`` in the password, a ``;`` inside a password splitting the failover
  list, a non-numeric "port" that may be a password) is shown as ``scheme://***``.
* **Never through urllib's error messages.** ``urlsplit(...).port`` raises with the text
  after the colon in the message, which for ``amqp://u:p#ss@h//`` is the password; the
  parser is written by hand and raises nothing.
* **Defence in depth.** :func:`url_secrets` feeds :class:`~evtop.text.redact.Redactor`,
  which removes known secrets from any text (log lines, kombu or redis-py exception
  messages that embed the URL) as a last line of defence.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus, unquote, unquote_plus

from evtop.errors import UsageError
from evtop.text.redact import MASK
from evtop.text.sanitize import sanitize, truncate

__all__ = [
    "SUPPORTED_SCHEMES",
    "BrokerURLError",
    "broker_scheme",
    "mask_url",
    "url_secrets",
    "validate_broker_url",
    "validate_management_url",
]

#: Schemes of kombu's Redis transports, whose events evtop reads off the socket itself.
REDIS_SCHEMES: frozenset[str] = frozenset({"redis", "rediss", "sentinel"})
#: Transports evtop can consume events from. ``memory`` is the in-process demo/test broker.
SUPPORTED_SCHEMES: frozenset[str] = frozenset(
    {"amqp", "amqps", "pyamqp", "redis", "rediss", "sentinel", "memory"}
)


_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://")
_BAD_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PCT_RE = re.compile(r"%[0-9A-F]{2}")
_QUERY_KEY_RE = re.compile(r"[?&]([^=&?#]*)=")
# What a real option name looks like (ssl_cert_reqs, db, health_check_interval, ...).
_QUERY_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_ENCODINGS = {"@": "%40", "#": "%23", "/": "%2F", "?": "%3F"}
# Longest masked URL quoted in an error message; the rest is cut with an ellipsis.
_MAX_SHOWN = 200


class BrokerURLError(UsageError, ValueError):
    """A broker URL evtop cannot use. The message is one line and never holds a password.

    Also a :class:`~evtop.errors.UsageError`, so the CLI reports it without a traceback
    and exits with status 2.
    """


# --- parsing ------------------------------------------------------------------------------


@dataclass
class _Part:
    """One ``;``-separated URL, parsed as far as it safely can be."""

    raw: str
    scheme: str | None = None  # as written; None when there is no ``scheme://``
    #: False when a password may be somewhere the parser cannot point at.
    confident: bool = True
    #: First problem found, phrased for the user, never quoting a password.
    problem: str | None = None
    #: (start, end) offsets in ``raw`` of every secret: user-info password, query values.
    secret_spans: list[tuple[int, int]] = field(default_factory=list)

    def fail(self, problem: str, *, confident: bool = True) -> None:
        if self.problem is None:
            self.problem = problem
        if not confident:
            self.confident = False

    def masked(self) -> str:
        if not self.confident:
            return f"{self.scheme}://***" if self.scheme else "***"
        out = self.raw
        for start, end in sorted(self.secret_spans, reverse=True):
            out = out[:start] + MASK + out[end:]
        return out

    def secrets(self) -> list[str]:
        return [self.raw[start:end] for start, end in self.secret_spans]


def _encoding_hint(chars: Iterable[str]) -> str:
    """Spell out the %XX escape of each special character in ``chars``, for messages."""
    found = sorted(set(chars) & set(_ENCODINGS))
    return ", ".join(f"{c!r} as {_ENCODINGS[c]}" for c in found)


def _is_secret_key(key: str) -> bool:
    """Query parameters whose value is a secret: ``password`` and its obvious cousins."""
    key = key.lower()
    return "password" in key or "passwd" in key or "secret" in key or key in {"pwd", "token"}


def _parse_part(raw: str, schemes: frozenset[str] = SUPPORTED_SCHEMES) -> _Part:
    """Parse one URL of a failover list (or another URL whose scheme is one of ``schemes``).
    Never raises; problems are recorded on the part."""
    part = _Part(raw)
    if not raw:
        part.fail("empty entry in the ';'-separated list")
        return part
    m = _SCHEME_RE.match(raw)
    if m is None:
        part.fail("no scheme: expected something like redis://host:6379/0", confident=False)
        return part
    part.scheme = m.group(1)
    scheme = part.scheme.lower()
    if scheme not in schemes:
        import difflib  # here: only a refused URL needs it

        supported = ", ".join(sorted(schemes))
        guess = difflib.get_close_matches(scheme, sorted(schemes), n=1, cutoff=0.6)
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        part.fail(f"unsupported scheme {scheme!r} (supported: {supported}){hint}")
    if any(c.isspace() or not c.isprintable() for c in raw):
        part.fail("contains whitespace or control characters (URL-encode a space in a password as %20)")

    base = m.end()
    rest = raw[base:]
    auth_end = len(rest)
    for delim in "/?#":
        i = rest.find(delim)
        if i != -1:
            auth_end = min(auth_end, i)
    auth, tail = rest[:auth_end], rest[auth_end:]

    # An '@' after the authority means the authority ended early: the password holds a
    # raw '/', '?' or '#'. Where the password is can no longer be told: fail closed.
    last_at = rest.rfind("@")
    if last_at >= auth_end:
        # "u:p/ss@h" (the password holds a '/') and "h/0?password=p@ss" (the password
        # holds an '@') look alike; name every suspect and its encoding.
        hint = _encoding_hint([*(c for c in rest[:last_at] if c in "/?#@"), "@"])
        part.fail(
            f"cannot tell where the password ends: a raw '@' follows a '/', '?' or '#'; "
            f"in a password, URL-encode {hint}",
            confident=False,
        )
        return part
    if "#" in tail:
        part.fail(
            "contains '#', which ends the URL early; if it is part of a password, URL-encode it as %23",
            confident=False,
        )
        return part
    if auth.count("@") > 1:
        part.fail("the user-info contains a raw '@'; URL-encode '@' in a password as %40", confident=False)
        return part

    userinfo, at, hostport = auth.rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        if colon and password:
            start = base + len(user) + 1
            part.secret_spans.append((start, start + len(password)))
        if _BAD_ESCAPE_RE.search(userinfo):
            part.fail("the user-info has a '%' that is not a %XX escape; URL-encode '%' as %25")
    _check_hostport(part, hostport)

    query_at = tail.find("?")
    if query_at != -1:
        offset = base + auth_end + query_at + 1
        for item in tail[query_at + 1 :].split("&"):
            key, eq, value = item.partition("=")
            if eq and value and _is_secret_key(unquote_plus(key)):
                start = offset + len(key) + 1
                part.secret_spans.append((start, start + len(value)))
            elif item and not (eq and _QUERY_NAME_RE.fullmatch(key)):
                # "password=p&ss" splits into "password=p" and "ss": the rest of the
                # password would be shown, so give up on this part. ("p&x=y" cannot be
                # told from a second parameter; the hint in the message covers it.)
                part.fail(
                    "a query parameter is not name=value; if a password contains '&', URL-encode it as %26",
                    confident=False,
                )
            offset += len(item) + 1
    return part


def _check_hostport(part: _Part, hostport: str) -> None:
    """Check ``host[:port]``. A malformed host part fails closed: the text there may be
    a password typed in the wrong place (``redis://user:secret`` with no host)."""
    port: str | None = None
    if hostport.startswith("["):
        close = hostport.find("]")
        if close == -1:
            part.fail("unterminated IPv6 address: '[' without ']'", confident=False)
            return
        host, after = hostport[1:close], hostport[close + 1 :]
        if after and not after.startswith(":"):
            part.fail("unexpected text after the IPv6 address; expected ':port'", confident=False)
            return
        port = after[1:] if after else None
        try:
            ipaddress.IPv6Address(unquote(host))
        except ValueError:
            part.fail("the address in '[...]' is not an IPv6 address", confident=False)
            return
    elif "[" in hostport or "]" in hostport:
        part.fail("stray '[' or ']' in the host; IPv6 addresses go in [brackets]", confident=False)
        return
    elif hostport.count(":") > 1:
        part.fail(
            "more than one ':' in the host (IPv6 addresses go in [brackets]; "
            "a password needs user:password@host)",
            confident=False,
        )
        return
    elif ":" in hostport:
        port = hostport.partition(":")[2]
    if port is None:
        return
    if not port:
        part.fail("empty port after ':'")
    elif not (port.isascii() and port.isdigit()):
        part.fail("the port is not a number (expected 1-65535)", confident=False)
    elif len(port) > 5 or not 1 <= int(port) <= 65535:
        part.fail(f"port {port[:8]} is out of range (expected 1-65535)")


def _split_looks_broken(parts: list[_Part]) -> bool:
    """A failover entry without a scheme is most likely the tail of a password holding a
    raw ';' (kombu splits on it blindly), so no entry of the list can be trusted."""
    return len(parts) > 1 and any(p.raw and p.scheme is None for p in parts)


def _parse(url: str) -> list[_Part]:
    parts = [_parse_part(p) for p in url.split(";")]
    if _split_looks_broken(parts):
        for p in parts:
            p.confident = False
    return parts


# --- public API ---------------------------------------------------------------------------


def mask_url(url: str) -> str:
    """Return ``url`` with every password replaced by ``**``; safe to print anywhere.

    Handles ``;``-separated failover lists, password-only user-info, ``password=`` query
    parameters and percent-encoded passwords. Anything that cannot be parsed confidently
    comes out as ``scheme://***`` (or ``***``). Never raises.
    """
    try:
        if not isinstance(url, str):
            return "***"
        return ";".join(p.masked() if p.raw else "" for p in _parse(url))
    except Exception:  # pragma: no cover - the parser does not raise; belt and braces
        return "***"


def _shown(part: _Part) -> str:
    return truncate(sanitize(part.masked()), _MAX_SHOWN)


def broker_scheme(url: str) -> str:
    """The first URL's scheme, lower-cased (``redis``, ``amqp``...); empty if it has none."""
    match = _SCHEME_RE.match(url)
    return match.group(1).lower() if match else ""


def validate_broker_url(url: str) -> str:
    """Return ``url`` unchanged if evtop can use it, else raise :class:`BrokerURLError`.

    Each entry of a kombu failover list (``url1;url2``) is checked: a supported scheme,
    a numeric port in 1-65535, a user-info without raw ``@`` and a password without raw
    ``/``, ``?`` or ``#`` (with the %XX encoding to use instead).
    """
    if not isinstance(url, str):
        raise BrokerURLError(f"the broker URL must be a string, not {type(url).__name__}")
    if not url.strip():
        raise BrokerURLError("the broker URL is empty (expected something like redis://localhost:6379/0)")
    if url != url.strip():
        raise BrokerURLError(
            f"invalid broker URL {truncate(sanitize(mask_url(url.strip())), _MAX_SHOWN)}: "
            "leading or trailing whitespace (a stray newline from a file or variable?)"
        )
    parts = _parse(url)
    count = len(parts)
    if _split_looks_broken(parts):
        index = next(i for i, p in enumerate(parts, 1) if p.raw and p.scheme is None)
        shown = truncate(sanitize(";".join(p.masked() for p in parts)), _MAX_SHOWN)
        raise BrokerURLError(
            f"invalid broker URL {shown}: failover entry {index} of {count} has no scheme; "
            "';' separates failover URLs, so a ';' in a password must be URL-encoded as %3B"
        )
    for index, part in enumerate(parts, 1):
        where = f" (failover entry {index} of {count})" if count > 1 else ""
        if not part.raw:
            raise BrokerURLError(f"invalid broker URL{where}: {part.problem}")
        if part.problem is not None:
            raise BrokerURLError(f"invalid broker URL {_shown(part)}{where}: {part.problem}")
    return url


#: Schemes of RabbitMQ's management HTTP API.
MANAGEMENT_SCHEMES: frozenset[str] = frozenset({"http", "https"})


def validate_management_url(url: str) -> str:
    """Return ``url`` if it can be RabbitMQ's management API, else raise :class:`BrokerURLError`
    (never quoting the password): ``http(s)://[user:password@]host[:port][/path]``, parsed
    by the same parser as broker URLs, so masking and checking agree on where the password is."""
    expected = "expected http(s)://user:password@host:15672"
    if not isinstance(url, str) or not url.strip():
        raise BrokerURLError(f"the management API URL is empty ({expected})")
    part = _parse_part(url, MANAGEMENT_SCHEMES)
    authority = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0].rpartition("@")[2]
    if url != url.strip():
        part.problem = "leading or trailing whitespace (a stray newline from a file or variable?)"
    elif part.scheme is None:
        part.problem = f"no scheme: {expected}"
    elif part.problem is None and not authority.partition(":")[0]:
        part.fail(f"no host: {expected}")
    elif part.problem is None and "?" in url:
        part.fail(f"a query does not belong here: {expected}[/path]")
    if part.problem is not None:
        raise BrokerURLError(f"invalid management API URL {_shown(part)}: {part.problem}")
    return url


def _variants(secret: str) -> list[str]:
    """The forms in which a secret may show up in other programs' output."""
    forms = [secret]
    for decoded in {unquote(secret), unquote_plus(secret)}:
        forms += [
            decoded,
            quote(decoded, safe=""),
            quote_plus(decoded, safe=""),
            repr(decoded)[1:-1],
            json.dumps(decoded)[1:-1],
            sanitize(decoded),
            sanitize(decoded, multiline=True),
        ]
    # Other code may re-encode with lower-case hex digits.
    forms += [_PCT_RE.sub(lambda m: m.group().lower(), f) for f in forms if "%" in f]
    return forms


def _guess_passwords(url: str) -> list[str]:
    """Best guesses at the secrets of a URL the parser gave up on.

    The user-info password runs from the first ':' after ``scheme://`` to the last '@';
    with no '@' at all (``redis://user:secret``, the host forgotten) it is the text after
    that ':', up to the next '/?#' or up to the end. Query secrets likewise.
    """
    m = _SCHEME_RE.match(url)
    rest = url[m.end() :] if m else url
    at = rest.rfind("@")
    candidates = [rest[:at]] if at != -1 else [re.split(r"[/?#]", rest, maxsplit=1)[0], rest]
    guesses = []
    for userinfo in candidates:
        _, colon, password = userinfo.partition(":")
        if colon and password and not password.isdigit():  # digits alone: a port
            guesses.append(password)
    # Query secrets: the value up to the next '&', and up to the end.
    for key in _QUERY_KEY_RE.finditer(url):
        if _is_secret_key(unquote_plus(key.group(1))):
            value = url[key.end() :]
            guesses += [value.split("&", 1)[0], value]
    return [g for g in guesses if g]


def _rejoin(parts: list[_Part]) -> list[str]:
    groups: list[str] = []
    for part in parts:
        if part.scheme is not None or not groups:
            groups.append(part.raw)
        else:
            groups[-1] += ";" + part.raw
    return groups


def url_secrets(url: str) -> list[str]:
    """Every secret string in ``url``, in every likely spelling, for :class:`Redactor`.

    Best effort, never raises. For parts the parser gave up on it also returns the raw
    part and a guessed password, so the redactor errs on the side of hiding too much.
    """
    found: list[str] = []
    try:
        if not isinstance(url, str) or not url:
            return []
        # A URL read from a file or variable may carry a stray newline or space.
        for candidate in dict.fromkeys((url, url.strip())):
            parts = _parse(candidate)
            for part in parts:
                for secret in part.secrets():
                    found += _variants(secret)
                if not part.confident and part.raw:
                    found.append(part.raw)
                    for guess in _guess_passwords(part.raw):
                        found += _variants(guess)
            if any(not p.confident for p in parts):
                found.append(candidate)
                for guess in _guess_passwords(candidate):
                    found += _variants(guess)
            if _split_looks_broken(parts):
                # Glue each entry without a scheme back onto the one before it: that
                # undoes the split inside a password like "p;ss".
                for joined in _rejoin(parts):
                    rejoined = _parse_part(joined)
                    for secret in rejoined.secrets():
                        found += _variants(secret)
                    for guess in _guess_passwords(joined):
                        found += _variants(guess)
    except Exception:  # pragma: no cover - best effort by contract
        pass
    return list(dict.fromkeys(s for s in found if s))
