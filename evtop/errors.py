"""Exception types and exit statuses, so each layer can fail with a message, not a traceback."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    #: A runtime failure, or (``evtop control``) no worker replied ok.
    ERROR = 1
    #: A bad command line: one line on stderr, nothing started.
    USAGE = 2
    INTERRUPTED = 130


class EvtopError(Exception):
    """An expected failure with a message meant for the user (exit status 1)."""


class UsageError(EvtopError):
    """A bad command-line value or combination: reported in one line, exit status 2."""


def describe_error(exc: BaseException) -> str:
    """One line naming the error; URLs inside it are masked by the log redactor later."""
    text = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
