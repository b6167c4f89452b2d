"""Every key of the TUI, in one table: key handling, the help screen and the man page.

A binding names a command id (kebab-case verb-object), its keys (urwid key names), a
help text and the contexts where it applies. :func:`command_for` is the only way keys
are dispatched, and the ``?`` screen and ``man evtop`` KEYS section are generated from
:data:`KEYMAP`, so a key cannot exist without being documented. Pure data: no urwid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: Contexts. A table screen is "tasks", "workers" or "types"; "table" means any of them.
TABLE = frozenset({"tasks", "workers", "types"})
PANE = frozenset({"pane"})
#: A workflow tree: a pane whose lines are tasks, which the control keys act on.
TREE = frozenset({"tree"})
CONFIRM = frozenset({"confirm"})
PROMPT = frozenset({"prompt"})


@dataclass(frozen=True)
class Binding:
    command: str
    keys: tuple[str, ...]
    help: str
    category: str
    contexts: frozenset[str] = TABLE
    #: Short label in the one-line key hints at the bottom of the screen ("" = not listed).
    hint: str = ""


KEYMAP: tuple[Binding, ...] = (
    Binding("help", ("?", "f1"), "show this help", "General", TABLE | PANE | TREE, hint="help"),
    Binding("quit", ("q", "Q", "ctrl c"), "quit (the terminal is restored)", "General", TABLE, hint="quit"),
    Binding("show-tasks", ("1",), "task table", "Screens", hint="tasks"),
    Binding("show-workers", ("2",), "worker table", "Screens", hint="workers"),
    Binding("show-types", ("3",), "per-task-type statistics", "Screens", hint="types"),
    Binding("next-screen", ("tab",), "next screen", "Screens"),
    Binding("go-down", ("down", "j"), "select the next row", "Moving", TABLE | PANE | TREE),
    Binding("go-up", ("up", "k"), "select the previous row", "Moving", TABLE | PANE | TREE),
    Binding("page-down", ("page down", "ctrl f"), "one page down", "Moving", TABLE | PANE | TREE),
    Binding("page-up", ("page up", "ctrl b"), "one page up", "Moving", TABLE | PANE | TREE),
    Binding("go-top", ("home", "g"), "first row", "Moving", TABLE | PANE | TREE),
    Binding("go-bottom", ("end", "G"), "last row", "Moving", TABLE | PANE | TREE),
    Binding("filter-set", ("/",), "filter rows: words, field:value, !negation", "View", hint="filter"),
    Binding("filter-clear", ("esc",), "clear the filter", "View"),
    Binding("sort-next", ("s",), "sort by the next column", "View", hint="sort"),
    Binding("sort-reverse", ("S",), "reverse the sort order", "View"),
    Binding("pause", ("p",), "pause or resume the display (events are still counted)", "View"),
    Binding("open", ("enter",), "tasks: details; workers, types: their tasks", "Selection", hint="open"),
    Binding("info", ("i",), "details of the task or worker", "Selection"),
    Binding("task-result", ("r",), "result (or exception) of the task", "Selection", frozenset({"tasks"})),
    Binding("task-traceback", ("t",), "traceback of the failed task", "Selection", frozenset({"tasks"})),
    Binding(
        "task-tree",
        ("w",),
        "workflow tree of the task: root, parents, children, a count per state",
        "Selection",
        frozenset({"tasks"}),
    ),
    Binding("tag-toggle", (" ",), "tag or untag the task, then go down", "Tags", frozenset({"tasks"})),
    Binding("tag-shown", ("*",), "tag every task the filter shows", "Tags", frozenset({"tasks"})),
    Binding("tag-clear", ("u",), "untag all tasks", "Tags", frozenset({"tasks"})),
    Binding(
        "task-revoke",
        ("c",),
        "revoke the task, else the tagged tasks, in a tree the subtree (asks first)",
        "Control",
        frozenset({"tasks"}) | TREE,
        hint="revoke",
    ),
    Binding(
        "task-terminate",
        ("x",),
        "terminate (SIGTERM) the running task, else the tagged ones, in a tree the subtree (type terminate)",
        "Control",
        frozenset({"tasks"}) | TREE,
    ),
    Binding(
        "task-rate-limit",
        ("l",),
        "set the task type's rate limit, e.g. 10/m (asks first)",
        "Control",
        frozenset({"tasks", "types"}),
    ),
    Binding(
        "task-time-limit",
        ("L",),
        "set the task type's soft and hard time limits (asks first)",
        "Control",
        frozenset({"tasks", "types"}),
    ),
    Binding("pane-close", ("esc", "q", "enter"), "close the pane", "Panes", PANE | TREE),
    Binding("confirm-yes", ("y", "Y"), "confirm", "Dialogs", CONFIRM),
    Binding(
        "confirm-terminate",
        ("x",),
        "revoking running tasks: terminate them instead (asks for the word)",
        "Dialogs",
        CONFIRM,
    ),
    Binding("confirm-no", ("n", "N", "esc", "q"), "cancel (so does any other key)", "Dialogs", CONFIRM),
    Binding("prompt-accept", ("enter",), "accept the text", "Dialogs", PROMPT),
    Binding("prompt-cancel", ("esc",), "cancel", "Dialogs", PROMPT),
)

_INDEX: dict[tuple[str, str], str] = {
    (context, key): binding.command
    for binding in KEYMAP
    for context in binding.contexts
    for key in binding.keys
}


def command_for(context: str, key: str) -> str | None:
    """The command ``key`` runs in ``context``, or ``None``."""
    return _INDEX.get((context, key))


def bindings(contexts: Iterable[str] | None = None) -> list[Binding]:
    wanted = set(contexts) if contexts is not None else None
    return [b for b in KEYMAP if wanted is None or b.contexts & wanted]


_NAMES = {
    "page down": "PgDn",
    "page up": "PgUp",
    "enter": "Enter",
    "esc": "Esc",
    "tab": "Tab",
    "home": "Home",
    "end": "End",
    "up": "Up",
    "down": "Down",
    "f1": "F1",
    " ": "Space",
}


def key_label(key: str) -> str:
    """How a key is written for people: ``PgDn``, ``^F``, ``Space``."""
    if key.startswith("ctrl "):
        return "^" + key[5:].upper()
    return _NAMES.get(key, key)


def keys_label(binding: Binding) -> str:
    return ", ".join(key_label(key) for key in binding.keys)


def hints() -> str:
    """``?:help q:quit 1:tasks ...`` from the bindings marked as hints."""
    return "  ".join(f"{key_label(b.keys[0])}:{b.hint}" for b in KEYMAP if b.hint)


def help_lines() -> list[str]:
    """The ``?`` screen: every binding, grouped by category, in table order."""
    lines: list[str] = []
    width = max(len(keys_label(b)) for b in KEYMAP)
    category = None
    for binding in KEYMAP:
        if binding.category != category:
            category = binding.category
            lines += ["", category] if lines else [category]
        lines.append(f"  {keys_label(binding):<{width}}  {binding.help}")
    return lines
