"""Broker URL validation and masking: a password never shows, however the URL is written.

The invariant under test: no output derived from a broker URL (masked URL, validation
error, redacted text) ever contains the password, in any spelling, whatever the URL
looks like, and URLs that kombu accepts stay readable.
"""

from __future__ import annotations

import string
import threading
from urllib.parse import quote

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from evtop.broker.urls import (
    SUPPORTED_SCHEMES,
    BrokerURLError,
    mask_url,
    url_secrets,
    validate_broker_url,
    validate_management_url,
)
from evtop.errors import UsageError
from evtop.text.redact import Redactor

VALID = [
    "redis://",
    "amqp://",
    "memory://",
    "redis://localhost:6379/0",
    "amqp://guest:guest@127.0.0.1:5672//",
    "redis://[::1]:6379/0",
    "redis://:pw@h1;redis://:pw@h2",
    "sentinel://:pw@h:26379;sentinel://:pw@h2:26379",
    "rediss://h/0?password=pw",
    "pyamqp://user:s3cr%23t@rabbit:5671/vhost",
    "amqps://u:p%40ss@h//",
    "REDIS://h:1/0",
    "rediss://h:6380/0?ssl_cert_reqs=required&ssl_keyfile=/etc/k.pem",
    "redis://user@h",
    "redis://[fe80::1%25eth0]:6379",
    "redis://h:65535",
]


@pytest.mark.parametrize("url", VALID)
def test_valid_urls_are_returned_unchanged(url: str) -> None:
    assert validate_broker_url(url) is url


def test_supported_schemes() -> None:
    assert {"amqp", "amqps", "pyamqp", "redis", "rediss", "sentinel", "memory"} == SUPPORTED_SCHEMES


# (url, fragments the message must contain, secret that must not appear)
INVALID = [
    ("foo://x", ["unsupported scheme 'foo'", "amqp, amqps, memory, pyamqp, redis, rediss, sentinel"], None),
    ("reddis://h", ["unsupported scheme 'reddis'", "did you mean 'redis'?"], None),
    ("amqpp://h", ["did you mean 'amqp"], None),
    ("redis://h:99999", ["port 99999 is out of range", "1-65535"], None),
    ("redis://h:0", ["out of range"], None),
    ("redis://h:123456789012345678901234567890", ["out of range"], None),
    ("redis://h:abc", ["port is not a number", "redis://***"], "abc"),
    ("redis://user:secretpw", ["redis://***"], "secretpw"),
    ("redis://h:", ["empty port"], None),
    ("amqp://u:p#ss@h//", ["'#'", "%23", "amqp://***"], "p#ss"),
    ("amqp://u:p@ss@h//", ["'@'", "%40", "amqp://***"], "p@ss"),
    ("amqp://u:p/ss@h//", ["'/'", "%2F", "amqp://***"], "p/ss"),
    ("amqp://u:p?ss@h//", ["'?'", "%3F", "amqp://***"], "p?ss"),
    ("amqp://u:p/s#s@h//", ["'#' as %23", "'/' as %2F"], "p/s#s"),
    ("amqp://u:1234?ss@h//", ["'?'", "%3F"], "1234?ss"),
    ("amqp://u:p;ss@h//", ["%3B", "entry 2 of 2", "amqp://***;***"], "p;ss"),
    ("amqp://h//#frag", ["%23"], None),
    ("", ["empty"], None),
    ("   ", ["empty"], None),
    ("localhost:6379", ["no scheme"], None),
    ("redis://:pw@h\n", ["whitespace", "redis://:**@h"], "pw"),
    ("redis://:p w@h", ["whitespace", "%20"], "p w"),
    ("redis://:p%zz@h", ["%25", "redis://:**@h"], "p%zz"),
    ("redis://h1;", ["entry 2 of 2", "empty entry"], None),
    ("redis://:pw1@h1;foo://:pw2@h2", ["entry 2 of 2", "unsupported scheme 'foo'", "foo://:**@h2"], "pw2"),
    ("redis://[::1", ["IPv6"], None),
    ("redis://[nothex]:6379", ["not an IPv6 address"], None),
    ("redis://::1:6379", ["IPv6 addresses go in [brackets]"], None),
    ("redis://h]:1", ["stray"], None),
    ("redis://u:pw@h:pw2", ["port is not a number", "redis://***"], "pw2"),
    ("rediss://h/0?password=p&ss", ["%26", "rediss://***"], "p&ss"),
    ("rediss://h/0?password=p&0=ss", ["%26", "rediss://***"], "p&0=ss"),
    ("rediss://h/0?password=p@ss", ["'@'", "%40", "rediss://***"], "p@ss"),
]


@pytest.mark.parametrize(("url", "fragments", "secret"), INVALID, ids=[repr(c[0]) for c in INVALID])
def test_invalid_urls_are_rejected_with_a_one_line_message(
    url: str, fragments: list[str], secret: str | None
) -> None:
    with pytest.raises(BrokerURLError) as info:
        validate_broker_url(url)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    if secret is not None:
        assert secret not in message
        assert quote(secret, safe="") not in message
    # Raised without a chained exception that could carry urllib's message.
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_broker_url_error_is_a_usage_error_and_a_value_error() -> None:
    with pytest.raises(UsageError):
        validate_broker_url("foo://x")
    with pytest.raises(ValueError):
        validate_broker_url("foo://x")


def test_non_string_url_is_rejected() -> None:
    with pytest.raises(BrokerURLError, match="must be a string"):
        validate_broker_url(None)  # type: ignore[arg-type]


# --- masking ------------------------------------------------------------------------------

MASKED = [
    ("amqp://guest:guest@localhost:5672//", "amqp://guest:**@localhost:5672//"),
    ("redis://:pw@h", "redis://:**@h"),
    ("redis://user@h", "redis://user@h"),
    ("redis://user:@h", "redis://user:@h"),
    ("redis://u:p%40ss@h:6379/0", "redis://u:**@h:6379/0"),
    ("redis://u:p%3Ass%2F@h", "redis://u:**@h"),
    ("amqp://u:pa:ss@h//", "amqp://u:**@h//"),
    ("rediss://h/0?password=pw", "rediss://h/0?password=**"),
    ("rediss://h/0?PassWord=pw&db=1", "rediss://h/0?PassWord=**&db=1"),
    ("rediss://h/0?ssl_cert_reqs=none&password=a%26b", "rediss://h/0?ssl_cert_reqs=none&password=**"),
    ("redis://h/0?sentinel_password=x&password=", "redis://h/0?sentinel_password=**&password="),
    ("redis://u:p@h/0?password=q", "redis://u:**@h/0?password=**"),
    ("redis://:pw@h1;redis://:pw@h2", "redis://:**@h1;redis://:**@h2"),
    (
        "sentinel://:pw@h:26379;sentinel://:pw@h2:26379",
        "sentinel://:**@h:26379;sentinel://:**@h2:26379",
    ),
    ("redis://[::1]:6379/0", "redis://[::1]:6379/0"),
    ("redis://localhost:6379/0", "redis://localhost:6379/0"),
    ("memory://", "memory://"),
    ("", ""),
    # Fail closed.
    ("amqp://u:p#ss@h//", "amqp://***"),
    ("amqp://u:p@ss@h//", "amqp://***"),
    ("amqp://u:p/ss@h//", "amqp://***"),
    ("amqp://u:1234?ss@h//", "amqp://***"),
    ("amqp://u:p;ss@h//", "amqp://***;***"),
    ("amqp://u:1234;5@h//", "amqp://***;***"),
    ("redis://user:secret", "redis://***"),
    ("user:pw@host", "***"),
    ("redis://:pw@h;oops", "redis://***;***"),
    ("redis://u:pw@h:pw", "redis://***"),
    ("rediss://h/0?password=p&ss", "rediss://***"),
]


@pytest.mark.parametrize(("url", "expected"), MASKED)
def test_mask_url(url: str, expected: str) -> None:
    assert mask_url(url) == expected


def test_mask_url_never_raises() -> None:
    for junk in [None, 42, b"redis://:pw@h", "://", ":", "@", "[", "redis://[", "redis://@", ";;;", "\x00"]:
        assert isinstance(mask_url(junk), str)  # type: ignore[arg-type]
    assert mask_url(None) == "***"  # type: ignore[arg-type]


# --- secrets and the redactor ---------------------------------------------------------------


def test_url_secrets_lists_every_spelling() -> None:
    secrets = url_secrets("redis://u:p%40ss@h/0?password=q%2Bx")
    for form in ["p%40ss", "p@ss", "q%2Bx", "q+x", "q%2bx"]:
        assert form in secrets
    assert "" not in secrets
    assert url_secrets("redis://localhost:6379/0") == []
    assert url_secrets("redis://user@h") == []
    assert url_secrets(None) == []  # type: ignore[arg-type]


def test_url_secrets_for_unparseable_urls_err_towards_hiding() -> None:
    secrets = url_secrets("amqp://u:p#ss@h//")
    assert "p#ss" in secrets and "amqp://u:p#ss@h//" in secrets
    assert "p;ss" in url_secrets("amqp://u:p;ss@h//")
    assert "secret" in url_secrets("redis://user:secret")
    assert "pw" in url_secrets(" redis://:pw@h\n")


def test_redactor_masks_every_occurrence_longest_first() -> None:
    redactor = Redactor(["pw", "pw-long", ""])
    assert repr(redactor) == "<Redactor: 2 secrets>"
    assert Redactor()  # never falsy, even when empty
    assert redactor.redact("a pw-long b pw c pwpw") == "a ** b ** c ****"
    assert redactor.redact("nothing here") == "nothing here"


def test_redactor_masks_short_secrets_but_not_the_empty_string() -> None:
    redactor = Redactor()
    assert redactor.redact("text") == "text"
    redactor.add("")
    assert redactor.redact("text") == "text"
    redactor.add("x")
    assert redactor.redact("a x b") == "a ** b"


def test_redactor_with_regex_metacharacters() -> None:
    redactor = Redactor(["p.*s$[x]"])
    assert redactor.redact("pass p.*s$[x] end") == "pass ** end"


def test_redactor_masks_a_url_inside_an_exception_message() -> None:
    url = "amqp://admin:S3cr%40t@rabbit:5672//"
    redactor = Redactor(url_secrets(url))
    message = f"Cannot connect to {url}: [Errno 111]; kombu said amqp://admin:S3cr@t@rabbit; repr='S3cr@t'"
    out = redactor.redact(message)
    assert "S3cr" not in out
    assert "admin" in out and "rabbit" in out


def test_redactor_is_thread_safe() -> None:
    redactor = Redactor(["seed"])
    secrets = [f"secret-{i:03d}" for i in range(200)]
    text = " ".join(secrets) + " seed"
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(300):
                out = redactor.redact(text)
                assert "seed" not in out
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def writer() -> None:
        for s in secrets:
            redactor.add(s)

    threads = [threading.Thread(target=reader) for _ in range(4)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert redactor.redact(text) == " ".join(["**"] * 201)


# --- properties -----------------------------------------------------------------------------

# Printable ASCII, including every character that is special in a URL, plus some Unicode.
password_chars = st.sampled_from([*string.printable.strip(), " ", "é", "東", "\u202e"])
passwords = st.text(password_chars, min_size=1, max_size=24)

PREFIX, SUFFIX = "redis://user:", "@safehost:6379/0"
MASKED_SKELETON = f"{PREFIX}**{SUFFIX}"


@given(passwords)
@example("*@")  # in the masked URL "user:**@safehost", made by the mask and the URL's "@"
def test_percent_encoded_passwords_are_always_masked(password: str) -> None:
    encoded = quote(password, safe="")
    url = f"{PREFIX}{encoded}{SUFFIX}"
    assert validate_broker_url(url) == url
    masked = mask_url(url)
    assert masked == MASKED_SKELETON
    if password not in MASKED_SKELETON:
        assert password not in masked
    if encoded not in MASKED_SKELETON:
        assert encoded not in masked
    # And the redactor built from the URL removes it from arbitrary text.
    redactor = Redactor(url_secrets(url))
    out = redactor.redact(f"error connecting with {password} / {encoded} / {url}")
    # A password the masked text itself holds (``*@``: the mask and the URL's ``@``) proves nothing.
    assume(password not in f"error connecting with ** / ** / {MASKED_SKELETON}")
    assert password not in out


# Wrapped in characters that appear nowhere else, so any echo of the start or the end of
# the password is detectable, whatever the password and the message text look like.
OPEN, CLOSE = "«", "»"


TEMPLATES = ["amqp://user:{}@host:5672//", "redis://:{}@host:6379/0", "sentinel://:{}@h1;sentinel://:x{}@h2"]


@given(passwords, st.sampled_from(TEMPLATES))
def test_raw_passwords_never_leak(core: str, template: str) -> None:
    password = f"{OPEN}{core}{CLOSE}"
    url = template.format(password, password)
    masked = mask_url(url)
    assert OPEN not in masked and CLOSE not in masked
    try:
        validate_broker_url(url)
    except BrokerURLError as exc:
        message = str(exc)
        assert OPEN not in message and CLOSE not in message
        assert "\n" not in message
    else:
        # Accepted URLs are masked readably, not just as scheme://***.
        assert "***" not in masked
    out = Redactor(url_secrets(url)).redact(f"kombu: {url} failed ({password})")
    assert OPEN not in out and CLOSE not in out


@given(st.text(max_size=60))
def test_mask_and_validate_never_raise_anything_else(url: str) -> None:
    assert isinstance(mask_url(url), str)
    assert isinstance(url_secrets(url), list)
    try:
        validate_broker_url(url)
    except BrokerURLError as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize(
    "url",
    ["http://guest:guest@rabbit:15672", "https://rabbit", "http://u:p%40ss@[::1]:15672/rabbitmq/"],
)
def test_management_urls_are_returned_unchanged(url: str) -> None:
    assert validate_management_url(url) == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "is empty"),
        ("amqp://u:s3cret@rabbit:15672", "unsupported scheme 'amqp' (supported: http, https)"),
        ("u:s3cret@rabbit:15672", "no scheme: expected http(s)://"),
        ("http://u:s3cret@:15672", "no host"),
        ("http://u:s3cret@rabbit:156720", "port 156720 is out of range"),
        ("http://u:s3c/ret@rabbit:15672", "URL-encode '/' as %2F"),
        ("http://u:s3cret@rabbit:15672?x=1", "a query does not belong here"),
        ("http://u:s3cret@rabbit:15672\n", "leading or trailing whitespace"),
    ],
)
def test_bad_management_urls_are_refused_without_their_password(url: str, problem: str) -> None:
    with pytest.raises(BrokerURLError) as caught:
        validate_management_url(url)
    message = str(caught.value)
    assert problem in message and "\n" not in message
    assert "s3cret" not in message and "s3c" not in message
