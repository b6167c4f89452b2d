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
CONFIRM = frozenset({"confirm"})
PROMPT = frozenset({"prompt"})
#: A list to pick from (the sort menu).
MENU = frozenset({"menu"})


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
    Binding("help", ("?", "f1"), "show this help", "General", TABLE | PANE, hint="help"),
    Binding("quit", ("q", "Q", "ctrl c"), "quit (the terminal is restored)", "General", TABLE, hint="quit"),
    Binding("show-tasks", ("1",), "task table", "Screens", hint="tasks"),
    Binding("show-workers", ("2",), "worker table", "Screens", hint="workers"),
    Binding("show-types", ("3",), "per-task-type statistics", "Screens", hint="types"),
    Binding("next-screen", ("tab",), "next screen", "Screens"),
    Binding(
        "go-down", ("down", "j"), "select the next row (panes: scroll a line)", "Moving", TABLE | PANE | MENU
    ),
    Binding(
        "go-up", ("up", "k"), "select the previous row (panes: scroll back)", "Moving", TABLE | PANE | MENU
    ),
    Binding("page-down", ("page down", "ctrl f", " "), "one page down", "Moving", TABLE | PANE | MENU),
    Binding("page-up", ("page up", "ctrl b"), "one page up", "Moving", TABLE | PANE | MENU),
    Binding("go-top", ("home", "g"), "first row", "Moving", TABLE | PANE | MENU),
    Binding("go-bottom", ("end", "G"), "last row", "Moving", TABLE | PANE | MENU),
    Binding(
        "filter-set",
        ("/",),
        "filter rows as you type: words, field:value, field:a,b, !negation (Enter keeps, Esc restores)",
        "View",
        hint="filter",
    ),
    Binding("filter-clear", ("esc",), "clear the filter", "View"),
    Binding(
        "search",
        ("f3", "#"),
        "search: the selection jumps to the first match as you type (a uuid prefix finds its task)",
        "View",
    ),
    Binding("search-next", ("n",), "next match of the search, without filtering", "View"),
    Binding("search-previous", ("N",), "previous match of the search", "View"),
    Binding("sort-menu", ("f6",), "choose the sort column from a menu", "View", hint="sort"),
    Binding("sort-right", (">", "s"), "sort by the column to the right", "View"),
    Binding("sort-left", ("<",), "sort by the column to the left", "View"),
    Binding(
        "sort-reverse", ("S",), "reverse the sort order (text sorts A to Z first, numbers highest)", "View"
    ),
    Binding("pause", ("p",), "pause or resume the display (events are still counted)", "View"),
    Binding("open", ("enter",), "tasks: details; workers, types: their tasks", "Selection", hint="open"),
    Binding("info", ("i",), "details of the task or worker", "Selection"),
    Binding("task-result", ("r",), "result (or exception) of the task", "Selection", frozenset({"tasks"})),
    Binding("task-traceback", ("t",), "traceback of the failed task", "Selection", frozenset({"tasks"})),
    Binding(
        "copy-id",
        ("y",),
        "copy the selected task's uuid (worker's, type's name) to the clipboard (OSC 52)",
        "Selection",
    ),
    Binding(
        "task-revoke", ("c",), "revoke the task (asks first)", "Control", frozenset({"tasks"}), hint="revoke"
    ),
    Binding(
        "task-terminate",
        ("x",),
        "terminate the running task: SIGTERM (asks for the word terminate)",
        "Control",
        frozenset({"tasks"}),
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
    Binding("pane-close", ("esc", "q", "enter"), "close the pane", "Panes", PANE),
    Binding("menu-pick", ("enter",), "pick the entry", "Panes", MENU),
    Binding("menu-close", ("esc", "q", "f6"), "close the menu", "Panes", MENU),
    Binding("confirm-yes", ("y", "Y"), "confirm", "Dialogs", CONFIRM),
    Binding("confirm-no", ("n", "N", "esc", "q"), "cancel (so does any key but y)", "Dialogs", CONFIRM),
    Binding("prompt-accept", ("enter",), "accept the text", "Dialogs", PROMPT),
    Binding("prompt-cancel", ("esc",), "cancel", "Dialogs", PROMPT),
)

#: What the mouse does (it presses the keys above), for the help screen and the man page.
MOUSE_HELP = (
    "Mouse (off with --no-mouse; Shift+drag still selects text)",
    "  click a row           select it",
    "  click a screen tab    show that screen (the tabs are on the view line)",
    "  click a column title  sort by it; again: the other way",
    "  click a key hint      press that key (the bottom line)",
    "  wheel                 move the selection; in a pane, scroll",
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
    "f3": "F3",
    "f6": "F6",
    " ": "Space",
}


def key_label(key: str) -> str:
    """How a key is written for people: ``PgDn``, ``^F``, ``Space``."""
    if key.startswith("ctrl "):
        return "^" + key[5:].upper()
    return _NAMES.get(key, key)


def keys_label(binding: Binding) -> str:
    return ", ".join(key_label(key) for key in binding.keys)


#: Between two key hints.
HINT_GAP = "  "


def hints() -> str:
    """``?:help q:quit 1:tasks ...`` from the bindings marked as hints."""
    return HINT_GAP.join(f"{key_label(b.keys[0])}:{b.hint}" for b in KEYMAP if b.hint)


def hint_at(col: int, width: int) -> Binding | None:
    """The binding whose hint is drawn at column ``col`` of the hint line (a click there
    presses its key, as in htop's function bar), if one is and it is not cut off."""
    start = 0
    for binding in KEYMAP:
        if binding.hint:
            end = start + len(f"{key_label(binding.keys[0])}:{binding.hint}")
            if start <= col < min(end, width):
                return binding
            start = end + len(HINT_GAP)
    return None


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
