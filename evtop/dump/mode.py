"""``evtop --dump``: every event as one line on stdout, and nothing else there.

stdout carries data only (celery's text lines, or schema-v1 JSON records with
``--json``), so it can be piped, grepped and parsed. Everything about the stream itself
goes to stderr: a banner, reconnections (connection errors are logged by the receiver),
dropped events and lines, all rate-limited, and a summary at the end.

Exit status 0 when the replayed file ends (after stdout is flushed, however long that
takes), on Ctrl-C/SIGTERM (after at most :data:`GRACE` seconds of flushing), and when
the reader of stdout goes away (``evtop --dump | head -1``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from collections.abc import Callable, Mapping

from evtop.broker.urls import url_secrets
from evtop.dump.format import STYLES, TextFormatter
from evtop.env import Environment
from evtop.errors import ExitStatus
from evtop.events.pipeline import Event
from evtop.linewriter import LineWriter, stream_sink
from evtop.options import Options
from evtop.record.recorder import outage_markers
from evtop.record.replay import ReplaySource
from evtop.record.schema import event_line
from evtop.report import Reporter
from evtop.runner import Ending, event_stream, run_source, stop_on_signals
from evtop.text.sanitize import sanitize
from evtop.zones import Zone

logger = logging.getLogger(__name__)

#: Seconds stdout may take to drain after Ctrl-C; a reader that stopped reading gets no more.
GRACE = 2.0


def terminal_styles(env: Environment) -> Mapping[str, Callable[[str], str]]:
    """blessed formatters per event type when stdout is a colour terminal, else none.

    evtop decides what a terminal is (a TTY whose ``TERM`` is not dumb) and asks blessed
    only for the sequences, through a throwaway stream: given the real stdout, blessed
    would query the terminal, and the replies would arrive on stdin.
    """
    kind = env.environ.get("TERM", "")
    if not env.stdout_isatty or kind in ("", "dumb"):
        return {}
    from blessed import Terminal

    term = Terminal(kind=kind, stream=io.StringIO(), force_styling=True)
    if term.number_of_colors < 8:
        return {}
    return {type_: getattr(term, style) for type_, style in STYLES.items()}


def text_renderer(
    styles: Mapping[str, Callable[[str], str]], zone: Zone | None = None
) -> Callable[[Event], str]:
    """Event → dump line, with the event kind coloured by ``styles`` when there are any,
    the time in ``zone`` when one is given."""
    return TextFormatter(styles=styles, zone=zone).line


def _say(env: Environment, message: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # a stderr that went away cannot be told
        env.stderr.write(f"evtop: {sanitize(message)}\n")
        env.stderr.flush()


def _finish(writer: LineWriter, ended: bool) -> None:
    """Flush stdout: completely after the end of a file, within :data:`GRACE` otherwise."""
    abort = threading.Event()
    with stop_on_signals(abort):
        try:
            done = writer.close(None if ended else GRACE, abort)
        except KeyboardInterrupt:
            done = False
    losses = writer.losses(done)
    if losses and not writer.broken:
        reasons = ", ".join(f"{n} {reason}" for reason, n in losses.items())
        logger.warning("%d lines were not written to stdout (%s)", sum(losses.values()), reasons)


def run_dump(options: Options, env: Environment) -> int:
    stop = threading.Event()
    writer = LineWriter(stream_sink(env.stdout), label="stdout", on_broken=stop.set)
    if options.json:
        render: Callable[[Event], str] = event_line
    else:
        render = text_renderer(terminal_styles(env) if options.color else {}, options.zone)

    lines: list[str] = []
    collect = lines.append

    def dump(event: Event) -> None:
        collect(render(event))

    def hand_over() -> None:  # a message's lines in one lock round
        if lines:
            writer.put_many(lines)
            lines.clear()

    ending = Ending.STOPPED
    try:
        with event_stream(options, dump, hand_over) as (ingest, source):
            status = source.status
            reporter = Reporter.following(
                ingest, status, replay=isinstance(source, ReplaySource), zone=options.shown_zone(env.environ)
            )
            if options.json:
                status.subscribe(outage_markers(writer.put, url_secrets(options.broker.url)))
            _say(env, f"dumping events from {status.snapshot().url} (Ctrl-C to stop)")
            with reporter.running():
                ending = run_source(source, stop)
    finally:
        _finish(writer, ending is Ending.ENDED)
    if isinstance(source, ReplaySource) and not writer.broken:
        _say(env, source.summary())
    return ExitStatus.INTERRUPTED if ending is Ending.INTERRUPTED else ExitStatus.OK
