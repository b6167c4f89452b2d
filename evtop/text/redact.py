"""Masking known secrets in any text: the last line of defence for broker passwords.

:func:`evtop.broker.urls.url_secrets` says what the secrets are; a :class:`Redactor`
holding them is applied to every log line and every error message, so even a
third-party exception that embeds the broker URL is masked. It lives apart from the URL
code because logging, recording and the command line all need it, below the broker layer.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

#: What replaces a secret, as in kombu's ``as_uri()``: ``amqp://guest:**@localhost:5672//``.
MASK = "**"


class Redactor:
    """Replaces every known secret in a text with ``**``: the last line of defence.

    Used by the logging filter and the top-level error handler, so that even a
    third-party exception message that embeds the broker URL is masked. Secrets are
    matched longest first, so a secret that contains another is masked whole. Any
    non-empty string is a secret, a one-letter password included (masking too much is
    the safe failure). ``redact`` may be called from many threads while ``add`` runs.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self.update(secrets)

    def add(self, secret: str) -> None:
        """Mask ``secret`` from now on. The empty string is ignored."""
        self.update((secret,))

    def update(self, secrets: Iterable[str]) -> None:
        """Mask all of ``secrets`` from now on (one recompile for the lot)."""
        new = {s for s in secrets if isinstance(s, str) and s}
        with self._lock:
            if new <= self._secrets:
                return
            merged = self._secrets | new
            ordered = sorted(merged, key=lambda s: (-len(s), s))
            pattern = re.compile("|".join(map(re.escape, ordered)))
            # Readers take one reference to a compiled, immutable pattern: no lock needed.
            self._pattern = pattern
            self._secrets = merged

    def redact(self, text: str) -> str:
        """Return ``text`` with every occurrence of every secret replaced by ``**``."""
        pattern = self._pattern
        if not isinstance(text, str):
            text = str(text)
        if pattern is None:
            return text
        return pattern.sub(MASK, text)

    def __repr__(self) -> str:
        # Deliberately no __len__: an empty Redactor must not be falsy, or "redactor or
        # Redactor()" would swap a shared, still-filling instance for a private one.
        return f"<Redactor: {len(self._secrets)} secrets>"
