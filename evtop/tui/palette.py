"""Semantic style names → colours. Views name meaning (``state.failure``); this decides looks.

Each entry also has a monochrome rendering, used with ``NO_COLOR``/``--no-color`` and on
terminals without colour, so a failed task stands out even then.
"""

from __future__ import annotations

#: (name, foreground, background, monochrome)
PALETTE: list[tuple[str, str, str, str]] = [
    ("header", "white,bold", "dark blue", "standout"),
    ("header.dim", "light gray", "dark blue", "standout"),
    ("header.alert", "yellow,bold", "dark blue", "standout,bold"),
    ("header.tab", "black,bold", "light cyan", "bold"),
    ("columns", "black", "light gray", "underline"),
    ("footer", "black", "light gray", "standout"),
    ("message", "yellow", "default", "bold"),
    ("message.error", "light red,bold", "default", "bold"),
    ("row.selected", "black", "light cyan", "standout"),
    ("state.success", "light green", "default", ""),
    ("state.failure", "light red,bold", "default", "bold"),
    ("state.retry", "light red", "default", "bold"),
    ("state.revoked", "light magenta", "default", "underline"),
    ("state.started", "yellow", "default", "bold"),
    ("state.waiting", "light gray", "default", ""),
    ("state.lost", "light red,bold", "default", "bold,underline"),
    ("state.custom", "light cyan", "default", "bold"),
    ("row.tagged", "yellow,bold", "default", "bold,underline"),
    ("worker.online", "light green", "default", ""),
    ("worker.offline", "dark red", "default", "underline"),
    ("worker.missed", "light red,bold", "default", "bold"),
    ("queue.stuck", "light red,bold", "default", "bold"),
    ("queue.growing", "yellow", "default", "underline"),
    ("pane.title", "white,bold", "dark blue", "standout"),
    ("pane.label", "light cyan", "default", "bold"),
    ("dialog", "black", "light gray", "standout"),
    ("dialog.edit", "black", "white", "underline"),
]

STYLE_NAMES = tuple(entry[0] for entry in PALETTE)
