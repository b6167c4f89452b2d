"""Control replies as text lines: what ``evtop control`` prints and the TUI shows.

Everything a worker sends back (nodenames, ok and error texts, inspect data) passes
:func:`~evtop.text.sanitize.sanitize`, so a hostile reply cannot drive the terminal.
Nothing here prints: the caller decides where the lines go.
"""

from __future__ import annotations

import json
from typing import Any

from evtop.control.commands import Request
from evtop.control.replies import BroadcastResult, Reply, Status
from evtop.text.sanitize import sanitize

INDENT = "    "


def render(result: BroadcastResult, request: Request) -> list[str]:
    """The text report: one block per reply, the silent workers, then the summary."""
    lines: list[str] = []
    for reply in result.replies:
        lines += _reply_lines(reply)
    lines += [f"{sanitize(node)}: no reply" for node in result.missing]
    if result.duplicates:
        names = ", ".join(sanitize(node) for node in result.duplicates)
        lines.append(f"warning: several replies from {names}: give each worker a unique name (-n)")
    if result.ignored or result.unreadable:
        lines.append(
            f"ignored {result.ignored + result.unreadable} message(s) on the reply queue "
            "that were not a readable reply to this request"
        )
    lines.append(sanitize(result.summary()))
    if request.command.note:
        lines.append(f"note: {request.command.note}")
    return lines


def _reply_lines(reply: Reply) -> list[str]:
    node = sanitize(reply.node)
    if reply.status is not Status.DATA:
        return [f"{node}: {reply.status.value.upper()} {_inline(reply.value)}"]
    value = reply.value
    if value in (None, [], {}):
        return [f"{node}: - empty -"]
    if isinstance(value, list) and all(isinstance(item, (str, int, float)) for item in value):
        return [f"{node}:", *(f"{INDENT}{sanitize(item)}" for item in value)]
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return [f"{node}:", *(f"{INDENT}{line}" for line in sanitize(text, multiline=True).splitlines())]


def _inline(value: Any) -> str:
    return sanitize(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str))
