"""One function per command id of the keymap: what a key does, apart from drawing.

Dispatch is this dict, not an if-chain; a test checks that every table command of
:data:`~evtop.tui.keymap.KEYMAP` has an entry here and every entry a binding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Sized
from typing import cast

from evtop.control.arguments import is_zero_rate
from evtop.control.commands import Request, build_request
from evtop.control.render import render as render_replies
from evtop.text.sanitize import sanitize
from evtop.tui.app import CHROME_ROWS, App
from evtop.tui.control_runner import Outcome
from evtop.tui.dialogs import Layer, pane, prompt, question, refill, typed_question
from evtop.tui.keymap import help_lines
from evtop.view import details
from evtop.view.query import FILTER_HELP
from evtop.view.tasks import TaskItem
from evtop.view.tasktypes import TypeItem
from evtop.view.viewstate import Screen
from evtop.view.workerpane import INQUIRIES, Answer, WorkerDetail
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
    open_pane(app, "evtop keys", [*help_lines(app.context), "", *FILTER_HELP])


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
        _show_pane(app, details.task_info(app.state, item.uuid, app.rows.trust, app.shown_at()))
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


def confirm_and_send(app: App, request: Request, text: str, destination: Sequence[str] | None = None) -> None:
    """Ask first; only a ``y`` sends, any other key cancels (the question names exactly
    what will happen)."""

    def yes() -> None:
        app.pop()
        send(app, request, destination)

    commands = {"confirm-yes": yes, "confirm-no": _cancelled(app, request)}
    app.push(Layer("confirm", question(text), "footer", commands))


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
    a pane when they are in."""
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
    app.say(f"{name}: {sanitize(outcome.result.summary())}", error=not outcome.result.any_ok)
    open_pane(app, f"Replies to {name}", render_replies(outcome.result, outcome.request))


def _revoke(terminate: bool) -> Action:
    def revoke(app: App) -> None:
        task = _task(app)
        if task is None or not _control_ready(app):
            return
        facts = [sanitize(task.name) or "???", sanitize(task.state)]
        if task.worker:
            facts[-1] += f" on {sanitize(task.worker)}"
        subject = f"task {sanitize(task.uuid)} ({', '.join(facts)})"
        if terminate:
            request = build_request("terminate", task_ids=[task.uuid])
            text = f"Terminate {subject}: SIGTERM to the worker process running it, which cannot be undone."
            type_to_send(app, request, text, ("terminate",))
        else:
            request = build_request("revoke", task_ids=[task.uuid])
            confirm_and_send(app, request, f"Revoke {subject}? Workers will not start it.")

    return revoke


ACTIONS.update({"task-revoke": _revoke(False), "task-terminate": _revoke(True)})


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
    content = detail.pane(app.state, app.shown_at(), app.rows.trust)
    widget, listbox = pane(content.title, content.lines())
    layer = Layer("worker-pane", widget, "body", {"pane-close": app.pop}, listbox, subject=hostname)
    asked = [0]  # which round of questions the answers belong to (R starts another)

    def redraw() -> None:
        refill(listbox, detail.pane(app.state, app.shown_at(), app.rows.trust).lines())

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
