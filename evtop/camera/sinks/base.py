"""The sink contract: a small class that opens, writes snapshots and closes.

A sink is named by a URL whose scheme picks the class (``evtop.sinks`` entry points, see
:mod:`evtop.camera.sinks.registry`). The constructor parses and validates the URL and
touches nothing else: a bad URL is a :class:`SinkURLError`, which the command line turns
into one line and exit status 2 before anything starts. Everything that talks to the
outside world happens later, on the sink's own delivery thread
(:mod:`evtop.camera.sinks.delivery`), which calls:

- :meth:`Sink.open` before the first write and again after any failure;
- :meth:`Sink.write` with each snapshot, in order; it must be idempotent (the same
  snapshot may come again after a failure that happened after it was stored);
- :meth:`Sink.cleanup` once at the start and every hour when ``--keep`` is given;
- :meth:`Sink.close` after a failure and at the end; it must not raise.

Any exception from ``open``, ``write`` or ``cleanup`` means "not done, try again later":
the snapshot stays in the sink's spool. A sink never needs to catch anything itself.
"""

from __future__ import annotations

import os
from typing import ClassVar
from urllib.parse import SplitResult, unquote, urlsplit

from evtop.broker.urls import mask_url
from evtop.camera.sinks.snapshot import Snapshot


class SinkURLError(ValueError):
    """A URL the sink cannot use; the message says why in one line, without secrets."""


class Sink:
    """Base class of sinks: override :meth:`write`, and :meth:`open`/:meth:`close` as needed."""

    #: One line for ``evtop --list-sinks``.
    description: ClassVar[str] = ""
    #: A URL that works, shown by ``evtop --list-sinks``.
    example: ClassVar[str] = ""
    #: Modules the sink imports, and the extra of evtop that installs them
    #: (``pip install 'evtop[EXTRA]'``).
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None
    #: The camera reads the broker's queue depths for this sink (on a live broker).
    wants_queues: ClassVar[bool] = False

    def __init__(self, url: str) -> None:
        """Parse and validate ``url``; raise :class:`SinkURLError` when it is unusable."""
        self.url = url
        #: The URL with its password masked: how logs and messages name the sink.
        self.name = mask_url(url)

    def open(self) -> None:
        """Connect, create what is missing (files, tables). Called again after a failure."""

    def write(self, snapshot: Snapshot) -> None:
        """Store ``snapshot``; raise when it was not stored. Must be idempotent."""
        raise NotImplementedError(f"{type(self).__name__} does not write snapshots")

    def cleanup(self, before: float) -> None:
        """Forget what is older than ``before`` (epoch seconds), for ``--keep``."""

    def close(self) -> None:
        """Release connections and files; never raises."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def split_url(url: str, scheme: str) -> SplitResult:
    """``urlsplit(url)``, refusing a scheme other than ``scheme``."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise SinkURLError(f"not a valid URL ({exc})") from None
    if parts.scheme.lower() != scheme:
        raise SinkURLError(f"expected a {scheme}:// URL")
    return parts


def file_path(url: str, scheme: str) -> str:
    """The file a ``scheme:///relative`` or ``scheme:////absolute`` URL names.

    Three slashes and then a relative path, four for an absolute one, as SQLAlchemy's
    ``sqlite:///`` URLs. The file's directory must exist: a typo is a usage error now,
    not a sink that fails to open for as long as evtop runs.
    """
    parts = split_url(url, scheme)
    example = f"{scheme}:///relative/file or {scheme}:////absolute/file"
    if parts.netloc:
        raise SinkURLError(f"a {scheme} URL has no host: write {example}")
    if parts.query or parts.fragment:
        raise SinkURLError(f"a {scheme} URL takes no ?query or #fragment: write {example}")
    path = unquote(parts.path[1:])
    if not path or path.endswith("/"):
        raise SinkURLError(f"no file name: write {example}")
    if "\0" in path:
        raise SinkURLError("the file name holds a NUL character")
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        kind = "an absolute" if path.startswith("/") else "a relative"
        raise SinkURLError(f"directory {directory} does not exist ({kind} path: {example})")
    return path
