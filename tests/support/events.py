"""The one event builder of the test suite, shared recordings, and the hostile strings.

:func:`task_event` and :func:`worker_event` build events the way a Celery sender does
(:func:`evtop.broker.dispatch.event_body`, also what ``--demo`` sends), plus the
``local_received`` that :class:`~evtop.events.pipeline.Ingest` adds: the shape the
State, the dump formatter and a ``--replay`` file take. :func:`wire` strips that again
for a test that publishes to a real broker.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from evtop.broker.dispatch import event_body
from evtop.record.schema import event_line, outage_line

T0 = 1795418542.0
HOST = "celery@h"
#: Seconds between a sender's timestamp and the receiver's clock, unless a test says.
LATENCY = 0.01
#: What a worker of the test suite reports about itself.
WORKER_INFO = {
    "freq": 2.0,
    "active": 0,
    "processed": 0,
    "loadavg": [0.1, 0.2, 0.3],
    "sw_ident": "py-celery",
    "sw_ver": "5.6.3",
    "sw_sys": "Linux",
}


def task_event(
    type_: str,
    uuid: str,
    received: float | None = None,
    clock: int = 1,
    *,
    hostname: str = HOST,
    sent: float | None = None,
    pid: int = 7,
    **fields: Any,
) -> dict[str, Any]:
    """A task event received at ``received`` (default ``T0 + clock``), sent ``LATENCY`` before."""
    received = T0 + clock if received is None else received
    sent = received - LATENCY if sent is None else sent
    body = event_body(type_, hostname, clock=clock, timestamp=sent, pid=pid, utcoffset=0, uuid=uuid, **fields)
    return {**body, "local_received": received}


def worker_event(
    type_: str,
    hostname: str = HOST,
    received: float | None = None,
    clock: int = 1,
    *,
    sent: float | None = None,
    pid: int = 7,
    **fields: Any,
) -> dict[str, Any]:
    """A ``worker-*`` event with :data:`WORKER_INFO` (``fields`` override or add to it)."""
    received = T0 + clock if received is None else received
    sent = received - LATENCY if sent is None else sent
    info = {**WORKER_INFO, **fields}
    body = event_body(type_, hostname, clock=clock, timestamp=sent, pid=pid, utcoffset=0, **info)
    return {**body, "local_received": received}


def wire(event: dict[str, Any]) -> dict[str, Any]:
    """What the sender put on the wire: the event without the receiver's ``local_received``."""
    return {key: value for key, value in event.items() if key != "local_received"}


def lifecycle(n=1, start=0):
    events = []
    for i in range(start, start + n):
        uuid = f"00000000-0000-4000-8000-{i:012d}"
        events += [
            task_event("task-received", uuid, T0 + i, 3 * i + 1, name="proj.add", args="(1, 2)", kwargs="{}"),
            task_event("task-started", uuid, T0 + i + 0.1, 3 * i + 2),
            task_event("task-succeeded", uuid, T0 + i + 0.2, 3 * i + 3, result="3", runtime=0.1),
        ]
    return events


def write_recording(path, events, *extra_lines):
    path.write_text("".join(f"{line}\n" for line in [*map(event_line, events), *extra_lines]))
    return str(path)


def hostile_events():
    events = []
    for i, text in enumerate(HOSTILE):
        uuid = f"hostile-{i}"
        short = text[:200]
        events += [
            task_event("task-received", uuid, T0 + i, 1, name=short, args=text, kwargs=text, hostname=short),
            task_event("task-failed", uuid, T0 + i, 2, exception=text, traceback=text, hostname=short),
            task_event("task-succeeded", uuid, T0 + i, 3, result=text, **{"custom_field": text}),
        ]
    return events


def assert_terminal_safe(text: str) -> None:
    """Nothing a terminal acts on: no control, format, surrogate or line-separator character."""
    for ch in text:
        assert unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp"), repr(ch)


#: Strings a publisher controls that a terminal would act on.
HOSTILE = [
    "\x1b[2J\x1b[H",  # clear screen, cursor home
    "\x1b[31mred\x1b[8mhidden",
    "\x1b[?1049h",  # alternate screen
    "\x1b]0;pwned\x07",  # OSC title ended by BEL
    "\x1b]2;pwned\x1b\\",  # ... by ST
    "\x1b]52;c;ZXZpbA==\x07",  # clipboard write
    "\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\",  # hyperlink
    "\x1bP+q544e\x1b\\",  # DCS
    "\x9b2J\x9d0;c1 title\x9c",  # C1 CSI / OSC / ST
    "over\rwrite" + "\b" * 20,
    "nul\x00del\x7ftab\tvt\x0b",
    "line1\nline2\r\nline3",
    "\u202eevil\u2066\u200b\ufeff\u2028\u2029",
    "e" + "\u0301" * 500,
    "lone \ud800 surrogate \udfff",
]


#: The workers of :func:`fading_workers`: heartbeating to the end, silent since T0 + 6,
#: and said goodbye at T0 + 10.
BUSY, QUIET, GONE = "celery@busy", "celery@quiet", "celery@gone"


def fading_workers() -> list[dict[str, Any]]:
    """Twenty seconds of heartbeats (every 2 s, so alive for 4 s after each), in receive
    order: at the end, as the recording's own time judges, one worker is alive."""
    events = []
    for i in range(11):
        at = T0 + 2 * i
        events.append(worker_event("worker-heartbeat", BUSY, at, 100 + i))
        if at <= T0 + 6:
            events.append(worker_event("worker-heartbeat", QUIET, at, 200 + i))
        if at < T0 + 10:
            events.append(worker_event("worker-heartbeat", GONE, at, 300 + i))
    events.append(worker_event("worker-offline", GONE, T0 + 10, 320))
    return sorted(events, key=lambda event: event["local_received"])


#: What the stderr reporter says of :func:`gap_across_an_outage`'s gap with ``--tz Asia/Kolkata``.
GAP_IN_KOLKATA = (
    "celery@h: about 18 s of its events were missed (its own clock shows nothing heard from"
    " 12:52:25 to 12:52:43 Asia/Kolkata)"
)


def gap_across_an_outage(path):
    """A recording at ``path``: heartbeats every 2 s stamped to T0 + 3.99 (07:22:25 UTC),
    an outage, then heartbeats from T0 + 21.99 (07:22:43): 18 s of the worker's own clock
    missed across the reconnect."""
    beats = [worker_event("worker-heartbeat", HOST, T0 + at, at) for at in (0, 2, 4, 22, 24)]
    lines = [event_line(event) for event in beats]
    lines.insert(3, outage_line(T0 + 5, T0 + 20, "ConnectionError: refused"))
    path.write_text("".join(f"{line}\n" for line in lines))
    return str(path)
