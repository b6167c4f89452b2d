"""Events and recordings the dump, TUI and camera tests share, and the hostile strings.

Synthetic events in the shape :class:`~evtop.events.pipeline.Ingest` hands on (normalised,
with ``local_received``), so a test can write a ``--replay`` file without a broker.
"""

from __future__ import annotations

import unicodedata

from evtop.record.schema import event_line

T0 = 1795418542.0


def task_event(type_, uuid, received, clock, **fields):
    return {
        "type": type_,
        "hostname": "celery@h",
        "uuid": uuid,
        "timestamp": received - 0.01,
        "utcoffset": 0,
        "pid": 7,
        "clock": clock,
        "local_received": received,
        **fields,
    }


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
