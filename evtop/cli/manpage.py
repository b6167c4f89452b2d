"""Render ``man/evtop.1`` from the argument parser, so the page cannot drift from ``--help``."""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from evtop.camera.sinks.registry import Registry
from evtop.cli.parser import (
    DESCRIPTION,
    DOCTOR_DESCRIPTION,
    EPILOG,
    QUEUES_DESCRIPTION,
    build_parser,
    control_description,
    control_parser,
    environment_variables,
    subcommand_parser,
)
from evtop.control.commands import COMMANDS, Command, Kind
from evtop.tui.keymap import KEYMAP, MOUSE_HELP, keys_label
from evtop.version import __version__
from evtop.view.query import FILTER_HELP

EXIT_STATUS = (
    ("0", "success; after q in the TUI, SIGTERM or SIGHUP, or the end of a replayed file"),
    (
        "1",
        "a runtime error; for evtop control: no worker replied ok; for evtop doctor: problems found; "
        "for --sink: a sink did not take the final snapshot, or lost task changes",
    ),
    ("2", "a bad command line: one line on stderr, nothing started"),
    ("130", "stopped with Ctrl-C (SIGINT), as shells report an interrupted command"),
)
ENVIRONMENT = (
    ("EVTOP_BROKER_URL", "broker URL when neither -b, -A nor EVTOP_BROKER gives one"),
    ("CELERY_BROKER_URL", "broker URL when none of the above gives one"),
    ("NO_COLOR", "disable colour in the TUI and in --dump output"),
)
OPTION_VARIABLES = (
    "Every option before the command, and those of doctor and queues, can also be set with a variable "
    "named after its long form: EVTOP_MAX_TASKS=100k, EVTOP_READ_ONLY=1 (a flag takes 1, true, yes, on or "
    "0, false, no, off), EVTOP_SINK and EVTOP_TRANSPORT_OPTION take several values separated by spaces "
    "(quoted as in a shell). An empty variable is unset. The command line wins over a variable; a value "
    "from a variable that does not apply to the mode (EVTOP_MAX_TASKS with --dump) is ignored, and a bad "
    "one is an error naming the variable (exit status 2)."
)
CELERY_COMMAND = (
    "Installed next to celery 5, evtop is also a command of celery's own CLI (the celery.commands entry "
    "point): celery -A proj evtop [options] runs evtop with the app celery loaded, taking its broker URL "
    "(broker_read_url first; celery -b URL sets it), broker transport options, event exchange and queue "
    "prefix, control exchange and event serializer, as evtop -A proj does. celery -C adds --no-color. "
    "Every other argument is evtop's: celery evtop --help shows them. celery is imported only then: evtop "
    "run on its own never needs it."
)
COMPLETION = (
    "evtop --print-completion bash|zsh|fish prints a completion script generated from the argument parser "
    "(options, their values, the commands and control commands). It needs shtab (pip install "
    "'evtop[completion]'). bash: save it as ~/.local/share/bash-completion/completions/evtop; zsh: as _evtop "
    "in a directory of $fpath; fish: as ~/.config/fish/completions/evtop.fish."
)
SECURITY = (
    "evtop accepts JSON event bodies only (msgpack with --accept-msgpack); pickle, yaml and kombu's raw "
    "content types are refused and counted. Every string taken from the event stream is sanitized before "
    "it reaches the terminal, a log or a file: control characters and escape sequences are shown as "
    "visible symbols, bidirectional and invisible characters as <U+XXXX>; sinks store that same text. "
    "Broker and sink passwords are masked in all output. With --read-only evtop publishes nothing at all. "
    "evtop never creates or changes Celery's exchanges, so a broker user that may only read events is "
    "enough: README gives the RabbitMQ permissions and the Redis ACL of such a user."
)
SINKS = (
    "--sink URL (repeatable; -c URL is the same) runs the snapshot camera with evtop's sinks. Each snapshot "
    "holds every task changed since the previous one in its whole current state, the workers, counts per "
    "state and task type, runtime percentiles, ingest counters and outage windows. Delivery is at least "
    "once and idempotent: a failing sink keeps its snapshots in a bounded spool (merged per task when "
    "full), is retried with capped backoff and is logged once as down and once as up; other sinks and "
    "event ingest go on. SQL rows never move a task back to an earlier state. A file sink takes a path "
    "relative to the working directory after three slashes, an absolute one after four. Sinks are "
    "plugins of the evtop.sinks entry-point group; evtop --list-sinks shows those installed."
)


def _escape(text: str) -> str:
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line for line in text.splitlines())


def _option_lines(actions: Iterable[argparse.Action]) -> list[str]:
    lines: list[str] = []
    for action in actions:
        if action.help == argparse.SUPPRESS or not action.option_strings:
            continue
        names = ", ".join(f"\\fB{_escape(name)}\\fR" for name in action.option_strings)
        if action.metavar:
            names += f" \\fI{_escape(str(action.metavar))}\\fR"
        lines += [".TP", names, _escape(action.help or "")]
    return lines


def _command_usage(command: Command) -> str:
    parts = [f"\\fB{_escape(command.cli_name)}\\fR"]
    for param in command.params:
        if param.option:
            item = f"\\fB{_escape(param.option)}\\fR"
            if not param.flag:
                item += f" \\fI{_escape(param.metavar)}\\fR"
        else:
            item = f"\\fI{_escape(param.metavar)}\\fR" + ("..." if param.many else "")
        parts.append(item if param.required else f"[{item}]")
    return " ".join(parts)


def _control_lines(parser: argparse.ArgumentParser) -> list[str]:
    """The CONTROL COMMANDS section, from the same table and parser as ``--help``."""
    paragraphs = [_escape(" ".join(text.split())) for text in control_description().split("\n\n")]
    out = [".SH CONTROL COMMANDS", "\n.PP\n".join(paragraphs)]
    common = control_parser(parser, "ping")
    for group in common._action_groups:
        if group.title == "control options":
            out += [".SS Options of every control command", *_option_lines(group._group_actions)]
    for kind, title in ((Kind.CONTROL, "Control commands"), (Kind.INSPECT, "Inspect commands")):
        out.append(f".SS {title}")
        for command in (c for c in COMMANDS.values() if c.kind is kind):
            text = [f"{command.summary}.", command.note]
            text += [f"{p.label}: {p.help}." for p in command.params]
            out += [".TP", _command_usage(command), "\n.br\n".join(_escape(t) for t in text if t)]
    return out


def _subcommand_lines(parser: argparse.ArgumentParser, name: str, description: str) -> list[str]:
    """The section of ``evtop doctor`` or ``evtop queues``, from its own parser."""
    sub = subcommand_parser(parser, name)
    out = [f".SH {name.upper()}", _escape(" ".join(description.split()))]
    for group in sub._action_groups:
        out += _option_lines(action for action in group._group_actions if action.dest != "help")
    return out


def _key_lines() -> list[str]:
    """The KEYS section, from the TUI's keymap: the table that also dispatches the keys."""
    out = [
        ".SH KEYS",
        _escape(
            "In the live TUI (the default mode). Times are local (or in the --tz zone), the zone "
            "named on the view line; a worker's times (RECEIVED, the start of a running task's "
            "RUNTIME) are moved onto evtop's receive clock by its clock skew. A task received or "
            "running (started, or in a custom state such as PROGRESS) on a worker that went offline "
            "reads LOST; MISSED on the Workers screen counts task starts no event showed. Control "
            "keys ask for confirmation and are refused with "
            "--read-only, --replay and --demo."
        ),
    ]
    category = None
    for binding in KEYMAP:
        if binding.category != category:
            category = binding.category
            out.append(f".SS {_escape(category)}")
        out += [".TP", f"\\fB{_escape(keys_label(binding))}\\fR", _escape(binding.help)]
    out += [".SS Filter", ".nf", *(_escape(line.strip()) for line in FILTER_HELP[1:]), ".fi"]
    out += [
        ".SS Mouse",
        _escape(MOUSE_HELP[0]),
        ".nf",
        *(_escape(line.strip()) for line in MOUSE_HELP[1:]),
        ".fi",
    ]
    return out


def _sink_lines() -> list[str]:
    """The SINKS section: evtop's own sinks, as the registry describes them."""
    out = [".SH SINKS", _escape(SINKS)]
    for row in Registry([]).listing():
        out += [".TP", f"\\fB{_escape(row.example)}\\fR", _escape(row.description)]
    return out


def render() -> str:
    parser = build_parser()
    out = [
        f'.TH EVTOP 1 "" "evtop {__version__}" "User Commands"',
        ".SH NAME",
        "evtop \\- monitor a Celery cluster through its event stream",
        ".SH SYNOPSIS",
        "\\fBevtop\\fR [\\fIoptions\\fR]",
        ".br",
        "\\fBevtop\\fR [\\fIoptions\\fR] \\fBcontrol\\fR \\fICOMMAND\\fR [\\fIARGS\\fR...] "
        "[\\fB\\-\\-destination\\fR \\fIW1,W2\\fR] [\\fB\\-\\-timeout\\fR \\fIS\\fR] [\\fB\\-\\-json\\fR] "
        "[\\fB\\-\\-yes\\fR]",
        ".br",
        "\\fBevtop\\fR [\\fIoptions\\fR] \\fBdoctor\\fR "
        "[\\fB\\-\\-listen\\fR \\fISECONDS\\fR] [\\fB\\-\\-json\\fR]",
        ".br",
        "\\fBevtop\\fR [\\fIoptions\\fR] \\fBqueues\\fR [\\fINAME\\fR...] "
        "[\\fB\\-\\-interval\\fR \\fISECONDS\\fR] [\\fB\\-\\-json\\fR]",
        ".br",
        "\\fBcelery\\fR [\\fB\\-A\\fR \\fIAPP\\fR] \\fBevtop\\fR [\\fIoptions\\fR] ...",
        ".SH DESCRIPTION",
        _escape(" ".join(DESCRIPTION.split())),
        ".SH OPTIONS",
    ]
    for group in parser._action_groups:
        lines = _option_lines(group._group_actions)
        if lines:
            out += [f".SS {_escape(str(group.title).capitalize())}", *lines]
    out += _key_lines()
    out += _control_lines(parser)
    out += _sink_lines()
    out += _subcommand_lines(parser, "doctor", DOCTOR_DESCRIPTION)
    out += _subcommand_lines(parser, "queues", QUEUES_DESCRIPTION)
    out.append(".SH EXIT STATUS")
    for code, meaning in EXIT_STATUS:
        out += [".TP", f"\\fB{code}\\fR", _escape(meaning)]
    out += [
        ".SH ENVIRONMENT",
        ".TP",
        "\\fBEVTOP_\\fR\\fIOPTION\\fR",
        _escape(OPTION_VARIABLES),
        ".RS",
        ".sp",
        ".nf",
    ]
    out += [_escape(f"{variable:<24}{options}") for variable, options in environment_variables(parser)]
    out += [".fi", ".RE"]
    for name, meaning in ENVIRONMENT:
        out += [".TP", f"\\fB{name}\\fR", _escape(meaning)]
    out += [".SH CELERY COMMAND", _escape(CELERY_COMMAND), ".SH SHELL COMPLETION", _escape(COMPLETION)]
    out += [".SH SECURITY", _escape(SECURITY), ".SH EXAMPLES", ".nf"]
    out += [_escape(line) for line in EPILOG.split("environment:")[0].splitlines()[1:] if line]
    out += [".fi", ".SH SEE ALSO", "\\fBcelery\\fR(1)"]
    return "\n".join(out) + "\n"
