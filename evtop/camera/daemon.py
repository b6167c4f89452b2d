"""``--detach``: run the camera as a daemon, and tell the foreground whether it started.

The classic double fork: a new session without a controlling terminal, and a daemon that
is not a session leader, so it can never acquire one. stdin reads /dev/null; stdout and
stderr append to the ``--logfile`` (which ``--detach`` requires: with no terminal, it is
the only place a camera's errors can go). The working directory stays the one evtop was
started in, as with celery's detached cameras, so relative paths in camera code and the
import of the camera's module keep working. The umask is kept, except that it always
masks group and other write permission (celery's detached default umask is 0).

Unlike celery, the foreground waits until the daemon holds its ``--pidfile`` and has
installed the camera, and fails with the daemon's own one-line error (exit status 2 or
1) when it could not: a camera that failed to start is never reported as running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable

from evtop.errors import EvtopError, ExitStatus, UsageError, describe_error

logger = logging.getLogger(__name__)

#: ``run(ready)`` runs the camera in the daemon; it calls ``ready()`` once it is running.
Runner = Callable[[Callable[[], None]], int]


def detach(run: Runner, log_fd: int) -> int:
    """Start ``run`` in a daemon; in the foreground, the daemon's pid once it is ready.

    Raises the daemon's UsageError or EvtopError when it failed to start. Never returns
    in the daemon, which exits with ``run``'s status.
    """
    read_end, write_end = os.pipe()
    child = os.fork()
    if child:
        os.close(write_end)
        report = _read_all(read_end)
        os.waitpid(child, 0)
        return _outcome(report)
    status: int = ExitStatus.ERROR
    try:
        os.close(read_end)
        os.setsid()
        if os.fork():
            os._exit(0)
        _daemonize(log_fd)
        status = _serve(run, write_end)
    finally:
        _flush()
        os._exit(status)


def _read_all(fd: int) -> str:
    chunks = []
    with os.fdopen(fd, "rb") as stream:
        while chunk := stream.read(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def _outcome(report: str) -> int:
    """The daemon's report: ``ready PID`` or ``fail STATUS MESSAGE``."""
    word, _, rest = report.strip().partition(" ")
    if word == "ready" and rest.isdigit():
        return int(rest)
    if word == "fail":
        status, _, message = rest.partition(" ")
        if status == str(int(ExitStatus.USAGE)):
            raise UsageError(message)
        raise EvtopError(message)
    raise EvtopError("the detached camera exited before it started; see its --logfile")


def _daemonize(log_fd: int) -> None:
    old = os.umask(0o022)
    os.umask(old | 0o022)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    _flush()
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)


def _serve(run: Runner, report_fd: int) -> int:
    """Run the camera; report the start (or the failure to start) on ``report_fd``."""
    reported = False

    def ready() -> None:
        nonlocal reported
        _report(report_fd, f"ready {os.getpid()}")
        reported = True

    try:
        return int(run(ready))
    except UsageError as exc:
        status, message = int(ExitStatus.USAGE), str(exc)
    except EvtopError as exc:
        status, message = ExitStatus.ERROR, str(exc)
    except KeyboardInterrupt:
        return ExitStatus.INTERRUPTED
    except Exception as exc:
        logger.debug("internal error", exc_info=True)
        status, message = ExitStatus.ERROR, f"internal error: {describe_error(exc)}"
    if reported:
        logger.error("%s", message)
    else:
        _report(report_fd, f"fail {int(status)} {message}")
    return status


def _report(fd: int, line: str) -> None:
    try:
        os.write(fd, line.encode("utf-8", "replace") + b"\n")
    finally:
        os.close(fd)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    for handler in logging.getLogger().handlers:
        handler.flush()
