"""The argument parser: the single source for ``evtop --help`` and the man page's options.

Option names follow ``celery events`` so its users feel at home, minus its traps: ``-d``
means ``--dump`` only (celery 5 silently binds it to ``--detach``), and every value is
validated here so a bad one is a one-line error before anything starts.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import re
import shlex
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, NoReturn

from evtop.broker.config import DEFAULT_QUEUE_MAX_LENGTH, DEFAULT_QUEUE_TTL
from evtop.broker.urls import BrokerURLError, validate_management_url
from evtop.errors import EvtopError, UsageError
from evtop.logs import LEVELS
from evtop.options import DEFAULT_LISTEN, DEFAULT_MAX_TASKS, DEFAULT_MAX_WORKERS, Reader
from evtop.rates import parse_rate
from evtop.version import __version__

if TYPE_CHECKING:
    from evtop.control.commands import Param
    from evtop.zones import Zone

DESCRIPTION = """\
Watch a Celery cluster through its event stream: a live TUI (default), a line-per-event
dump (--dump), or a snapshot camera (--camera) writing to your code or to built-in sinks
(--sink: SQLite, PostgreSQL, JSON lines, Prometheus). evtop talks to the broker with kombu
and never needs celery installed."""

EPILOG = """\
examples:
  evtop --demo                             the live TUI on a simulated cluster (? for keys)
  evtop --read-only -b redis://host/0      the TUI, watching only: nothing is ever sent
  evtop --demo --dump                      simulated cluster, one line per event
  evtop -b redis://localhost:6379/0 --dump --json | jq .
  evtop -b amqp://guest@rabbit// --dump --record events.jsonl.gz
  evtop --replay events.jsonl.gz --dump --speed max
  evtop -b redis://localhost:6379/0 -c myproj.cameras:DbCamera -F 2.0
  evtop --replay events.jsonl.gz -c myproj.cameras:DbCamera --speed max
  evtop -b amqp://monitor@rabbit// -c myproj.cameras:DbCamera --queue celeryev.dbcam
  evtop --demo --sink sqlite:///demo.db    task history in an SQLite file (then: sqlite3 demo.db)
  evtop -b redis://localhost:6379/0 --sink postgresql://evtop@db/evtop --keep 7d
  evtop -b redis://localhost:6379/0 --sink prometheus://0.0.0.0:9808   /metrics for Prometheus
  evtop -b amqp://guest@rabbit// --management-url http://guest:guest@rabbit:15672
                                           the TUI; its queue screen (4) lists every queue
  evtop -b redis://localhost:6379/0 control ping
  evtop control rate-limit proj.tasks.add 10/m --destination celery@host1
  celery -A proj evtop --dump              as a celery command: the app's broker and settings

environment:
  EVTOP_<OPTION>                        any option before the command, and those of doctor and
                                        queues: EVTOP_MAX_TASKS=100k, EVTOP_READ_ONLY=1 (or 0),
                                        EVTOP_TRANSPORT_OPTION="a=1 b=2"; the command line wins,
                                        and a value that does not apply to the mode is ignored
  EVTOP_BROKER_URL, CELERY_BROKER_URL   broker URL when neither -b, -A nor $EVTOP_BROKER gives one
  NO_COLOR                              disable colour (same as --no-color)

completion:
  evtop --print-completion bash|zsh|fish   (README: where to put it for each shell)"""

MIN_FREQUENCY = 0.01
MAX_FREQUENCY = 86400.0
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ParserExit(Exception):
    """argparse wants to exit (after --help/--version) with this status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class EvtopArgumentParser(argparse.ArgumentParser):
    """argparse that reports errors in one line and never calls ``sys.exit`` itself."""

    def __init__(
        self,
        *args: Any,
        root: EvtopArgumentParser | None = None,
        fill: Callable[[EvtopArgumentParser], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.out: IO[str] | None = None
        self.err: IO[str] | None = None
        #: Subcommand parsers print through the top-level parser's streams.
        self.root = root
        self._fill = fill

    def filled(self) -> EvtopArgumentParser:
        """This parser complete: ``fill`` adds the rest of it the first time it is parsed,
        shown or walked. The commands' parsers are filled in this way: building ``evtop
        control``'s two dozen, with the command table they come from, cost every other run
        more than the rest of its parsing."""
        if self._fill is not None:
            fill, self._fill = self._fill, None
            fill(self)
        return self

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        self.filled()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self.filled()
        return super().format_usage()

    def format_help(self) -> str:
        self.filled()
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        if message == "the following arguments are required: COMMAND":  # ``evtop control``
            names = _commands(self)
            if names:
                message = f"which command? {', '.join(names)} ({self.prog} --help says more)"
        raise UsageError(message)

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        """The top-level parse: unknown options are named first (argparse would often report
        the option's value as an invalid COMMAND), and global options given after a command
        are folded into the global ones."""
        arguments = list(sys.argv[1:] if args is None else args)
        if self.root is None:
            _check_options(self, arguments)
        parsed = super().parse_args(arguments, namespace)
        if self.root is None:
            _fold_after_command(parsed)
        return parsed

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self._print_message(message, self.err)
        raise ParserExit(status)

    def _print_message(self, message: str, file: Any = None) -> None:
        import sys

        streams = self.root if self.root is not None else self
        target = streams.out if file is None or file is sys.stdout else streams.err
        if message and target is not None:
            target.write(message)


#: argparse reads these as negative numbers, not options.
_NEGATIVE_NUMBER_RE = re.compile(r"-\d+$|-\d*\.\d+$")


def _check_options(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """Name the first option that the parser in effect at its position does not know."""
    current = parser
    words = iter(argv)
    for word in words:
        if word == "--":
            return
        if not word.startswith("-") or len(word) == 1 or " " in word or _NEGATIVE_NUMBER_RE.match(word):
            current = _subparsers(current).get(word, current)
            continue
        name = word.partition("=")[0] if word.startswith("--") else word[:2]
        action = _filled(current)._option_string_actions.get(name)
        if action is None:
            raise UsageError(_unknown_option(name, current))
        if action.nargs is None and "=" not in word and (word.startswith("--") or len(word) == 2):
            next(words, None)  # the option's value, whatever it looks like


def _unknown_option(name: str, parser: argparse.ArgumentParser) -> str:
    import difflib  # here: only a mistyped option needs it

    visible = [s for a in parser._actions if a.help != argparse.SUPPRESS for s in a.option_strings]
    known = visible + [s for s in parser._option_string_actions if s not in visible]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
    owners = [sub.prog.split() for sub in _descendants(parser) if name in sub._option_string_actions]
    if owners:  # `evtop --listen 3 doctor`: the option of a command, given before it
        common = owners[0]
        for words in owners[1:]:  # the words all owners start with: evtop control, for --yes
            while words[: len(common)] != common:
                common = common[:-1]
        owner = " ".join(common + (["COMMAND"] if len(owners) > 1 else []))
        hint = f"it is an option of {owner.removeprefix(parser.prog + ' ')}: {owner} {name} ..."
    elif close:
        hint = f"did you mean {close[0]}?"
    else:
        hint = f"see {parser.prog} --help"
    return f"unknown option {name}; {hint}"


def _filled(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``parser`` with every option and command it has (see :meth:`EvtopArgumentParser.filled`)."""
    return parser.filled() if isinstance(parser, EvtopArgumentParser) else parser


def _descendants(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    children = list(dict.fromkeys(_subparsers(parser).values()))
    return children + [grandchild for child in children for grandchild in _descendants(child)]


def frequency(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not MIN_FREQUENCY <= value <= MAX_FREQUENCY:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a valid interval: give seconds between {MIN_FREQUENCY} and {MAX_FREQUENCY:g}"
        )
    return value


def rate(text: str) -> str:
    try:
        parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def speed(text: str) -> float:
    if text.strip().lower() == "max":
        return math.inf
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid speed: give a positive factor or 'max'")
    return value


_DURATION_RE = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*([smhdw]?)\s*")
_DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def _duration(text: str) -> float:
    """Seconds from ``90m``, ``12h``, ``7d``, ``2w`` or a bare number of seconds; NaN if neither."""
    match = _DURATION_RE.fullmatch(text.lower())
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)] if match else math.nan


def age(text: str) -> float:
    """``--keep``: how old a row may get."""
    seconds = _duration(text)
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an age: give a positive number with s, m, h, d or w"
        )
    return seconds


def count(text: str) -> int:
    """A positive whole number; ``100k`` and ``1M`` are accepted (a thousand, a million)."""
    digits = text.strip().replace("_", "").lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(digits[-1:], 1)
    if scale != 1:
        digits = digits[:-1]
    if not digits.isascii() or not digits.isdigit() or int(digits) * scale < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number (e.g. 100000 or 100k)")
    return int(digits) * scale


#: RabbitMQ keeps TTLs in milliseconds as an unsigned 32-bit number: at most ~49.7 days.
MAX_QUEUE_TTL = (2**32 - 1) / 1000


def queue_name(text: str) -> str:
    """A name RabbitMQ accepts for a queue evtop declares (it refuses ``amq.`` names)."""
    if not text or len(text.encode("utf-8")) > 255 or not text.isprintable() or text.startswith("amq."):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a queue name evtop can declare: 1 to 255 bytes, printable,"
            " not starting with amq. (e.g. celeryev.camera)"
        )
    return text


def queue_ttl(text: str) -> float:
    """``--queue-ttl``: seconds up to RabbitMQ's TTL limit."""
    seconds = _duration(text)
    if not (math.isfinite(seconds) and 1 <= seconds <= MAX_QUEUE_TTL):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a valid duration: give seconds (or 30m, 12h, 7d) from 1 s to 49 days"
        )
    return seconds


def transport_option(text: str) -> tuple[str, Any]:
    """``key=value``; the value is read as JSON when it parses (numbers, true, "..."), else text."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not _KEY_RE.fullmatch(key):
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (e.g. global_keyprefix=myapp:)")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def management_url(text: str) -> str:
    try:
        return validate_management_url(text)
    except BrokerURLError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def loglevel(text: str) -> str:
    level = text.strip().upper()
    if level not in LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a log level: choose from {', '.join(LEVELS)}")
    return level


def time_zone(text: str) -> Zone:
    from evtop.zones import parse_zone  # here: zoneinfo is needed only when --tz is given

    try:
        return parse_zone(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser(prog: str = "evtop") -> EvtopArgumentParser:
    parser = EvtopArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action=_VersionAction, help="show program's version number and exit")
    parser.add_argument(
        "--print-completion",
        metavar="SHELL",
        choices=SHELLS,
        action=PrintCompletion,
        help=f"print the completion script for SHELL ({', '.join(SHELLS)}) and exit (README: installing it)",
    )

    broker = parser.add_argument_group("broker")
    broker.add_argument(
        "-b",
        "--broker",
        metavar="URL",
        help="broker URL; default: the -A app's, then $EVTOP_BROKER, $EVTOP_BROKER_URL, $CELERY_BROKER_URL,"
        " then amqp://guest@localhost//",
    )
    broker.add_argument(
        "-A",
        "--app",
        metavar="APP",
        help="Celery app (module or module:attribute); when celery is importable, take the broker URL, "
        "transport options and exchange names from it",
    )
    broker.add_argument(
        "--transport-option",
        metavar="KEY=VALUE",
        type=transport_option,
        action="append",
        default=[],
        dest="transport_options",
        help="kombu transport option, repeatable; must match the workers' (e.g. global_keyprefix=app:)",
    )
    broker.add_argument(
        "--management-url",
        metavar="URL",
        type=management_url,
        help="RabbitMQ: its management HTTP API, http(s)://user:password@host:15672, so the queue"
        " screen, queues and the Prometheus sink list every queue with its unacknowledged messages"
        " (without it only the queues the workers consume or the events name are read)",
    )
    broker.add_argument(
        "--accept-msgpack",
        action="store_true",
        help="also accept msgpack event bodies (JSON only by default; pickle and yaml never)",
    )
    broker.add_argument(
        "--read-only",
        action="store_true",
        help="never publish anything: no worker wake-up, every control command refused, workers not"
        " asked for their queues (queue depths are still read)",
    )
    broker.add_argument(
        "--queue",
        metavar="NAME",
        type=queue_name,
        help="RabbitMQ: read events from the durable queue NAME (declared if missing, kept when evtop"
        " exits), so a restart or a network blip loses nothing; the queue fills while evtop is away",
    )
    broker.add_argument(
        "--queue-ttl",
        metavar="SECONDS",
        type=queue_ttl,
        default=None,
        help=f"with --queue: the broker drops events older than this, and deletes the queue once no"
        f" evtop has read it for as long (default {DEFAULT_QUEUE_TTL:g}, a day; 12h and 7d work too)",
    )
    broker.add_argument(
        "--queue-max-length",
        metavar="N",
        type=count,
        default=None,
        help=f"with --queue: keep at most N messages, dropping the oldest first"
        f" (default {DEFAULT_QUEUE_MAX_LENGTH:,}, about 100 MB of broker memory; 1M works too)",
    )
    broker.add_argument(
        "--reader",
        choices=[reader.value for reader in Reader],
        default=None,
        help="TUI, camera and doctor: read and decode the broker's events in a second process, or in a"
        " thread of evtop's own; auto (the default) uses a process on Redis when evtop may use two"
        " processors (affinity, cgroup CPU quota): 1.5-1.7x the events per second (README: Performance)",
    )
    broker.add_argument(
        "--wakeup",
        action="store_true",
        help="on connecting, ask every worker for a heartbeat so all show at once (one publish;"
        " the TUI does this unless --read-only, --dump and --camera only with this option)",
    )

    modes = parser.add_argument_group("modes (default: the live TUI)")
    modes.add_argument("-d", "--dump", action="store_true", help="print every event, one line each")
    modes.add_argument(
        "--json", action="store_true", help="with --dump: one JSON object per line (schema v1)"
    )
    modes.add_argument(
        "--no-color", action="store_true", help="no colour in the TUI or --dump output (also: $NO_COLOR)"
    )
    modes.add_argument(
        "--tz",
        metavar="ZONE",
        type=time_zone,
        default=None,
        help="time zone of the times shown (the TUI, doctor, messages on stderr): local (the"
        " default), UTC, or Area/City such as Europe/Paris; --dump lines keep celery's UTC format"
        " unless --tz is given",
    )
    modes.add_argument(
        "--no-mouse",
        action="store_true",
        help="TUI: leave the mouse to the terminal; by default a click selects a row, a screen or"
        " a sort column, and the wheel scrolls (Shift+drag still selects text)",
    )
    modes.add_argument(
        "-c",
        "--camera",
        metavar="CLASS",
        help="run a snapshot camera (module.Class or module:Class, found in the current directory too);"
        " a URL is a sink, as with --sink",
    )
    modes.add_argument(
        "--sink",
        metavar="URL",
        action="append",
        default=[],
        dest="sinks",
        help="camera: write each snapshot to URL, repeatable: sqlite:///FILE.db, postgresql://USER@HOST/DB,"
        " jsonl:///FILE.jsonl, prometheus://127.0.0.1:9808 (and plugins: --list-sinks)",
    )
    modes.add_argument(
        "--keep",
        metavar="AGE",
        type=age,
        default=None,
        help="with --sink: delete SQL rows older than AGE (90m, 12h, 7d, 2w) at the start and every hour;"
        " default: keep everything",
    )
    modes.add_argument(
        "--list-sinks",
        action="store_true",
        help="list the sink URL schemes (built-in and plugins), whether each is ready to use, and exit",
    )
    modes.add_argument(
        "-F",
        "--frequency",
        "--freq",
        metavar="SECONDS",
        type=frequency,
        default=None,
        help="camera: seconds between snapshots (default 1.0)",
    )
    modes.add_argument(
        "-r",
        "--maxrate",
        metavar="RATE",
        type=rate,
        help="camera: at most RATE snapshots (N, N/s, N/m, N/h); a skipped one keeps the state for the next",
    )
    modes.add_argument("--demo", action="store_true", help="watch a simulated cluster instead of a broker")
    modes.add_argument("--replay", metavar="FILE", help="read events from a recording instead of a broker")
    modes.add_argument(
        "--speed",
        metavar="N|max",
        type=speed,
        default=None,
        help="with --replay: N times real time (default 1), or max for as fast as possible",
    )
    modes.add_argument(
        "--max-tasks",
        metavar="N",
        type=count,
        default=None,
        help=f"TUI and camera: keep at most N tasks in memory, the oldest forgotten first"
        f" (default {DEFAULT_MAX_TASKS:,}, as celery; 100k or 1M also work)",
    )
    modes.add_argument(
        "--max-workers",
        metavar="N",
        type=count,
        default=None,
        help=f"TUI and camera: keep at most N workers in memory (default {DEFAULT_MAX_WORKERS:,}, as celery)",
    )
    modes.add_argument(
        "--record",
        metavar="FILE",
        help="also write every received event to FILE as JSON lines (.gz compresses)",
    )

    daemon = parser.add_argument_group("logging and daemon")
    daemon.add_argument(
        "-l",
        "--loglevel",
        metavar="LEVEL",
        type=loglevel,
        help="DEBUG, INFO, WARNING (default), ERROR",
    )
    daemon.add_argument(
        "-f",
        "--logfile",
        metavar="FILE",
        help="log to FILE instead of stderr (appended, mode 0600; a link or device is refused)",
    )
    daemon.add_argument(
        "--pidfile", metavar="FILE", help="write the process id to FILE; refuse to start if it is held"
    )
    daemon.add_argument(
        "--detach",
        action="store_true",
        help="camera: run in the background once started (needs --logfile; --pidfile holds the daemon's pid)",
    )
    _add_commands(parser)
    return parser


def control_description() -> str:
    """What ``evtop control --help`` and the man page say of the control commands."""
    from evtop.control.commands import CONFIRM_NOTE

    return f"""\
Send a remote-control command to the Celery workers (all of them, or the --destination
ones) and print each worker's reply. Exit status 0 when at least one worker replied ok,
1 when none did, 2 on a bad command line.

{textwrap.fill(CONFIRM_NOTE, 88)}"""


#: Prefix of the argparse destinations of control values, apart from the global options.
CONTROL_DEST = "ctl_"


DOCTOR_DESCRIPTION = """\
Listen to the broker for a while (or read a recording given with --replay before
'doctor'), then report: whether the broker was reached and events arrive (and if not, the
likely causes), each worker (online, last heard, clock skew, events per second, task
starts its heartbeats counted that no event showed), tasks lost on workers that went
offline, and outages. Exit status 0 when nothing is wrong, 1 when something is, 2 on a
bad command line."""

#: Prefix of the argparse destinations of ``evtop doctor``'s own options.
DOCTOR_DEST = "doctor_"


def seconds(low: float, high: float = math.inf, *, zero: bool = False) -> Callable[[str], float]:
    """An argparse type: a number of seconds above ``low`` (or 0 when ``zero``), up to ``high``."""
    span = (
        f"from 0 to {high:g}" if zero else f"above {low:g}" + (f" up to {high:g}" if high < math.inf else "")
    )

    def check(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not ((zero and value == 0) or low < value <= high):
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds {span}")
        return value

    return check


def _describe(parser: EvtopArgumentParser, description: str, examples: Iterable[str]) -> None:
    """Set what a command's ``--help`` says above and below its options."""
    parser.description = description
    parser.epilog = "examples:\n" + "\n".join(f"  {example}" for example in examples)


def _fill_doctor(doctor: EvtopArgumentParser) -> None:
    _describe(
        doctor,
        DOCTOR_DESCRIPTION,
        (
            "evtop -b redis://localhost:6379/0 doctor",
            "evtop -b amqp://guest@rabbit// doctor --listen 30 --json",
            "evtop --replay events.jsonl.gz doctor",
        ),
    )
    doctor.add_argument(
        "--listen",
        metavar="SECONDS",
        type=seconds(0),
        dest=DOCTOR_DEST + "listen",
        help=f"seconds to listen to a live broker (default {DEFAULT_LISTEN:g})",
    )
    doctor.add_argument(
        "--json", action="store_true", dest=DOCTOR_DEST + "json", help="print the report as one JSON object"
    )


QUEUES_DESCRIPTION = """\
Show how many messages wait in each task queue, how many consumers it has, which workers
consume it (from their active_queues; not asked with --read-only) and the change per
second. On Redis every queue kombu has bound is found, priority sub-queues included; on
RabbitMQ name the queues, or give --management-url (a global option) to list them all,
with their unacknowledged messages. Nothing is declared, purged or published to a queue.
A line on stderr says where the depths come from. Exit status 1 when a named queue does
not exist."""

#: Prefix of the argparse destinations of ``evtop queues``'s own options.
QUEUES_DEST = "queues_"


def _fill_queues(queues: EvtopArgumentParser) -> None:
    _describe(
        queues,
        QUEUES_DESCRIPTION,
        (
            "evtop -b redis://localhost:6379/0 queues",
            "evtop -b amqp://guest@rabbit// queues celery priority --json",
            "evtop -b amqp://guest@rabbit// queues --management-url http://guest:guest@rabbit:15672",
        ),
    )
    queues.add_argument(
        "names", metavar="NAME", nargs="*", help="only these queues (default: every task queue)"
    )
    queues.add_argument(
        "--interval",
        metavar="SECONDS",
        type=seconds(0, 60, zero=True),
        dest=QUEUES_DEST + "interval",
        help="seconds between the two readings that give the change per second (default 1; 0: one)",
    )
    queues.add_argument(
        "--json", action="store_true", dest=QUEUES_DEST + "json", help="print a JSON list of the queues"
    )


def _add_commands(parser: EvtopArgumentParser) -> None:
    """``evtop doctor``, ``evtop queues`` and ``evtop control``: named now, each parser filled
    in when used (see :meth:`EvtopArgumentParser.filled`)."""
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, summary, fill in (
        ("doctor", "listen for a while, then report what evtop can and cannot see", _fill_doctor),
        ("queues", "messages waiting in each task queue, consumers and trend", _fill_queues),
        ("control", "send a remote-control command to the workers", _fill_control),
    ):
        subcommands.add_parser(
            name,
            help=f"{summary} (evtop {name} --help)",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            root=parser,
            allow_abbrev=False,
            fill=functools.partial(_fill_command, fill=fill),
        )


def _fill_command(command: EvtopArgumentParser, fill: Callable[[EvtopArgumentParser], None]) -> None:
    """Fill in a command's parser, then repeat the global options in it and below it."""
    fill(command)
    assert command.root is not None
    _accept_global_options_after_commands(command.root, [command, *_descendants(command)])


def _fill_control(control: EvtopArgumentParser) -> None:
    """``evtop control COMMAND ...``: one subparser per entry of the command table."""
    from evtop.control.commands import COMMANDS

    _describe(control, control_description(), (c.example for c in COMMANDS.values() if c.example))
    actions = control.add_subparsers(
        dest="control_command", metavar="COMMAND", title="commands", required=True
    )
    for command in COMMANDS.values():
        aliases = [command.name] if command.name != command.cli_name else []
        sub = actions.add_parser(
            command.cli_name,
            aliases=aliases,
            help=command.summary,
            description=f"{command.summary}. {command.note}".strip(),
            root=control.root,
            allow_abbrev=False,
        )
        for param in command.params:
            _add_param(sub, param)
        _add_control_options(sub)


def _add_param(parser: argparse.ArgumentParser, param: Param) -> None:
    dest = CONTROL_DEST + param.name
    if param.flag:
        parser.add_argument(param.option or "", dest=dest, action="store_true", help=param.help)
    elif param.option:
        parser.add_argument(param.option, dest=dest, metavar=param.metavar, help=param.help)
    else:
        nargs = ("+" if param.required else "*") if param.many else (None if param.required else "?")
        parser.add_argument(dest, metavar=param.metavar, nargs=nargs, help=param.help)


def _add_control_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("control options")
    group.add_argument(
        "--destination",
        metavar="W1,W2",
        action="append",
        dest=CONTROL_DEST + "destination",
        help="only these workers (nodenames, comma-separated, repeatable); default: all workers",
    )
    group.add_argument(
        "--timeout",
        metavar="S",
        dest=CONTROL_DEST + "timeout",
        help="seconds to wait for replies in total (default 1.0)",
    )
    group.add_argument(
        "--json", action="store_true", dest=CONTROL_DEST + "json", help="print the result as one JSON object"
    )
    group.add_argument(
        "--yes",
        action="store_true",
        dest=CONTROL_DEST + "yes",
        help="do not ask before a destructive command (needed when stdin is not a terminal)",
    )


def control_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of ``evtop control NAME`` (the man page reads its options)."""
    return _subparsers(_subparsers(parser)["control"])[name]


def subcommand_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of ``evtop doctor`` or ``evtop queues`` (the man page reads its options)."""
    return _filled(_subparsers(parser)[name])


def _commands_action(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[Any] | None:
    for action in _filled(parser)._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    """The commands of ``parser``, as its help lists them (without their aliases)."""
    action = _commands_action(parser)
    return [] if action is None else [choice.dest for choice in action._get_subactions()]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = _commands_action(parser)
    return {} if action is None else dict(action.choices)


class _VersionAction(argparse._VersionAction):
    """``--version``, its text made when asked for: reading the installed packages'
    metadata costs a run that does not ask for it more than the rest of its parsing."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        self.version = version_text()
        super().__call__(parser, *args, **kwargs)


def version_text() -> str:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for name in ("kombu", "urwid", "blessed"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} missing")
    return f"evtop {__version__} ({', '.join(parts)}, Python {platform.python_version()})"


#: Options that act (print and exit) rather than set something: not taken from the
#: environment, and not repeated after a command.
ACTIONS = frozenset({"help", "version", "print_completion", "list_sinks"})
#: Destination prefix of the global options repeated (hidden) in the commands' parsers.
AFTER_COMMAND = "after_command__"


AFTER_COMMAND_NOTE = "The global options (evtop --help) may come after the command too: {prog} -b URL."


def _accept_global_options_after_commands(
    root: EvtopArgumentParser, commands: Iterable[argparse.ArgumentParser]
) -> None:
    """``evtop control ping -b URL`` works as ``evtop -b URL control ping`` does.

    Each command's parser gets a hidden copy of every global option it does not define
    itself (``doctor --json`` stays doctor's). The copies store under their own names and
    no default, so an option given only before the command keeps its value;
    :func:`_fold_after_command` then merges them into the global ones.
    """
    globals_ = [a for a in root._actions if a.option_strings and a.dest not in ACTIONS]
    for sub in commands:
        note = AFTER_COMMAND_NOTE.format(prog=sub.prog)
        sub.epilog = f"{sub.epilog}\n\n{note}" if sub.epilog else note
        for action in globals_:
            if not any(name in sub._option_string_actions for name in action.option_strings):
                hidden = copy.copy(action)
                hidden.dest, hidden.default, hidden.help = (
                    AFTER_COMMAND + action.dest,
                    argparse.SUPPRESS,
                    argparse.SUPPRESS,
                )
                sub._add_action(hidden)


def _fold_after_command(args: argparse.Namespace) -> None:
    """Given after the command, a global option wins; a repeatable one adds to the list."""
    for key in [k for k in vars(args) if k.startswith(AFTER_COMMAND)]:
        dest, value = key[len(AFTER_COMMAND) :], getattr(args, key)
        before = getattr(args, dest)
        setattr(args, dest, before + value if isinstance(value, list) and before else value)
        delattr(args, key)


@dataclass(frozen=True)
class FromEnvironment:
    """An option's value taken from ``EVTOP_<OPTION>``: which variable, and the value it replaced."""

    variable: str
    default: Any


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def environment_variable(action: argparse.Action) -> str:
    """``--max-tasks`` is ``EVTOP_MAX_TASKS``: the first long option's name."""
    long = next(s for s in action.option_strings if s.startswith("--"))
    return "EVTOP_" + long[2:].upper().replace("-", "_")


def _from_environment(
    parser: argparse.ArgumentParser, action: argparse.Action, variable: str, text: str
) -> Any:
    """The value of ``action`` given as text in ``variable``, converted and checked as argparse does."""
    if action.nargs == 0:  # a flag
        word = text.strip().lower()
        if word not in _TRUE | _FALSE:
            raise UsageError(
                f"${variable}: {text!r} is not a yes/no value: give 1 or 0 (true/false, yes/no, on/off)"
            )
        return action.const if word in _TRUE else action.default
    try:
        words = shlex.split(text) if isinstance(action, argparse._AppendAction) else [text]
    except ValueError as exc:
        raise UsageError(f"${variable}: {exc}") from None
    values = []
    for word in words:
        try:
            values.append(parser._get_values(action, [word]))
        except argparse.ArgumentError as exc:
            raise UsageError(f"${variable}: {exc.message}") from None
    return values if isinstance(action, argparse._AppendAction) else values[0]


def environment_variables(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    """Each ``EVTOP_<OPTION>`` variable and the options it stands for (the man page lists them)."""
    parsers = [parser, *(_filled(sub) for name, sub in _subparsers(parser).items() if name != "control")]
    found: dict[str, list[str]] = {}
    for owner in parsers:
        for action in owner._actions:
            if action.option_strings and action.dest not in ACTIONS and action.help != argparse.SUPPRESS:
                names = found.setdefault(environment_variable(action), [])
                names += [name for name in action.option_strings if name not in names]
    return [(variable, ", ".join(names)) for variable, names in found.items()]


def apply_environment(
    parser: argparse.ArgumentParser, args: argparse.Namespace, environ: Mapping[str, str]
) -> dict[str, FromEnvironment]:
    """Fill the options the command line left unset from their ``EVTOP_<OPTION>`` variables.

    Covers the global options and those of the command given (``doctor``, ``queues``; a
    control command's options, ``--yes`` above all, are typed each time). An empty
    variable counts as unset. Returns, per destination, where each value came from: the
    resolver drops those that do not apply to the mode instead of refusing them.
    """
    parsers = [parser]
    command = _subparsers(parser).get(getattr(args, "command", None) or "")
    if command is not None and args.command != "control":
        parsers.append(_filled(command))
    taken: dict[str, FromEnvironment] = {}
    for owner in parsers:
        for action in owner._actions:
            if (
                not action.option_strings
                or action.dest in ACTIONS
                or action.dest.startswith(AFTER_COMMAND)
                or getattr(args, action.dest, None) is not action.default
            ):
                continue
            variable = environment_variable(action)
            text = environ.get(variable, "")
            if text.strip():
                setattr(args, action.dest, _from_environment(owner, action, variable, text))
                taken[action.dest] = FromEnvironment(variable, action.default)
    return taken


def parse(parser: EvtopArgumentParser, argv: Sequence[str], environ: Mapping[str, str]) -> argparse.Namespace:
    """The command line, completed from the environment; ``args.from_environment`` says what came from it."""
    args = parser.parse_args(list(argv))
    args.from_environment = apply_environment(parser, args, environ)
    return args


SHELLS = ("bash", "zsh", "fish")


class PrintCompletion(argparse.Action):
    """``--print-completion SHELL``: the script shtab generates from evtop's parser."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option: Any = None
    ) -> None:
        parser._print_message(completion_script(parser.prog, str(values)))
        parser.exit(0)


def completion_script(prog: str, shell: str) -> str:
    """The script for ``shell``, from a parser of its own: files complete where a FILE is
    asked for, and each command is offered once, by its CLI name (``rate-limit``, not
    also celery's ``rate_limit``, which still works when typed)."""
    try:
        import shtab
    except ImportError:
        raise EvtopError(
            "completion scripts are made with shtab, which is not installed here:"
            " pip install 'evtop[completion]' (or pip install shtab)"
        ) from None
    parser = build_parser(prog)
    for action in parser._actions:
        if action.metavar == "FILE":
            action.complete = shtab.FILE  # type: ignore[attr-defined]
    for sub in [parser, *_descendants(parser)]:
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                for alias in [
                    name for name, child in action.choices.items() if child.prog.split()[-1] != name
                ]:
                    del action.choices[alias]
    return str(shtab.complete(parser, shell=shell))
