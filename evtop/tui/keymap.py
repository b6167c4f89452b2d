"""Every key of the TUI, in one table: key handling, the help screen and the man page.

A binding names a command id (kebab-case verb-object), its keys (urwid key names), a
help text and the contexts where it applies. :func:`command_for` is the only way keys
are dispatched, and the ``?`` screen and ``man evtop`` KEYS section are generated from
:data:`KEYMAP`, so a key cannot exist without being documented. Pure data: no urwid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: Contexts. A table screen is "tasks", "workers", "types" or "queues"; TABLE is any of them.
TABLE = frozenset({"tasks", "workers", "types", "queues"})
#: The screens whose rows come from events (a row opens, a worker or type lists its tasks).
EVENT_TABLES = frozenset({"tasks", "workers", "types"})
#: Any pane; "worker-pane" is a worker's detail pane (it has keys of its own).
PANE = frozenset({"pane", "worker-pane"})
CONFIRM = frozenset({"confirm"})
PROMPT = frozenset({"prompt"})
#: A workflow tree: a pane whose lines are tasks, which the control keys act on.
TREE = frozenset({"tree"})
#: Worker actions work on the workers screen and in a worker's pane.
WORKER = frozenset({"workers", "worker-pane"})
#: What a context leads to, for the ``?`` screen: the panes and dialogs opened from it.
REACHABLE: dict[str, frozenset[str]] = {
    "tasks": TREE,
    "workers": frozenset({"worker-pane"}),
    "worker-pane": frozenset({"workers"}),
}
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
    Binding("help", ("?", "f1"), "show this help", "General", TABLE | PANE | TREE, hint="help"),
    Binding("quit", ("q", "Q"), "quit (the terminal is restored)", "General", TABLE, hint="quit"),
    Binding(
        "interrupt",
        ("ctrl c",),
        "quit from anywhere with exit status 130, as an interrupted command",
        "General",
        TABLE | PANE | TREE | MENU | CONFIRM | PROMPT,
    ),
    Binding("show-tasks", ("1",), "task table", "Screens", hint="tasks"),
    Binding("show-workers", ("2",), "worker table", "Screens", hint="workers"),
    Binding("show-types", ("3",), "per-task-type statistics", "Screens", hint="types"),
    Binding(
        "show-queues",
        ("4",),
        "queues: messages ready, unacknowledged, consumers, workers, change per second (from the broker)",
        "Screens",
        hint="queues",
    ),
    Binding("next-screen", ("tab",), "next screen", "Screens"),
    Binding(
        "go-down",
        ("down", "j"),
        "select the next row (panes: scroll a line)",
        "Moving",
        TABLE | PANE | MENU | TREE,
    ),
    Binding(
        "go-up",
        ("up", "k"),
        "select the previous row (panes: scroll back)",
        "Moving",
        TABLE | PANE | MENU | TREE,
    ),
    Binding("page-down", ("page down", "ctrl f"), "one page down", "Moving", TABLE | PANE | MENU | TREE),
    Binding("page-down", (" ",), "one page down (in panes and menus)", "Moving", PANE | MENU),
    Binding("page-up", ("page up", "ctrl b"), "one page up", "Moving", TABLE | PANE | MENU | TREE),
    Binding("go-top", ("home", "g"), "first row", "Moving", TABLE | PANE | MENU | TREE),
    Binding("go-bottom", ("end", "G"), "last row", "Moving", TABLE | PANE | MENU | TREE),
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
    Binding(
        "open",
        ("enter",),
        "tasks: details; workers: the worker's pane (asks it); types: their tasks",
        "Selection",
        EVENT_TABLES,
        hint="open",
    ),
    Binding("info", ("i",), "details of the task; the worker's pane (asks it)", "Selection", EVENT_TABLES),
    Binding(
        "worker-tasks",
        ("t",),
        "the worker's tasks (the task table, filtered)",
        "Selection",
        frozenset({"workers"}),
    ),
    Binding("task-result", ("r",), "result (or exception) of the task", "Selection", frozenset({"tasks"})),
    Binding("task-traceback", ("t",), "traceback of the failed task", "Selection", frozenset({"tasks"})),
    Binding(
        "copy-id",
        ("y",),
        "copy the selected task's uuid (worker's, type's name) to the clipboard (OSC 52)",
        "Selection",
    ),
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
    Binding(
        "worker-pool-grow", ("+",), "add a pool process to the worker (asks first)", "Workers", WORKER, "grow"
    ),
    Binding(
        "worker-pool-shrink",
        ("-",),
        "stop an idle pool process of the worker (asks first)",
        "Workers",
        WORKER,
    ),
    Binding(
        "worker-autoscale",
        ("a",),
        "set the worker's autoscale range, MAX,MIN (asks first; for --autoscale workers)",
        "Workers",
        WORKER,
    ),
    Binding(
        "worker-add-consumer", ("o",), "make the worker consume a queue too (asks first)", "Workers", WORKER
    ),
    Binding(
        "worker-cancel-consumer",
        ("O",),
        "make the worker stop consuming a queue (asks first)",
        "Workers",
        WORKER,
    ),
    Binding(
        "worker-enable-events", ("e",), "make the worker send task events (asks first)", "Workers", WORKER
    ),
    Binding(
        "worker-disable-events",
        ("E",),
        "make the worker stop sending task events (asks first)",
        "Workers",
        WORKER,
    ),
    Binding(
        "worker-shutdown",
        ("D",),
        "shut the worker down, warm (asks for its name or the word shutdown)",
        "Workers",
        WORKER,
        hint="shutdown",
    ),
    Binding(
        "worker-refresh",
        ("R",),
        "ask the worker again (stats, tasks, queues)",
        "Workers",
        frozenset({"worker-pane"}),
        hint="refresh",
    ),
    Binding("pane-close", ("esc", "q", "enter"), "close the pane", "Panes", PANE | TREE, hint="close"),
    Binding("menu-pick", ("enter",), "pick the entry", "Panes", MENU, hint="pick"),
    Binding("menu-close", ("esc", "q", "f6"), "close the menu", "Panes", MENU, hint="close"),
    Binding("confirm-yes", ("y", "Y"), "confirm", "Dialogs", CONFIRM, hint="yes"),
    Binding(
        "confirm-terminate",
        ("x",),
        "revoking running tasks: terminate them instead (asks for the word)",
        "Dialogs",
        CONFIRM,
    ),
    Binding(
        "confirm-no", ("n", "N", "esc", "q"), "cancel (so does any other key)", "Dialogs", CONFIRM, hint="no"
    ),
    Binding("prompt-accept", ("enter",), "accept the text", "Dialogs", PROMPT, hint="accept"),
    Binding("prompt-cancel", ("esc",), "cancel", "Dialogs", PROMPT, hint="cancel"),
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


def _hinted(context: str | None) -> list[Binding]:
    return [b for b in KEYMAP if b.hint and (context is None or context in b.contexts)]


def hints(context: str | None = None) -> str:
    """``?:help q:quit 1:tasks ...`` from the bindings marked as hints that work in
    ``context`` (all of them without one)."""
    return HINT_GAP.join(f"{key_label(b.keys[0])}:{b.hint}" for b in _hinted(context))


def hint_at(col: int, width: int, context: str | None = None) -> Binding | None:
    """The binding whose hint is drawn at column ``col`` of the hint line (a click there
    presses its key, as in htop's function bar), if one is and it is not cut off."""
    start = 0
    for binding in _hinted(context):
        end = start + len(f"{key_label(binding.keys[0])}:{binding.hint}")
        if start <= col < min(end, width):
            return binding
        start = end + len(HINT_GAP)
    return None


def help_lines(context: str | None = None) -> list[str]:
    """The ``?`` screen: the bindings that work in ``context`` and in the panes and
    dialogs it opens (every binding without one), grouped by category, in table order."""
    wanted = None
    if context is not None:
        wanted = {context, *REACHABLE.get(context, ()), *CONFIRM, *PROMPT}
        if context in TABLE:
            wanted |= {"pane", *MENU}
    shown = bindings(wanted)
    lines: list[str] = []
    width = max(len(keys_label(b)) for b in shown)
    category = None
    for binding in shown:
        if binding.category != category:
            category = binding.category
            lines += ["", category] if lines else [category]
        lines.append(f"  {keys_label(binding):<{width}}  {binding.help}")
    return lines
