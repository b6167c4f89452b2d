"""``--pidfile``: one running evtop per file, stale files from dead processes replaced."""

from __future__ import annotations

import errno
import os
from types import TracebackType

from evtop.errors import EvtopError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PidFile:
    """Created exclusively (never following a symlink) and removed on exit if still ours."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pid = os.getpid()

    def _create(self) -> bool:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o644)
        except FileExistsError:
            return False
        except OSError as exc:
            raise EvtopError(f"cannot create pidfile {self.path}: {exc.strerror}") from None
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{self.pid}\n")
        return True

    def acquire(self) -> None:
        if self._create():
            return
        try:
            with open(self.path) as handle:
                other = int(handle.read().strip() or "0")
        except (OSError, ValueError):
            other = 0
        if other > 0 and other != self.pid and _alive(other):
            raise EvtopError(f"pidfile {self.path} is held by running process {other}")
        try:
            os.unlink(self.path)  # stale: its process is gone
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise EvtopError(f"cannot replace stale pidfile {self.path}: {exc.strerror}") from None
        if not self._create():
            raise EvtopError(f"pidfile {self.path} was taken by another process while starting")

    def release(self) -> None:
        try:
            with open(self.path) as handle:
                if handle.read().strip() != str(self.pid):
                    return
            os.unlink(self.path)
        except OSError:
            pass

    def __enter__(self) -> PidFile:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
