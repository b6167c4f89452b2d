"""The control commands evtop can send: one table for validation, help, man page and TUI.

Each :class:`Command` knows its parameters (with validators from
:mod:`evtop.control.arguments`), how to turn validated values into exactly the
``arguments`` Celery's own client sends (workers answer a TypeError to any extra
argument), whether it is destructive
(asks for confirmation) and whether workers reply at all. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import Any

from evtop.control import arguments as check

Values = Mapping[str, Any]


class Kind(str, Enum):
    """Control commands change workers; inspect commands only read their state."""

    CONTROL = "control"
    INSPECT = "inspect"


@dataclass(frozen=True)
class Param:
    """One value a command takes: a positional (``metavar``) or an ``option``."""

    name: str
    help: str
    parse: Callable[[Any], Any]
    metavar: str = ""
    option: str | None = None
    #: One or more values, validated together (``parse`` gets the list).
    many: bool = False
    required: bool = True
    default: Any = None
    #: An option without a value (``--terminate``); ``parse`` gets a bool.
    flag: bool = False

    @property
    def label(self) -> str:
        return self.option or self.metavar


@dataclass(frozen=True)
class Request:
    """A validated command, ready to broadcast."""

    command: Command
    values: Values
    method: str
    arguments: Mapping[str, Any]
    destructive: bool

    @property
    def replies(self) -> bool:
        return self.command.replies

    def describe(self) -> str:
        """What will happen, in words, for a confirmation prompt."""
        return self.command.describe(self.values)


def _no_arguments(values: Values) -> dict[str, Any]:
    return {}


def _never(values: Values) -> bool:
    return False


def _always(values: Values) -> bool:
    return True


@dataclass(frozen=True)
class Command:
    name: str
    kind: Kind
    summary: str
    params: tuple[Param, ...] = ()
    #: Validated values → the wire ``arguments``; raises ValueError on a bad combination.
    build: Callable[[Values], dict[str, Any]] = _no_arguments
    #: The wire method when it differs from ``name`` (``terminate`` sends ``revoke``).
    method: str | None = None
    destructive: Callable[[Values], bool] = _never
    #: False for ``shutdown``: the worker exits without answering.
    replies: bool = True
    #: Shown under the replies and in the help: what a reply does and does not mean.
    note: str = ""
    example: str = ""
    #: Words for a confirmation prompt; by default the command and its values.
    describe_values: Callable[[Values], str] | None = None

    @property
    def cli_name(self) -> str:
        return self.name.replace("_", "-")

    def describe(self, values: Values) -> str:
        if self.describe_values is not None:
            return self.describe_values(values)
        shown = " ".join(f"{key}={value!r}" for key, value in values.items() if value not in (None, False))
        return f"{self.cli_name} {shown}".strip()

    def request(self, values: Values | None = None, /, **given: Any) -> Request:
        """Validate ``values`` (text or typed) and build the request; ValueError if bad."""
        given = {**(values or {}), **given}
        known = {param.name for param in self.params}
        unknown = sorted(set(given) - known)
        if unknown:
            raise ValueError(f"{self.cli_name} takes no {', '.join(unknown)}")
        parsed: dict[str, Any] = {}
        for param in self.params:
            raw = given.get(param.name)
            # An empty list means "not given" for a many-valued param (argparse's nargs="*").
            if raw is None or (param.many and not raw and not isinstance(raw, str)):
                if param.required:
                    raise ValueError(f"{param.label} is required")
                parsed[param.name] = param.default
                continue
            try:
                parsed[param.name] = param.parse(raw)
            except ValueError as exc:
                raise ValueError(f"{param.label}: {exc}") from None
        return Request(self, parsed, self.method or self.name, self.build(parsed), self.destructive(parsed))


# --- parameters shared by several commands --------------------------------------------------

_TASK_IDS = Param("task_ids", "task id(s)", check.task_ids, metavar="TASK_ID", many=True)
_TASK_NAME = Param("task_name", "task name, e.g. proj.tasks.add", check.task_name, metavar="TASK")
_SIGNAL = Param(
    "signal",
    f"signal for the task's process: {', '.join(check.SIGNALS)} (default TERM)",
    check.signal_name,
    metavar="SIG",
    option="--signal",
    required=False,
)
_QUEUE = Param("queue", "queue name", check.queue_name, metavar="QUEUE")


def _flag(name: str, help: str) -> Param:
    return Param(name, help, check.flag, option=f"--{name}", required=False, default=False, flag=True)


def _processes(what: str) -> Param:
    return Param(
        "n", f"number of pool processes to {what} (default 1)", check.count, "N", required=False, default=1
    )


# --- how values become wire arguments -------------------------------------------------------


def _one_or_many(ids: list[str]) -> str | list[str]:
    """A single id goes out as a string, several as a list, as Celery's client does."""
    return ids[0] if len(ids) == 1 else ids


def _revoke_arguments(values: Values, *, terminate: bool | None = None) -> dict[str, Any]:
    terminating = values["terminate"] if terminate is None else terminate
    if values["signal"] is not None and not terminating:
        raise ValueError("--signal only applies with --terminate (a plain revoke sends no signal)")
    return {
        "task_id": _one_or_many(values["task_ids"]),
        "terminate": terminating,
        "signal": values["signal"] or "SIGTERM",
    }


def _describe_revoke(values: Values) -> str:
    ids = ", ".join(values["task_ids"])
    if values.get("terminate", True):
        signal = values["signal"] or "SIGTERM"
        return (
            f"terminate task(s) {ids}: send {signal} to the pool process running each one "
            "(it may already be running another task)"
        )
    return f"revoke task(s) {ids}"


def _rate_limit_arguments(values: Values) -> dict[str, Any]:
    if values["remove"] == (values["rate"] is not None):
        raise ValueError("give either RATE or --remove")
    # null rather than "": the task goes back to having no limit attribute at all.
    return {"task_name": values["task_name"], "rate_limit": None if values["remove"] else values["rate"]}


def _time_limit_arguments(values: Values) -> dict[str, Any]:
    soft, hard = values["soft"], values["hard"]
    if soft is not None and hard is not None and hard < soft:
        raise ValueError(f"the hard limit ({hard:g} s) must not be below the soft limit ({soft:g} s)")
    return {"task_name": values["task_name"], "hard": hard, "soft": soft}


def _autoscale_arguments(values: Values) -> dict[str, Any]:
    if values["max"] < values["min"]:
        raise ValueError(f"MAX ({values['max']}) must not be below MIN ({values['min']})")
    return {"max": values["max"], "min": values["min"]}


def _exchange_type(value: object) -> str:
    text = check.name(value, "exchange type").lower()
    if text not in ("direct", "topic", "fanout", "headers"):
        raise ValueError(f"unknown exchange type {text!r}: use direct, topic, fanout or headers")
    return text


def _copy(*keys: str) -> Callable[[Values], dict[str, Any]]:
    def build(values: Values) -> dict[str, Any]:
        return {key: values[key] for key in keys}

    return build


CONFIRM_NOTE = (
    "terminate, shutdown and revoke --terminate are destructive: they ask for confirmation "
    "when stdin is a terminal and need --yes when it is not."
)
REVOKE_NOTE = (
    "A revoke stops tasks that have not started yet, on the workers that received it; "
    "workers keep revokes in memory only (unless started with --statedb). "
    "A task that is already running needs terminate."
)

# --- the table --------------------------------------------------------------------------------

_COMMANDS: tuple[Command, ...] = (
    Command(
        "ping",
        Kind.INSPECT,
        "ask every worker (or the --destination ones) for a pong",
        example="evtop control ping",
    ),
    Command(
        "revoke",
        Kind.CONTROL,
        "revoke tasks by id: workers will not start them",
        params=(
            _TASK_IDS,
            _flag("terminate", "also terminate the task if it is running"),
            _SIGNAL,
        ),
        build=_revoke_arguments,
        destructive=lambda values: bool(values["terminate"]),
        note=REVOKE_NOTE,
        example="evtop control revoke d9078da5-9915-40a0-bfa1-392c7bde42ed",
        describe_values=_describe_revoke,
    ),
    Command(
        "terminate",
        Kind.CONTROL,
        "terminate running tasks: signal the pool process running each (a revoke with --terminate)",
        params=(_TASK_IDS, _SIGNAL),
        build=partial(_revoke_arguments, terminate=True),
        method="revoke",
        destructive=_always,
        note="Only for stuck tasks: the signal goes to the process, which may have moved on to another task.",
        example="evtop control terminate d9078da5-9915-40a0-bfa1-392c7bde42ed --signal KILL --yes",
        describe_values=_describe_revoke,
    ),
    Command(
        "rate_limit",
        Kind.CONTROL,
        "set a task type's rate limit (N, N/s, N/m or N/h), or remove it with --remove",
        params=(
            _TASK_NAME,
            Param("rate", "the new limit, e.g. 10/m", check.rate, metavar="RATE", required=False),
            _flag("remove", "remove the task's rate limit"),
        ),
        build=_rate_limit_arguments,
        note="Workers with worker_disable_rate_limits ignore rate limits.",
        example="evtop control rate-limit proj.tasks.add 10/m",
    ),
    Command(
        "time_limit",
        Kind.CONTROL,
        "set a task type's soft and hard time limits (seconds); a limit given as none or left out is removed",
        params=(
            _TASK_NAME,
            Param(
                "soft", "soft limit in seconds, or none", partial(check.seconds_or_none, what="SOFT"), "SOFT"
            ),
            Param(
                "hard",
                "hard limit in seconds, or none (the default)",
                partial(check.seconds_or_none, what="HARD"),
                "HARD",
                required=False,
            ),
        ),
        build=_time_limit_arguments,
        note=(
            "Workers record the limits at once (see registered time_limit soft_time_limit), but Celery "
            "fixes a task type's limits when the worker's task consumer starts: running workers apply "
            "them only after a consumer restart, such as a broker reconnect."
        ),
        example="evtop control time-limit proj.tasks.crawl 60 120",
    ),
    Command(
        "enable_events", Kind.CONTROL, "make workers send task events", example="evtop control enable-events"
    ),
    Command(
        "disable_events",
        Kind.CONTROL,
        "make workers stop sending task events",
        note="Workers started with -E keep sending task events and answer 'already disabled'.",
    ),
    Command(
        "shutdown",
        Kind.CONTROL,
        "shut workers down (warm shutdown: running tasks finish first)",
        destructive=_always,
        replies=False,
        note="Workers do not reply to shutdown; check with evtop control ping.",
        example="evtop control shutdown --destination w1@host --yes",
        describe_values=lambda values: "shut down the workers (they finish their running tasks first)",
    ),
    Command(
        "pool_grow",
        Kind.CONTROL,
        "start N more pool processes",
        params=(_processes("add"),),
        build=_copy("n"),
        example="evtop control pool-grow 2",
    ),
    Command(
        "pool_shrink",
        Kind.CONTROL,
        "stop N idle pool processes",
        params=(_processes("remove"),),
        build=_copy("n"),
    ),
    Command(
        "autoscale",
        Kind.CONTROL,
        "change the autoscaler's process range (workers started with --autoscale)",
        params=(
            Param("max", "most processes", partial(check.count, what="MAX"), "MAX"),
            Param("min", "fewest processes", partial(check.count, what="MIN", minimum=0), "MIN"),
        ),
        build=_autoscale_arguments,
        example="evtop control autoscale 10 3",
    ),
    Command(
        "add_consumer",
        Kind.CONTROL,
        "make workers consume from a queue too",
        params=(
            _QUEUE,
            Param(
                "exchange",
                "exchange (default: the queue name)",
                partial(check.name, what="exchange"),
                "NAME",
                option="--exchange",
                required=False,
            ),
            Param(
                "exchange_type",
                "exchange type (default direct)",
                _exchange_type,
                "TYPE",
                option="--exchange-type",
                required=False,
                default="direct",
            ),
            Param(
                "routing_key",
                "routing key (default: the queue name)",
                partial(check.name, what="routing key"),
                "KEY",
                option="--routing-key",
                required=False,
            ),
        ),
        build=_copy("queue", "exchange", "exchange_type", "routing_key"),
        note="Workers apply this shortly after replying; see evtop control active-queues.",
        example="evtop control add-consumer reports",
    ),
    Command(
        "cancel_consumer",
        Kind.CONTROL,
        "make workers stop consuming from a queue",
        params=(_QUEUE,),
        build=_copy("queue"),
        example="evtop control cancel-consumer reports",
    ),
    Command(
        "stats",
        Kind.INSPECT,
        "worker statistics: pool, broker, rusage, totals",
        example="evtop control stats --json",
    ),
    Command(
        "active",
        Kind.INSPECT,
        "tasks the workers are running now",
        build=lambda values: {"safe": None},
    ),
    Command("reserved", Kind.INSPECT, "tasks received and waiting to run (not scheduled or active)"),
    Command("scheduled", Kind.INSPECT, "tasks waiting for their ETA or countdown"),
    Command("revoked", Kind.INSPECT, "the task ids each worker has revoked"),
    Command(
        "registered",
        Kind.INSPECT,
        "the task types each worker knows, with the given attributes",
        params=(
            Param(
                "taskinfoitems",
                "task attributes to show, e.g. rate_limit time_limit "
                "(default: exchange routing_key rate_limit)",
                partial(check.names, what="attribute"),
                "ATTRIBUTE",
                many=True,
                required=False,
                default=(),
            ),
        ),
        build=lambda values: {"taskinfoitems": list(values["taskinfoitems"])},
        example="evtop control registered rate_limit time_limit soft_time_limit",
    ),
    Command("active_queues", Kind.INSPECT, "the queues each worker consumes from"),
    Command(
        "query_task",
        Kind.INSPECT,
        "what the workers know about the given task ids",
        params=(Param("ids", "task id(s)", check.task_ids, metavar="TASK_ID", many=True),),
        build=_copy("ids"),
    ),
)

#: Every command by its wire-style name (``rate_limit``), in help order.
COMMANDS: dict[str, Command] = {command.name: command for command in _COMMANDS}


def command(name: str) -> Command:
    """Look a command up by ``rate_limit`` or its CLI spelling ``rate-limit``."""
    try:
        return COMMANDS[name.replace("-", "_")]
    except KeyError:
        raise ValueError(f"unknown control command {name!r}") from None


def build_request(name: str, values: Values | None = None, /, **given: Any) -> Request:
    """``build_request("rate_limit", task_name="proj.add", rate="10/m")``; ValueError if bad."""
    return command(name).request(values, **given)
