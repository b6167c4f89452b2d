"""One function per command id of the keymap: what a key does, apart from drawing.

Dispatch is this dict, not an if-chain; a test checks that every table command of
:data:`~evtop.tui.keymap.KEYMAP` has an entry here and every entry a binding.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable, Iterable, Sequence, Sized
from dataclasses import dataclass
from typing import Any, cast

import urwid

from evtop.control.arguments import is_zero_rate
from evtop.control.commands import Request, build_request
from evtop.control.render import render as render_replies
from evtop.events import states
from evtop.events.health import running
from evtop.text.sanitize import sanitize
from evtop.tui.app import CHROME_ROWS, App
from evtop.tui.control_runner import Outcome
from evtop.tui.dialogs import Layer, ScrollBox, menu, pane, prompt, question, typed_question
from evtop.tui.keymap import MOUSE_HELP, help_lines
from evtop.tui.treepane import TreePane
from evtop.view import details
from evtop.view.query import FILTER_HELP, Query, parse
from evtop.view.sheet import sort_choices, sort_title
from evtop.view.tasks import TaskItem
from evtop.view.tasktypes import TypeItem
from evtop.view.tree import counts_text, workflow
from evtop.view.viewstate import Screen, ViewState
from evtop.view.workerpane import INQUIRIES, Answer, WorkerDetail
from evtop.view.workers import WorkerItem

Action = Callable[[App], None]


# -- moving ---------------------------------------------------------------------------------


def _move(app: App, delta: int | None = None, *, to: int | None = None) -> None:
    listbox = app.active_listbox
    if isinstance(listbox, ScrollBox):  # a pane scrolls its text
        listbox.scroll(delta or 0, to=to)
        return
    count = len(cast(Sized, listbox.body))
    if not count:
        return
    end = to is not None and to < 0
    target = listbox.focus_position + (delta or 0) if to is None else count - 1 if end else to
    if (end or target >= count) and listbox is app.listbox and app.table.counting is not None:
        app.whole_table()  # past the filter's first rows: every row it keeps
        count = len(cast(Sized, listbox.body))
        target = count - 1 if end else target
    listbox.focus_position = max(0, min(count - 1, target))
    app.follow_focus()


def _page(app: App) -> int:
    listbox = app.active_listbox
    if isinstance(listbox, ScrollBox):
        return listbox.page()
    return max(app.size[1] - CHROME_ROWS - 1, 1)


ACTIONS: dict[str, Action] = {
    "go-down": lambda app: _move(app, 1),
    "go-up": lambda app: _move(app, -1),
    "page-down": lambda app: _move(app, _page(app)),
    "page-up": lambda app: _move(app, -_page(app)),
    "go-top": lambda app: _move(app, to=0),
    "go-bottom": lambda app: _move(app, to=-1),
}


def action(name: str) -> Callable[[Action], Action]:
    def register(function: Action) -> Action:
        ACTIONS[name] = function
        return function

    return register


# -- general and screens ----------------------------------------------------------------------


@action("help")
def show_help(app: App) -> None:
    open_pane(app, "evtop keys", [*help_lines(app.context), "", *FILTER_HELP, "", *MOUSE_HELP])


@action("quit")
def quit_app(app: App) -> None:
    app.done = True


@action("interrupt")
def interrupt_app(app: App) -> None:
    app.interrupted = app.done = True


def _show(screen: Screen) -> Action:
    def show(app: App) -> None:
        app.view = app.view.show(screen)
        app.show_table()

    return show


ACTIONS.update(
    {
        "show-tasks": _show(Screen.TASKS),
        "show-workers": _show(Screen.WORKERS),
        "show-types": _show(Screen.TYPES),
        "show-queues": _show(Screen.QUEUES),
    }
)


@action("next-screen")
def next_screen(app: App) -> None:
    _show(app.view.next_screen().screen)(app)


# -- view -------------------------------------------------------------------------------------


def live_prompt(
    app: App, caption: str, purpose: str, change: Callable[[str], None], restore: Callable[[], None]
) -> None:
    """A prompt acting as the user types: ``change`` with the text, once per batch of keys
    (:meth:`App.defer`); Enter keeps what it did, Esc ``restore``s what was before.

    It starts empty, as in less and k9s: what it replaces stays in effect until the first
    key, and the first key starts afresh instead of editing it.
    """
    widget, edit = prompt(caption)

    def changed(_edit: Any, _before: str) -> None:
        app.defer(purpose, lambda: change(edit.edit_text))

    urwid.connect_signal(edit, "postchange", changed)

    def accept() -> None:
        app.cancel_deferred(purpose)
        app.pop()
        change(edit.edit_text)

    def cancel() -> None:
        app.cancel_deferred(purpose)
        app.pop()
        restore()

    app.push(Layer("prompt", widget, "footer", {"prompt-accept": accept, "prompt-cancel": cancel}))


@action("filter-set")
def filter_set(app: App) -> None:
    """The table narrows as the filter is typed (k9s, htop); an empty Enter clears it."""
    before, selection = app.view.filter_text, app.view.selection

    def restore() -> None:
        app.view = app.view.select(selection)
        apply_filter(app, before)

    live_prompt(
        app,
        "filter (Enter: keep, Esc: restore, empty: none): ",
        "filter",
        lambda text: apply_filter(app, text),
        restore,
    )


def apply_filter(app: App, text: str, screen: Screen | None = None) -> None:
    app.view = app.view.with_filter(text, screen)
    app.show_table()
    unknown = app.table.query.unknown_fields
    if unknown:
        fields = ", ".join(app.table.sheet.fields)
        app.say(
            f"no field {', '.join(map(sanitize, unknown))} here (fields: {fields}); those words were ignored",
            error=True,
        )


ACTIONS["filter-clear"] = lambda app: apply_filter(app, "")


ACTIONS.update(
    {
        "sort-right": lambda app: _sort(app, app.view.move_sort(1)),
        "sort-left": lambda app: _sort(app, app.view.move_sort(-1)),
        "sort-reverse": lambda app: _sort(app, app.view.reverse_sort()),
    }
)


def _sort(app: App, view: ViewState) -> None:
    app.view = view
    app.show_table()


@action("sort-menu")
def sort_menu(app: App) -> None:
    """htop's F6: the sort columns by title, the current one marked and focused."""
    sheet = app.table.sheet
    choices = sort_choices(sheet)
    order = app.table.order
    arrow = "▼" if order.descending else "▲"
    entries = [f"{sort_title(sheet, c)} {arrow if c == order.column else ''}" for c in choices]
    current = choices.index(order.column) if order.column in choices else 0
    widget, listbox = menu(
        f"Sort {sheet.title} by", entries, current, "Enter: pick; the current one reverses"
    )

    def pick() -> None:
        column = choices[listbox.focus_position]
        app.pop()
        _sort(app, app.view.pick_sort(column))

    app.push(Layer("menu", widget, "body", {"menu-pick": pick, "menu-close": app.pop}, listbox))


@action("pause")
def pause(app: App) -> None:
    app.view = app.view.toggle_pause()
    app.refresh()


# -- search: the selection moves, the rows stay -------------------------------------------------


def find(app: App, query: Query, start: int, step: int) -> int | None:
    """The first row matching ``query`` from ``start`` on in ``step``'s direction, wrapping
    around (every row is looked at once at most)."""
    app.whole_table()
    items, sheet = app.table.items, app.table.sheet
    count = len(items)
    for offset in range(count):
        index = (start + step * offset) % count
        if query.matches(sheet.search(items[index])):
            return index
    return None


def _select(app: App, index: int) -> None:
    """Select row ``index`` (also under the search prompt, which the refresh respects)."""
    app.listbox.focus_position = index
    app.view = app.view.select(app.table.key(index))


def by_id(app: App, text: str) -> tuple[int | None, bool]:
    """The first row on screen whose id (a task's uuid, a worker's or a task type's name)
    starts with ``text``, and whether some task's does, shown or not: a uuid prefix
    finds its task ahead of words that merely contain it."""
    prefix = text.strip().lower()
    if not prefix or any(mark in prefix for mark in " :=!"):
        return None, False
    table = app.table
    if app.view.screen is Screen.TASKS:  # every task held, also those the filter hides
        ids = [uuid for uuid in app.rows.rows if uuid.lower().startswith(prefix)]
    else:
        ids = [key for key in map(table.key, range(len(table.items))) if key.lower().startswith(prefix)]
    shown = [position for position in map(table.index_of, ids) if position is not None]
    return (min(shown) if shown else None), bool(ids)


def _search_query(app: App, text: str) -> Query | None:
    query = parse(text, app.table.sheet.fields)
    if query.unknown_fields:
        fields = ", ".join(app.table.sheet.fields)
        app.say(
            f"no field {', '.join(map(sanitize, query.unknown_fields))} here (fields: {fields})", error=True
        )
        return None
    return query or None


@action("search")
def search(app: App) -> None:
    """F3 (htop) or #: the selection jumps as the term is typed, to the row whose id it
    begins, else to the first match at or after the selection; n and N go on from there."""
    origin = app.listbox.focus_position if len(app.table.items) else 0
    selection = app.view.selection

    def jump(text: str) -> None:
        app.search_text = text
        app.whole_table()
        found, hidden = by_id(app, text)
        if found is None:
            query = _search_query(app, text)
            if query is None or not len(app.table.items):
                return
            found = find(app, query, origin, 1)
        if found is not None:
            _select(app, found)
        elif hidden:
            app.say(f"{sanitize(text)}: that task is hidden by the filter (Esc clears it)", error=True)
        else:
            app.say(f"not found: {sanitize(text)}", error=True)

    def restore() -> None:
        index = app.table.index_of(selection)
        if index is not None:
            _select(app, index)

    live_prompt(app, "search (Enter: keep, Esc: back; then n, N): ", "search", jump, restore)


def _search_on(step: int) -> Action:
    def search_on(app: App) -> None:
        query = _search_query(app, app.search_text) if app.search_text else None
        if not app.search_text:
            app.say("no search yet: F3 or # starts one", error=True)
        if query is None or not len(app.table.items):
            return
        here = app.listbox.focus_position
        found = find(app, query, here + step, step)
        if found is None:
            app.say(f"not found: {sanitize(app.search_text)}", error=True)
            return
        if (found - here) * step <= 0:
            app.say("search wrapped around")
        _select(app, found)

    return search_on


ACTIONS.update({"search-next": _search_on(1), "search-previous": _search_on(-1)})


#: OSC 52: set the clipboard ("c") to base64 data; BEL ends it (xterm, tmux, kitty, iTerm2).
OSC52 = "\x1b]52;c;{}\x07"


@action("copy-id")
def copy_id(app: App) -> None:
    """``y``: the selected row's id to the clipboard through the terminal (OSC 52), which
    works over ssh and in tmux (with ``set-clipboard on``). The sanitized text is copied:
    an id from the event stream must not paste control characters into a shell."""
    if not len(app.table.items):
        app.say("nothing selected", error=True)
        return
    key = sanitize(app.table.key(app.listbox.focus_position))
    if app.terminal is None:
        app.say(f"no terminal to copy through: {key}", error=True)
        return
    app.terminal(OSC52.format(base64.b64encode(key.encode("utf-8")).decode("ascii")))
    app.say(f"copied {key}")


# -- the selection ----------------------------------------------------------------------------


def open_pane(app: App, title: str, lines: list[str]) -> None:
    widget, listbox = pane(title, lines)
    app.push(Layer("pane", widget, "body", {"pane-close": app.pop}, listbox))


def _show_pane(app: App, content: details.Pane) -> None:
    open_pane(app, content.title, content.lines())


@action("info")
def info(app: App) -> None:
    item = app.selected()
    if isinstance(item, TaskItem):
        _show_pane(app, details.task_info(app.state, item.uuid, app.rows.trust, app.shown_at(), app.zone))
    elif isinstance(item, WorkerItem):
        open_worker(app, item.hostname)
    elif isinstance(item, TypeItem):
        drill(app)
    else:
        app.say("nothing selected", error=True)


@action("worker-tasks")
def worker_tasks(app: App) -> None:
    """The worker's tasks: the task table, filtered on it exactly."""
    item = app.selected()
    if isinstance(item, WorkerItem):
        app.view = app.view.show(Screen.TASKS)
        apply_filter(app, f"worker={item.hostname}")
    else:
        app.say("no worker selected", error=True)


@action("open")
def drill(app: App) -> None:
    """Enter: a task's details, a worker's pane; a task type's tasks (an exact filter)."""
    item = app.selected()
    if isinstance(item, TypeItem):
        app.view = app.view.show(Screen.TASKS)
        apply_filter(app, f"name={item.name}")
    else:
        info(app)


def _task(app: App) -> TaskItem | None:
    item = app.selected()
    if not isinstance(item, TaskItem):
        app.say("no task selected", error=True)
        return None
    return item


@action("task-result")
def task_result(app: App) -> None:
    task = _task(app)
    if task is not None:
        _show_pane(app, details.task_result(app.state, task.uuid))


@action("task-traceback")
def task_traceback(app: App) -> None:
    task = _task(app)
    if task is None:
        return
    content = details.task_traceback(app.state, task.uuid)
    if content is None:
        app.say(f"no traceback: the task is {sanitize(task.state)}", error=True)
    else:
        _show_pane(app, content)


# -- remote control ---------------------------------------------------------------------------


def _control_ready(app: App) -> bool:
    if app.read_only:
        app.say("read-only (--read-only): control commands are disabled, nothing is sent", error=True)
        return False
    if app.runner is None:
        app.say(app.no_control, error=True)
        return False
    return True


def _cancelled(app: App, request: Request) -> Callable[[], None]:
    def cancel() -> None:
        app.pop()
        app.say(f"{request.command.cli_name} cancelled: nothing was sent")

    return cancel


def confirm_and_send(
    app: App,
    request: Request,
    text: str,
    destination: Sequence[str] | None = None,
    *,
    instead: Callable[[], None] | None = None,
) -> None:
    """Ask first; only a ``y`` sends, any other key cancels (the question names exactly
    what will happen). ``destination``: the only workers asked (all without one).
    ``instead``: what ``x`` does (terminate rather than revoke)."""

    def yes() -> None:
        app.pop()
        send(app, request, destination)

    def other() -> None:
        app.pop()
        assert instead is not None
        instead()

    cancel = _cancelled(app, request)
    commands = {"confirm-yes": yes, "confirm-no": cancel, "confirm-terminate": cancel}
    if instead is not None:
        commands["confirm-terminate"] = other
    app.push(Layer("confirm", question(text, "y/x/N" if instead else "y/N"), "footer", commands))


def type_to_send(
    app: App, request: Request, text: str, words: Sequence[str], destination: Sequence[str] | None = None
) -> None:
    """Ask for one of ``words`` to be typed: a reflex ``y`` must not kill a process."""
    widget, edit = typed_question(text, words)
    cancel = _cancelled(app, request)

    def accept() -> None:
        if edit.edit_text.strip().lower() in {word.lower() for word in words}:
            app.pop()
            send(app, request, destination)
        else:
            cancel()

    app.push(Layer("prompt", widget, "footer", {"prompt-accept": accept, "prompt-cancel": cancel}))


def send(app: App, request: Request, destination: Sequence[str] | None = None) -> None:
    """Broadcast in the background (to ``destination`` only, if given); the replies open
    a pane when they are in (a command answered by nobody, like shutdown, only says it went)."""
    assert app.runner is not None
    expected = (
        list(destination)
        if destination
        else sorted(str(w.hostname) for w in app.state.workers.data.values() if w.alive) or None
    )
    waiting = "waiting for replies..." if request.replies else "no reply is expected"
    app.say(f"{request.command.cli_name}: sent, {waiting}")
    app.runner.submit(request, expected, lambda outcome: show_outcome(app, outcome), destination)


def show_outcome(app: App, outcome: Outcome) -> None:
    name = outcome.request.command.cli_name
    if outcome.error is not None:
        app.say(f"{name} failed: {sanitize(outcome.error)}", error=True)
        return
    assert outcome.result is not None
    if not outcome.result.reply_wanted:  # nothing to show but that it went: no pane to close
        app.say(f"{name}: {sanitize(outcome.result.summary())}")
        return
    app.say(f"{name}: {sanitize(outcome.result.summary())}", error=not outcome.result.any_ok)
    lines = [_shortened(line) for line in render_replies(outcome.result, outcome.request)]
    open_pane(app, f"Replies to {name}", lines)


#: Characters of a reply line the replies pane shows: a revoke of 100,000 tagged tasks is
#: answered with every id on one line, which would take urwid minutes to wrap.
REPLY_LINE_MAX = 4000


def _shortened(line: str) -> str:
    if len(line) <= REPLY_LINE_MAX:
        return line
    return f"{line[:REPLY_LINE_MAX]}… ({len(line) - REPLY_LINE_MAX:,} more characters)"


@dataclass(frozen=True)
class Targets:
    """Tasks a control key acts on, as the question names them."""

    #: ``task 1f3a... (proj.add, STARTED on celery@w1)`` or ``37 tasks (12 STARTED, 25 PENDING)``.
    subject: str
    ids: list[str]
    #: How many of them are running (started, or in a custom state since): a revoke
    #: does not stop those.
    running: int


def ask_revoke(app: App, targets: Targets) -> None:
    """Revoke, one question. A revoke only keeps workers from starting a task, so when
    some are running the question says so and ``x`` terminates them instead."""
    request = build_request("revoke", task_ids=targets.ids)
    one = len(targets.ids) == 1
    if not targets.running:
        text = f"Revoke {targets.subject}? Workers will not start {'it' if one else 'them'}."
        confirm_and_send(app, request, text)
        return
    if one:
        note = "It is running, and a revoke does not stop a running task: x terminates it instead."
    else:
        note = (
            f"{targets.running} of them are running, and a revoke does not stop a running task:"
            " x terminates them instead."
        )
    confirm_and_send(
        app, request, f"Revoke {targets.subject}? {note}", instead=lambda: ask_terminate(app, targets)
    )


def ask_terminate(app: App, targets: Targets) -> None:
    request = build_request("terminate", task_ids=targets.ids)
    if len(targets.ids) == 1:
        effect = "SIGTERM to the worker process running it, which cannot be undone."
    else:
        effect = (
            "SIGTERM to the worker processes running them (the others are revoked), which cannot be undone."
        )
    type_to_send(app, request, f"Terminate {targets.subject}: {effect}", ("terminate",))


def act_on(app: App, terminate: bool, targets: Targets) -> None:
    (ask_terminate if terminate else ask_revoke)(app, targets)


def many(app: App, tasks: Iterable[tuple[str, str, bool]], terminate: bool, where: str = "") -> None:
    """Act on ``(uuid, state, running)``, leaving out the finished ones (nothing to stop);
    ``where`` follows the count in the question (`` of the subtree of ...``)."""
    pairs = list(tasks)
    unfinished = [task for task in pairs if task[1] not in states.READY_STATES]
    left_out = len(pairs) - len(unfinished)
    if not unfinished:
        verb = "terminate" if terminate else "revoke"
        done = "the task has finished" if len(pairs) == 1 else f"these {len(pairs)} tasks have all finished"
        app.say(f"nothing to {verb}: {done}", error=True)
        return
    counts = Counter(state for _, state, _ in unfinished)
    size = len(unfinished)
    subject = f"{size} task{'s' if size != 1 else ''} ({counts_text(counts)}){where}"
    if left_out:
        subject += f", leaving out {left_out} finished"
    ids = [uuid for uuid, _, _ in unfinished]
    act_on(app, terminate, Targets(subject, ids, sum(runs for _, _, runs in unfinished)))


def _tagged(app: App) -> list[tuple[str, str, bool]]:
    """The tagged tasks still in memory, with their states and whether they run."""

    def read() -> list[tuple[str, str, bool]]:
        data = app.state.tasks.data
        return [(uuid, str(data[uuid].state), running(data[uuid])) for uuid in app.tagged if uuid in data]

    tasks: list[tuple[str, str, bool]] = app.state.freeze_while(read)
    return tasks


def _revoke(terminate: bool) -> Action:
    def revoke(app: App) -> None:
        if app.tagged:
            if _control_ready(app):
                many(app, _tagged(app), terminate)
            return
        task = _task(app)
        if task is None or not _control_ready(app):
            return
        facts = [sanitize(task.name) or "???", sanitize(task.state)]
        if task.worker:
            facts[-1] += f" on {sanitize(task.worker)}"
        subject = f"task {sanitize(task.uuid)} ({', '.join(facts)})"
        act_on(app, terminate, Targets(subject, [task.uuid], int(task.running)))

    return revoke


ACTIONS.update({"task-revoke": _revoke(False), "task-terminate": _revoke(True)})


# -- tags -------------------------------------------------------------------------------------


@action("tag-toggle")
def tag_toggle(app: App) -> None:
    """Space, as in htop: tag or untag the row, then go to the next one."""
    task = _task(app)
    if task is None:
        return
    app.tagged.symmetric_difference_update((task.uuid,))
    _move(app, 1)
    app.show_table()


@action("tag-shown")
def tag_shown(app: App) -> None:
    before = len(app.tagged)
    app.whole_table()
    app.tagged.update(item.uuid for item in app.table.items)
    app.show_table()
    app.say(f"tagged {len(app.tagged) - before} more: c revokes, x terminates the tagged tasks, u untags")


@action("tag-clear")
def tag_clear(app: App) -> None:
    count = len(app.tagged)
    app.tagged.clear()
    app.show_table()
    app.say(f"untagged {count} task{'s' if count != 1 else ''}")


# -- workflow trees ---------------------------------------------------------------------------


@action("task-tree")
def task_tree(app: App) -> None:
    task = _task(app)
    if task is None:
        return
    tree = workflow(app.state, task.uuid)
    if tree is None:
        app.say(details.GONE, error=True)
        return
    shown = TreePane(app.state, tree)

    def subtree(terminate: bool) -> Callable[[], None]:
        def act() -> None:
            if _control_ready(app):
                what, nodes = shown.selected()
                many(app, ((node.uuid, node.state, node.running) for node in nodes), terminate, f" of {what}")

        return act

    commands = {"pane-close": app.pop, "task-revoke": subtree(False), "task-terminate": subtree(True)}
    app.push(Layer("tree", shown.widget, "body", commands, shown.listbox, refresh=shown.refresh))


def _task_name(app: App) -> str | None:
    item = app.selected()
    name = item.name if isinstance(item, (TaskItem, TypeItem)) else ""
    if not name:
        app.say("select a task (or a task type) whose name is known", error=True)
        return None
    return name


def _removes(value: str) -> bool:
    """Empty, ``none`` or a zero rate: the limit goes (and the question says so)."""
    return value.lower() == "none" or is_zero_rate(value)


def _ask_limit(app: App, caption: str, build: Callable[[str, str], Request], what: str) -> None:
    """Prompt for a limit of the selected task type, then confirm, then send."""
    name = _task_name(app)
    if name is None or not _control_ready(app):
        return
    shown = sanitize(name)
    widget, edit = prompt(caption.format(name=shown))

    def accept() -> None:
        app.pop()
        value = edit.edit_text.strip()
        try:
            request = build(name, value)
        except ValueError as exc:
            app.say(sanitize(str(exc)), error=True)
            return
        if _removes(value):
            text = f"Remove the {what} of {shown} on every worker?"
        else:
            text = f"Set the {what} of {shown} to {sanitize(value)} on every worker?"
        confirm_and_send(app, request, text)

    app.push(Layer("prompt", widget, "footer", {"prompt-accept": accept, "prompt-cancel": app.pop}))


def _rate_request(name: str, value: str) -> Request:
    if _removes(value):
        return build_request("rate_limit", task_name=name, remove=True)
    return build_request("rate_limit", task_name=name, rate=value)


def _time_request(name: str, value: str) -> Request:
    words = value.split()
    if not 1 <= len(words) <= 2:
        raise ValueError("give SOFT [HARD] in seconds, or none")
    return build_request(
        "time_limit", task_name=name, soft=words[0], hard=words[1] if len(words) > 1 else None
    )


def _limit(caption: str, build: Callable[[str, str], Request], what: str) -> Action:
    return lambda app: _ask_limit(app, caption, build, what)


ACTIONS.update(
    {
        "task-rate-limit": _limit(
            "rate limit for {name} (e.g. 10/m; empty, 0 or none removes it): ",
            _rate_request,
            "rate limit",
        ),
        "task-time-limit": _limit(
            "time limits for {name}: SOFT [HARD] seconds (none removes): ",
            _time_request,
            "time limits (soft hard)",
        ),
    }
)


# -- workers ----------------------------------------------------------------------------------


def open_worker(app: App, hostname: str) -> None:
    """The worker's pane: what its events say at once, then each answer as it comes."""
    runner = app.runner
    detail = WorkerDetail(hostname, runner.timeout if runner is not None else 0.0)
    if app.read_only:
        detail.cannot_ask = "--read-only sends nothing to the workers"
    elif runner is None:
        detail.cannot_ask = app.no_control
    content = detail.pane(app.state, app.shown_at(), app.rows.trust, app.zone, app.rows.lost_on(hostname))
    widget, listbox = pane(content.title, content.lines())
    layer = Layer("worker-pane", widget, "body", {"pane-close": app.pop}, listbox, subject=hostname)
    asked = [0]  # which round of questions the answers belong to (R starts another)

    def redraw() -> None:
        content = detail.pane(app.state, app.shown_at(), app.rows.trust, app.zone, app.rows.lost_on(hostname))
        listbox.replace(content.lines())

    def answered(method: str, round_: int) -> Callable[[Outcome], None]:
        def take(outcome: Outcome) -> None:
            if round_ == asked[0]:
                detail.answers[method] = _answer(outcome, hostname)
                redraw()

        return take

    def ask() -> None:
        if runner is None or detail.cannot_ask:
            app.say(detail.cannot_ask, error=True)
            return
        asked[0] += 1
        detail.ask_again()
        redraw()
        for method, _ in INQUIRIES:
            runner.submit(build_request(method), [hostname], answered(method, asked[0]), [hostname])

    layer.commands["worker-refresh"] = ask
    app.push(layer)
    if not detail.cannot_ask:
        ask()


def _answer(outcome: Outcome, hostname: str) -> Answer:
    if outcome.error is not None:
        return Answer(error=outcome.error)
    assert outcome.result is not None
    for reply in outcome.result.replies:
        if reply.node == hostname:
            if not reply.ok:
                return Answer(error=f"the worker answered: {reply.value}", after=reply.after)
            return Answer(reply.value, after=reply.after)
    return Answer()


def _worker_target(app: App) -> str | None:
    """The worker a key acts on: the pane's, else the selected row's; None if the
    command cannot be sent (it said why)."""
    top = app.layers[-1] if app.layers else None
    if top is not None and top.context == "worker-pane":
        hostname = top.subject
    else:
        item = app.selected()
        if not isinstance(item, WorkerItem):
            app.say("no worker selected", error=True)
            return None
        hostname = item.hostname
    return hostname if _control_ready(app) else None


def _worker_confirm(name: str, text: str, **values: object) -> Action:
    """A worker command that needs only a yes: ``text`` names the worker as ``{worker}``."""

    def act(app: App) -> None:
        hostname = _worker_target(app)
        if hostname is not None:
            request = build_request(name, values)
            confirm_and_send(app, request, text.format(worker=sanitize(hostname)), [hostname])

    return act


def _worker_prompt(
    name: str, caption: str, build: Callable[[str], dict[str, object]], text: Callable[[Request], str]
) -> Action:
    """A worker command that asks for a value first (a queue, a range), then a yes."""

    def act(app: App) -> None:
        hostname = _worker_target(app)
        if hostname is None:
            return
        shown = sanitize(hostname)
        widget, edit = prompt(caption.format(worker=shown))

        def accept() -> None:
            app.pop()
            try:
                request = build_request(name, build(edit.edit_text.strip()))
            except ValueError as exc:
                app.say(sanitize(str(exc)), error=True)
                return
            confirm_and_send(app, request, f"{text(request)} on {shown}?", [hostname])

        app.push(Layer("prompt", widget, "footer", {"prompt-accept": accept, "prompt-cancel": app.pop}))

    return act


def _range(value: str) -> dict[str, object]:
    words = value.replace(",", " ").split()
    if len(words) != 2:
        raise ValueError("give MAX,MIN, e.g. 10,3")
    return {"max": words[0], "min": words[1]}


def _queue(value: str) -> dict[str, object]:
    return {"queue": value}


@action("worker-shutdown")
def worker_shutdown(app: App) -> None:
    hostname = _worker_target(app)
    if hostname is None:
        return
    shown = sanitize(hostname)
    text = (
        f"Shut down worker {shown}: a warm shutdown, its running tasks finish first; "
        "it does not come back unless something restarts it."
    )
    type_to_send(app, build_request("shutdown"), text, (hostname, "shutdown"), [hostname])


ACTIONS.update(
    {
        "worker-pool-grow": _worker_confirm("pool_grow", "Add one pool process to {worker}?", n=1),
        "worker-pool-shrink": _worker_confirm("pool_shrink", "Stop one idle pool process of {worker}?", n=1),
        "worker-enable-events": _worker_confirm("enable_events", "Make {worker} send task events?"),
        "worker-disable-events": _worker_confirm("disable_events", "Make {worker} stop sending task events?"),
        "worker-autoscale": _worker_prompt(
            "autoscale",
            "autoscale range of {worker}: MAX,MIN processes (e.g. 10,3): ",
            _range,
            lambda r: (
                f"Set the autoscale range to at most {r.values['max']}, at least {r.values['min']} processes"
            ),
        ),
        "worker-add-consumer": _worker_prompt(
            "add_consumer",
            "queue for {worker} to consume too: ",
            _queue,
            lambda r: f"Consume from queue {sanitize(r.values['queue'])}",
        ),
        "worker-cancel-consumer": _worker_prompt(
            "cancel_consumer",
            "queue {worker} stops consuming: ",
            _queue,
            lambda r: f"Stop consuming from queue {sanitize(r.values['queue'])}",
        ),
    }
)
