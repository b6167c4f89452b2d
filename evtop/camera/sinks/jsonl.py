"""``jsonl:///path``: one snapshot per line, appended to a file (``jq`` reads it).

The file is created mode 0600 and never through a symbolic link (it holds task arguments
and results). Each line is ASCII JSON (:mod:`evtop.text.jsonline`), so even a file read
with ``cat`` shows nothing a terminal would act on. When the path stops naming the file
evtop holds open (logrotate moved or deleted it), the next write reopens it, creating a
new file. A write that fails half-way (a full disk) is cut back off the file, so a
retried snapshot never leaves a broken line behind. Delivery is at least once: a reader
that must count each snapshot once keys lines by ``(run, id)``.
"""

from __future__ import annotations

import contextlib
import os

from evtop.camera.sinks.base import Sink, file_path
from evtop.camera.sinks.snapshot import Snapshot
from evtop.files import open_private
from evtop.text.jsonline import dumps


class JSONLinesSink(Sink):
    description = "JSON lines file: one snapshot per line (mode 0600; reopened after log rotation)"
    example = "jsonl:///snapshots.jsonl"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.path = file_path(url, "jsonl")
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None

    def open(self) -> None:
        fd = open_private(self.path, option="--sink")
        info = os.fstat(fd)
        self._fd, self._identity = fd, (info.st_dev, info.st_ino)

    def write(self, snapshot: Snapshot) -> None:
        if self._fd is None or self._moved():
            self.close()
            self.open()
        assert self._fd is not None
        data = (dumps(snapshot.as_dict()) + "\n").encode("ascii")
        size = os.fstat(self._fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, size)
            raise

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _moved(self) -> bool:
        """True when the path no longer names the open file (rotated, deleted)."""
        try:
            info = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return True
        return (info.st_dev, info.st_ino) != self._identity
