"""The one way evtop opens a file it writes (``--record``, ``--logfile``).

Such files hold task arguments and results, so they are created mode 0600 whatever the
umask. Only a regular file is ever written: a planted symlink is refused (``O_NOFOLLOW``)
rather than followed to someone else's file, chmod-ing a device such as ``/dev/null``
would break it for everyone, and a FIFO nobody reads would block evtop before it starts
(it is opened non-blocking, so it fails instead). The check is made on the descriptor
actually opened, so swapping the path between a check and the open gains nothing. A
refusal is a one-line :class:`UsageError` naming the option and why.
"""

from __future__ import annotations

import errno
import os
import stat

from evtop.errors import UsageError
from evtop.text.sanitize import sanitize

_LINK = "is a symbolic link; evtop does not follow links when writing"
_NOT_REGULAR = {stat.S_IFDIR: "is a directory"}
_OPEN_ERRORS = {
    errno.ELOOP: _LINK,
    errno.EISDIR: "is a directory",
    errno.ENOENT: "its directory does not exist",
    errno.ENXIO: "is not a regular file",  # a FIFO or socket with no reader
}


def open_private(path: str, *, option: str) -> int:
    """A descriptor appending to ``path`` (created 0600), or a UsageError for ``option``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise _refused(option, path, _OPEN_ERRORS.get(exc.errno or 0) or exc) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _refused(option, path, _NOT_REGULAR.get(stat.S_IFMT(mode), "is not a regular file"))
        os.set_blocking(fd, True)
        os.fchmod(fd, 0o600)  # a file that already existed keeps no wider mode
    except OSError as exc:
        os.close(fd)
        raise _refused(option, path, exc) from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refused(option: str, path: str, why: str | OSError) -> UsageError:
    if isinstance(why, OSError):
        why = (why.strerror or type(why).__name__).lower()
    return UsageError(f"{option} {sanitize(path)}: {why}")
