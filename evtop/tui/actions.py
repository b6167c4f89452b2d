"""One function per command id of the keymap: what a key does, apart from drawing.

Dispatch is this dict, not an if-chain; a test checks that every table command of
:data:`~evtop.tui.keymap.KEYMAP` has an entry here and every entry a binding.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass
from typing import cast

from evtop.control.arguments import is_zero_rate
from evtop.control.commands import Request, build_request
from evtop.control.render import render as render_replies
from evtop.events import states
from evtop.text.sanitize import sanitize
from evtop.tui.app import CHROME_ROWS, App
from evtop.tui.control_runner import Outcome
from evtop.tui.dialogs import Layer, pane, prompt, question, typed_question
from evtop.tui.keymap import help_lines
from evtop.tui.treepane import TreePane
from evtop.view import details
from evtop.view.query import FILTER_HELP
from evtop.view.tasks import TaskItem
from evtop.view.tasktypes import TypeItem
from evtop.view.tree import counts_text, workflow
from evtop.view.viewstate import Screen
from evtop.view.workers import WorkerItem

Action = Callable[[App], None]


# -- moving ---------------------------------------------------------------------------------


def _move(app: App, delta: int | None = None, *, to: int | None = None) -> None:
    listbox = app.active_listbox
    count = len(cast(Sized, listbox.body))
    if not count:
        return
    target = to if to is not None else listbox.focus_position + (delta or 0)
    listbox.focus_position = max(0, min(count - 1, target if target >= 0 else count - 1))
    app.follow_focus()


def _page(app: App) -> int:
    return max(app.size[1] - CHROME_ROWS - 1, 1)


ACTIONS: dict[str, Action] = {
    "go-down": lambda app: _move(app, 1),
    "go-up": lambda app: _move(app, -1),
    "page-down": lambda app: _move(app, _page(app)),
    "page-up": lambda app: _move(app, -_page(app)) if app.active_listbox.focus_position else None,
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
    open_pane(app, "evtop keys", [*help_lines(), "", *FILTER_HELP])


@action("quit")
def quit_app(app: App) -> None:
    app.done = True


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
    }
)


@action("next-screen")
def next_screen(app: App) -> None:
    _show(app.view.next_screen().screen)(app)


# -- view -------------------------------------------------------------------------------------


@action("filter-set")
def filter_set(app: App) -> None:
    # Starts empty, as in less and k9s: the current filter stays on screen until Enter
    # replaces it (an empty Enter clears it).
    widget, edit = prompt("filter (Enter: apply, empty: clear, Esc: cancel): ")

    def accept() -> None:
        app.pop()
        apply_filter(app, edit.edit_text)

    app.push(Layer("prompt", widget, "footer", {"prompt-accept": accept, "prompt-cancel": app.pop}))


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


@action("sort-next")
def sort_next(app: App) -> None:
    app.view = app.view.next_sort()
    app.show_table()


@action("sort-reverse")
def sort_reverse(app: App) -> None:
    app.view = app.view.reverse_sort()
    app.show_table()


@action("pause")
def pause(app: App) -> None:
    app.view = app.view.toggle_pause()
    app.refresh()


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
        _show_pane(app, details.task_info(app.state, item.uuid))
    elif isinstance(item, WorkerItem):
        _show_pane(app, details.worker_info(app.state, item.hostname, app.clock()))
    elif isinstance(item, TypeItem):
        drill(app)
    else:
        app.say("nothing selected", error=True)


@action("open")
def drill(app: App) -> None:
    """Enter: a task's details; a worker's or a task type's tasks (an exact filter)."""
    item = app.selected()
    if isinstance(item, WorkerItem):
        app.view = app.view.show(Screen.TASKS)
        apply_filter(app, f"worker={item.hostname}")
    elif isinstance(item, TypeItem):
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
    app: App, request: Request, text: str, instead: Callable[[], None] | None = None
) -> None:
    """Ask first; only a ``y`` sends, any other key cancels (the question names exactly
    what will happen). ``instead``: what ``x`` does (terminate rather than revoke)."""

    def yes() -> None:
        app.pop()
        send(app, request)

    def other() -> None:
        app.pop()
        assert instead is not None
        instead()

    cancel = _cancelled(app, request)
    commands = {"confirm-yes": yes, "confirm-no": cancel, "confirm-terminate": cancel}
    if instead is not None:
        commands["confirm-terminate"] = other
    app.push(Layer("confirm", question(text, "y/x/N" if instead else "y/N"), "footer", commands))


def type_to_send(app: App, request: Request, text: str, word: str) -> None:
    """Ask for ``word`` to be typed: a reflex ``y`` must not kill a process."""
    widget, edit = typed_question(text, word)
    cancel = _cancelled(app, request)

    def accept() -> None:
        if edit.edit_text.strip().lower() == word:
            app.pop()
            send(app, request)
        else:
            cancel()

    app.push(Layer("prompt", widget, "footer", {"prompt-accept": accept, "prompt-cancel": cancel}))


def send(app: App, request: Request) -> None:
    assert app.runner is not None
    expected = sorted(str(w.hostname) for w in app.state.workers.data.values() if w.alive) or None
    app.say(f"{request.command.cli_name}: sent, waiting for replies...")
    app.runner.submit(request, expected, lambda outcome: show_outcome(app, outcome))


def show_outcome(app: App, outcome: Outcome) -> None:
    name = outcome.request.command.cli_name
    if outcome.error is not None:
        app.say(f"{name} failed: {sanitize(outcome.error)}", error=True)
        return
    assert outcome.result is not None
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
    #: How many of them are running (STARTED): a revoke does not stop those.
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
    confirm_and_send(app, request, f"Revoke {targets.subject}? {note}", lambda: ask_terminate(app, targets))


def ask_terminate(app: App, targets: Targets) -> None:
    request = build_request("terminate", task_ids=targets.ids)
    if len(targets.ids) == 1:
        effect = "SIGTERM to the worker process running it, which cannot be undone."
    else:
        effect = (
            "SIGTERM to the worker processes running them (the others are revoked), which cannot be undone."
        )
    type_to_send(app, request, f"Terminate {targets.subject}: {effect}", "terminate")


def act_on(app: App, terminate: bool, targets: Targets) -> None:
    (ask_terminate if terminate else ask_revoke)(app, targets)


def many(app: App, tasks: Iterable[tuple[str, str]], terminate: bool, where: str = "") -> None:
    """Act on ``(uuid, state)`` pairs, leaving out the finished ones (nothing to stop);
    ``where`` follows the count in the question (`` of the subtree of ...``)."""
    pairs = list(tasks)
    unfinished = [(uuid, state) for uuid, state in pairs if state not in states.READY_STATES]
    left_out = len(pairs) - len(unfinished)
    if not unfinished:
        verb = "terminate" if terminate else "revoke"
        done = "the task has finished" if len(pairs) == 1 else f"these {len(pairs)} tasks have all finished"
        app.say(f"nothing to {verb}: {done}", error=True)
        return
    counts = Counter(state for _, state in unfinished)
    size = len(unfinished)
    subject = f"{size} task{'s' if size != 1 else ''} ({counts_text(counts)}){where}"
    if left_out:
        subject += f", leaving out {left_out} finished"
    act_on(app, terminate, Targets(subject, [uuid for uuid, _ in unfinished], counts[states.STARTED]))


def _tagged(app: App) -> list[tuple[str, str]]:
    """The tagged tasks still in memory, with their states."""

    def read() -> list[tuple[str, str]]:
        data = app.state.tasks.data
        return [(uuid, str(data[uuid].state)) for uuid in app.tagged if uuid in data]

    tasks: list[tuple[str, str]] = app.state.freeze_while(read)
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
        act_on(app, terminate, Targets(subject, [task.uuid], int(task.state == states.STARTED)))

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
                many(app, ((node.uuid, node.state) for node in nodes), terminate, f" of {what}")

        return act

    commands = {"pane-close": app.pop, "task-revoke": subtree(False), "task-terminate": subtree(True)}
    app.push(Layer("tree", shown.widget, "body", commands, shown.listbox, shown.refresh))


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
