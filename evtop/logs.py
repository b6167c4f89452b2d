"""Logging set-up: every log line is sanitized and has broker secrets redacted.

Log records can carry strings from the event stream (hostnames, task names, kombu's own
warnings quote raw payloads) and exception texts that may embed a broker URL. Rather than
trusting every call site, the one formatter evtop installs passes the final text through
the sanitizer and the redactor, so third-party log lines are covered too.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from evtop.files import open_private
from evtop.text.redact import Redactor
from evtop.text.sanitize import sanitize

LOG_FORMAT = "[%(asctime)s: %(levelname)s/%(name)s] %(message)s"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FATAL")


class SafeFormatter(logging.Formatter):
    """Formats normally, then neutralises control characters and masks secrets."""

    def __init__(self, redactor: Redactor, fmt: str = LOG_FORMAT) -> None:
        super().__init__(fmt)
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return sanitize(self.redactor.redact(super().format(record)), multiline=True)


def setup_logging(level: str, logfile: str | None, redactor: Redactor, stream: Any) -> None:
    """Route all logging (evtop's, kombu's, redis-py's) through one safe handler."""
    if logfile:
        fd = open_private(logfile, option="--logfile")
        log = os.fdopen(fd, "a", encoding="utf-8", errors="backslashreplace", buffering=1)
        handler: logging.Handler = logging.StreamHandler(log)
    else:
        handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter(redactor))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.CRITICAL if level.upper() == "FATAL" else getattr(logging, level.upper()))


class RateLimitedLogger:
    """At most one record per key per ``interval`` seconds, then a count of what was skipped.

    A flood of poison events must not become a flood of log lines (which is itself a
    denial of service on the terminal or the disk).
    """

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self.logger = logger
        self.interval = interval
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def warning(self, key: str, msg: str, *args: Any, exc_info: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._skipped[key] = self._skipped.get(key, 0) + 1
                return
            self._last[key] = now
            skipped = self._skipped.pop(key, 0)
        if skipped:
            msg = f"{msg} ({skipped} similar messages suppressed)"
        self.logger.warning(msg, *args, exc_info=exc_info and self.logger.isEnabledFor(logging.DEBUG))
