"""Which class handles which sink URL: the ``evtop.sinks`` entry-point group.

A sink is a plugin: a distribution declares ``scheme = module:Class`` in the
``evtop.sinks`` group, and ``evtop --sink scheme://...`` uses it. evtop's own sinks are
declared the same way in its ``setup.cfg``. When evtop runs from a source tree, or from
an install whose metadata predates a built-in sink, the metadata does not list it, so
the built-ins missing from the metadata are taken from :data:`BUILTINS` (a test keeps
it equal to ``setup.cfg``).

Nothing is imported until a scheme is asked for, and a plugin that fails to import is
an error about that plugin only: one line for ``--sink``, one row in ``--list-sinks``.
"""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from evtop.camera.sinks.base import Sink, SinkURLError
from evtop.errors import describe_error

GROUP = "evtop.sinks"
#: evtop's own sinks, as declared in setup.cfg's ``evtop.sinks`` entry points.
BUILTINS: dict[str, str] = {
    "jsonl": "evtop.camera.sinks.jsonl:JSONLinesSink",
    "postgresql": "evtop.camera.sinks.postgres:PostgreSQLSink",
    "prometheus": "evtop.camera.sinks.prometheus:PrometheusSink",
    "sqlite": "evtop.camera.sinks.sqlite:SQLiteSink",
}


@dataclass(frozen=True)
class Listing:
    """One row of ``evtop --list-sinks``."""

    scheme: str
    target: str
    description: str
    example: str
    #: None when usable; else why not (a missing extra, a plugin that fails to load).
    problem: str | None


class Registry:
    """The sink classes by URL scheme, from entry points (injectable for tests)."""

    def __init__(self, points: Iterable[EntryPoint] | None = None) -> None:
        found = entry_points(group=GROUP) if points is None else points
        self._targets: dict[str, list[str]] = {}
        for point in found:
            targets = self._targets.setdefault(point.name.lower(), [])
            if point.value not in targets:  # a stale egg-info next to a fresh one: the same
                targets.append(point.value)
        for scheme, target in BUILTINS.items():
            self._targets.setdefault(scheme, [target])

    @property
    def schemes(self) -> list[str]:
        return sorted(self._targets)

    def named(self, text: str) -> str | None:
        """The sink scheme ``text`` begins with (``jsonl:``, with or without ``//``), if any;
        never for ``module:Class``, a camera class."""
        scheme, colon, rest = text.partition(":")
        known = colon and scheme.lower() in self._targets and not rest.isidentifier()
        return scheme if known else None

    def load(self, scheme: str) -> type[Sink]:
        """The class for ``scheme``; SinkURLError saying what is wrong otherwise."""
        targets = self._targets.get(scheme.lower())
        if targets is None:
            close = difflib.get_close_matches(scheme.lower(), self.schemes, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise SinkURLError(f"no sink for {scheme}:// (installed: {', '.join(self.schemes)}){hint}")
        if len(targets) > 1:
            raise SinkURLError(f"{scheme}:// is claimed by more than one plugin ({', '.join(targets)})")
        try:
            found = EntryPoint(name=scheme, value=targets[0], group=GROUP).load()
        except Exception as exc:
            why = describe_error(exc)
            raise SinkURLError(f"the {scheme} sink {targets[0]} cannot be loaded ({why})") from None
        if not (isinstance(found, type) and issubclass(found, Sink)):
            raise SinkURLError(f"{targets[0]} is not a sink (a subclass of evtop.camera.sinks.base.Sink)")
        return found

    def create(self, url: str) -> Sink:
        """The sink for ``url``, its URL parsed and checked; nothing is opened yet."""
        scheme, sep, _ = url.partition("://")
        if not sep or not scheme:
            named = self.named(url)
            if named is not None:  # jsonl:/tmp/x, as a path is often written
                raise SinkURLError(f"{named}: needs // after the scheme, e.g. {self.load(named).example}")
            raise SinkURLError("expected SCHEME://... (see evtop --list-sinks)")
        sink_class = self.load(scheme)
        problem = _missing(sink_class)
        if problem:
            raise SinkURLError(problem)
        return sink_class(url)

    def listing(self) -> list[Listing]:
        rows = []
        for scheme in self.schemes:
            target = " | ".join(self._targets[scheme])
            try:
                sink_class = self.load(scheme)
            except SinkURLError as exc:
                rows.append(Listing(scheme, target, "", "", str(exc)))
                continue
            rows.append(
                Listing(scheme, target, sink_class.description, sink_class.example, _missing(sink_class))
            )
        return rows


def _missing(sink_class: type[Sink]) -> str | None:
    """What the sink needs and lacks, and how to install it; None when nothing is missing."""
    missing = [name for name in sink_class.requires if not _importable(name)]
    if not missing:
        return None
    extra = f": pip install 'evtop[{sink_class.extra}]'" if sink_class.extra else ""
    return f"needs {', '.join(missing)}{extra}"


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that fails, or a blocked module
        return False


def render_listing(rows: list[Listing]) -> str:
    """The text of ``evtop --list-sinks``: scheme, whether usable, description, example."""
    lines = []
    width = max((len(row.scheme) for row in rows), default=0)
    for row in rows:
        status = "ready" if row.problem is None else row.problem
        lines.append(f"{row.scheme:<{width}}  {row.description or row.target}")
        lines.append(f"{'':<{width}}  {status}" + (f"; e.g. {row.example}" if row.example else ""))
    return "\n".join(lines) + "\n"
