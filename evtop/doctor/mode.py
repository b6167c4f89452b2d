"""``evtop doctor``: listen for a while (or read a recording), then say what is wrong.

The report answers the questions asked first in an incident: is the broker reachable, do
events arrive (and if not, why probably not), which workers are there and are they
online, are their clocks right, did evtop miss events or lose tasks. Exit status 0 when
nothing is wrong, 1 when something is, 2 on a bad command line, 130 on Ctrl-C.
"""

from __future__ import annotations

import threading
import time

from evtop.doctor.findings import Findings, examine
from evtop.env import Environment
from evtop.errors import EvtopError, ExitStatus
from evtop.events.process.source import ProcessReceiver
from evtop.options import Options, Source
from evtop.runner import Ending, Liveness, event_stream, new_state, run_source
from evtop.text.jsonline import dumps
from evtop.zones import Zone


def run_doctor(options: Options, env: Environment) -> int:
    replay = options.source is Source.REPLAY
    liveness = Liveness(options)
    state = new_state(options, liveness)
    stop = threading.Event()
    with event_stream(options, state.event, liveness=liveness) as (ingest, source):
        status = source.status
        where = status.snapshot().url
        reader = None  # a recording is read, not a broker
        if replay:
            _say(env, f"reading {where}")
        else:
            reader = "process" if isinstance(source, ProcessReceiver) else "thread"
            _say(env, f"listening to {where} for {options.listen:g} s (--reader {reader})")
        timer = None if replay else threading.Timer(options.listen, stop.set)
        began = time.monotonic()
        if timer is not None:
            timer.daemon = True
            timer.start()
        failure = None
        try:
            ending = run_source(source, stop)
        except EvtopError as exc:  # e.g. a recording cut short: report what it held, and that
            ending, failure = Ending.ENDED, str(exc)
        finally:
            if timer is not None:
                timer.cancel()
    listened = time.monotonic() - began
    if ending is Ending.INTERRUPTED:
        return ExitStatus.INTERRUPTED
    found = examine(
        status.snapshot(), ingest.stats, ingest.health, state, listened=listened, replay=replay, reader=reader
    )
    if failure is not None:
        found.hints.insert(0, failure)
    if options.json:
        env.stdout.write(dumps(found.to_json()) + "\n")
    else:
        # A recording's times are of then: "s ago" against today's clock would be wrong.
        lines = report(found, None if replay else time.time(), options.shown_zone(env.environ))
        env.stdout.write("".join(f"{line}\n" for line in lines))
    env.stdout.flush()
    return ExitStatus.OK if found.healthy else ExitStatus.ERROR


def _say(env: Environment, message: str) -> None:
    env.stderr.write(f"evtop doctor: {message}\n")
    env.stderr.flush()


def _ago(then: float, now: float | None, zone: Zone) -> str:
    seconds = None if now is None else max(0.0, now - then)
    if seconds is not None and seconds < 120:
        return f"{seconds:.1f} s ago"
    return f"{zone.at(then).strftime('%Y-%m-%d %H:%M:%S')} {zone.name}"


def report(found: Findings, now: float | None, zone: Zone) -> list[str]:
    """The text report, times in ``zone`` (named with each); recent ones as "s ago" from
    ``now``, all as times of day when None (a recording). Every string in ``found`` is
    already sanitized."""
    how = "" if found.reader is None else f", --reader {found.reader}"
    lines = [f"broker:   {found.url} ({'reached' if found.reached else 'NOT reached'}{how})"]
    dropped = sum(found.dropped.values())
    lines.append(f"events:   {found.received} received, {found.applied} applied, {dropped} dropped")
    online = sum(worker.online for worker in found.workers)
    lines.append(f"workers:  {len(found.workers)} ({online} online)")
    width = max((len(worker.hostname) for worker in found.workers), default=0)
    for worker in found.workers:
        skew = "skew ?" if worker.clock_skew is None else f"skew {worker.clock_skew:+.2f} s"
        lines.append(
            f"  {worker.hostname:<{width}}  {'online ' if worker.online else 'OFFLINE'}  "
            f"heard {_ago(worker.last_heard, now, zone)}  {skew}  {worker.events_per_second:.1f} events/s  "
            f"missed {worker.missed_tasks}"
        )
    lines.append(f"lost:     {found.lost_count} tasks")
    lines += [f"  {uuid}" for uuid in found.lost_tasks[:20]]
    if found.lost_count > 20:
        lines.append(f"  ... and {found.lost_count - 20} more (--json lists them)")
    lines.append(f"outages:  {len(found.outages)}")
    if found.hints:
        lines.append(f"{len(found.hints)} problem(s):")
        lines += [f"  - {hint}" for hint in found.hints]
    else:
        lines.append("no problems found")
    return lines
