"""The command line: every bad value is one line on stderr, exit 2, no traceback, no secret."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from evtop.broker.config import DEFAULT_QUEUE_MAX_LENGTH, DEFAULT_QUEUE_TTL, DurableQueue
from evtop.cli import main
from evtop.cli.parser import build_parser, parse
from evtop.cli.resolve import resolve
from evtop.env import Environment
from evtop.errors import EvtopError
from evtop.events.process.source import ProcessReceiver
from evtop.events.receiver import Receiver
from evtop.options import Mode, Reader, Source
from evtop.pidfile import PidFile
from evtop.runner import event_stream
from evtop.tui.mode import NO_TERMINAL

ROOT = Path(__file__).resolve().parents[3]


def run(*argv: str, environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), Environment(stdout=out, stderr=err, stdin=io.StringIO(), environ=environ or {}))
    return status, out.getvalue(), err.getvalue()


def options(*argv: str, environ: dict[str, str] | None = None):
    return resolve(build_parser().parse_args(list(argv)), environ or {})


BAD = [
    (["--frequency", "0"], "--frequency"),
    (["--frequency", "-1"], "--frequency"),
    (["--frequency", "nan"], "--frequency"),
    (["--frequency", "inf"], "--frequency"),
    (["--frequency", "1e-9"], "--frequency"),
    (["--frequency", "abc"], "--frequency"),
    (["-c", "m.C", "--maxrate", "10/x"], "unknown unit"),
    (["-c", "m.C", "--maxrate", "-1/s"], "--maxrate"),
    (["-c", "m.C", "--maxrate", "nan/s"], "--maxrate"),
    (["-b", "foo://x"], "unsupported scheme"),
    (["-b", "redis://h:99999"], "port"),
    (["-b", "amqp://u:p#ss@h//"], "%23"),
    (["-b", "amqp://u:p@ss@h//"], "@"),
    (["-b", "rediss://h/0?password=pw"], "kombu cannot use"),
    (["--dump", "--camera", "m.C"], "choose one"),
    (["--json"], "--json only applies to --dump"),
    (["--demo", "--replay", "f.jsonl"], "choose one"),
    (["--demo", "-b", "redis://localhost"], "--demo"),
    (["--replay", "f", "--record", "g"], "--record"),
    (["--speed", "2", "--dump"], "--speed only applies to --replay"),
    (["--detach", "--dump"], "--detach"),
    (["--dump", "--frequency", "2"], "--frequency only applies"),
    (["--transport-option", "novalue"], "KEY=VALUE"),
    (["-l", "LOUD"], "log level"),
    (["--dumpp"], "did you mean --dump"),
    (["--replay", "f", "--speed", "0"], "speed"),
    (["--dump", "--wakeup", "--read-only"], "drop --wakeup"),
    (["--replay", "f", "--wakeup"], "--wakeup needs a broker"),
    (["--wakeup", "control", "ping"], "--wakeup does not apply"),
    (["--tz", "Mars/Olympus"], "--tz: 'Mars/Olympus' is not a time zone here"),
    (["--tz", ""], "is not a time zone here"),
    (["--max-tasks", "0"], "--max-tasks: '0' is not a positive whole number"),
    (["--max-tasks", "-5"], "positive whole number"),
    (["--max-tasks", "1.5"], "positive whole number"),
    (["--max-tasks", "ten"], "positive whole number"),
    (["--max-tasks", "k"], "positive whole number"),
    (["--max-tasks", "١٢"], "positive whole number"),  # Arabic-Indic digits
    (["--max-workers", ""], "--max-workers"),
    (["--dump", "--max-tasks", "100"], "--dump and control commands keep none"),
    (["--max-workers", "3", "control", "ping"], "--max-tasks and --max-workers apply to the TUI"),
    (["--queue", "celeryev.cam", "-b", "redis://localhost/0"], "Redis pub/sub hands an event only to"),
    (["--queue", "celeryev.cam", "-b", "memory://"], "--queue needs RabbitMQ (amqp://)"),
    (["--queue", "amq.gen-1"], "not starting with amq."),
    (["--queue", ""], "is not a queue name"),
    (["--queue", "a\x1b[2Jb"], "printable"),
    (["--queue", "q" * 256], "1 to 255 bytes"),
    (["--queue-ttl", "60"], "only apply with --queue"),
    (["--queue-max-length", "5"], "only apply with --queue"),
    (["--queue", "q", "--queue-ttl", "0"], "--queue-ttl: '0' is not a valid duration"),
    (["--queue", "q", "--queue-ttl", "50d"], "from 1 s to 49 days"),
    (["--queue", "q", "--queue-ttl", "soon"], "30m, 12h, 7d"),
    (["--queue", "q", "--queue-max-length", "-1"], "positive whole number"),
    (["--queue", "q", "--demo"], "--demo and --replay have none"),
    (["--queue", "q", "--replay", "f"], "--demo and --replay have none"),
    (["--queue", "q", "control", "ping"], "--queue does not apply to control commands"),
    (["--keep", "7d"], "--keep only applies to --sink"),
    (["--sink", "sqlite:///x.db", "--keep", "7x"], "is not an age"),
    (["--sink", "sqlite:///x.db", "--keep", "0"], "is not an age"),
    (["--sink", "sqlite:///x.db", "--keep", "inf"], "is not an age"),
    (["-c", "m.C", "--sink", "sqlite:///x.db"], "two different cameras: choose one"),
    (["-c", "sqlite:///x.db", "--sink", "sqlite:///x.db"], "--sink sqlite:///x.db is given twice"),
    (["--dump", "--sink", "sqlite:///x.db"], "choose one"),
    (["--sink", "sqlite:///x.db", "control", "ping"], "do not combine with --dump, --camera, --sink"),
    (["--demo", "--sink", "nosuch://x"], "--sink nosuch://x: no sink for nosuch://"),
    (["--demo", "--sink", "sqlite://host/x.db"], "has no host"),
    (["--demo", "--sink", "jsonl:///no/such/dir/x"], "directory no/such/dir does not exist"),
    (["--demo", "--sink", "prometheus://127.0.0.1:99999"], "port must be a number"),
    (["--demo", "-c", "postgres://u@h/db"], "did you mean postgresql?"),
    (["--reader", "fork"], "argument --reader: invalid choice: 'fork'"),
    (["--dump", "--reader", "process"], "--reader applies to the TUI, --camera, --sink and doctor"),
    (["--reader", "thread", "control", "ping"], "--reader applies to the TUI"),
    (["--demo", "--reader", "process"], "--demo and --replay have their events in evtop's own process"),
    (["--replay", "f", "--reader", "process"], "--reader process reads a broker"),
    (["--queue", "q", "--reader", "process"], "--reader process does not combine with --queue"),
    (["-b", "memory://", "--reader", "process"], "memory:// lives inside one process"),
    (["control"], "which command? ping, revoke, terminate, rate-limit, time-limit, enable-events"),
    (["control"], "query-task (evtop control --help says more)"),
]


@pytest.mark.parametrize(("argv", "hint"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_arguments_are_one_line_exit_2(argv, hint):
    status, out, err = run(*argv)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("evtop: error: ")
    assert hint in err
    assert "Traceback" not in err


def test_the_tui_without_a_terminal_says_so():
    status, out, err = run("--demo")  # run() gives no terminal: stdin and stdout are StringIO
    assert status == 2 and out == ""
    assert err == f"evtop: error: {NO_TERMINAL}\n"


SECRETS = [
    ("amqp://user:p%23ss@h//", "p#ss"),
    ("amqp://user:hunter2@h:99999//", "hunter2"),
    ("redis://:s3cr3t@h1:6379/0;redis://:s3cr3t@h2:6379/0", "s3cr3t"),
    ("amqp://u:p#ss@h//", "p#ss"),
    ("amqp://u:p@ss@h//", "p@ss"),
    ("rediss://h/0?password=topsecret", "topsecret"),
]


@pytest.mark.parametrize(
    "argv",
    [
        ("--demo", "--sink", "postgresql://evtop:s3cr3t@h:99999/db"),
        ("--demo", "-c", "postgresql://evtop:s3cr3t@h/db?nosuchoption=1"),
        ("--demo", "--sink=postgresql://evtop:s3cr3t@h/db", "--sink=postgresql://evtop:s3cr3t@h/db"),
        ("--sink", "postgresql://evtop:s3cr3t@h/db", "--frequency", "0"),
        ("--sink", "postgresql://evtop:s3cr3t@h/db", "--dump"),
    ],
)
def test_sink_passwords_never_appear_in_errors(argv):
    status, out, err = run(*argv)
    assert status == 2 and err.startswith("evtop: error: ")
    assert "s3cr3t" not in out + err


@pytest.mark.parametrize(("url", "secret"), SECRETS)
def test_passwords_never_appear_in_errors(url, secret):
    for argv, environ in (
        (["-b", url, "--dump", "--json", "--camera", "x.Y"], {}),
        (["-b", url, "--frequency", "0"], {}),
        (["--dump", "--camera", "x.Y"], {"EVTOP_BROKER_URL": url}),
        (["-b", url], {}),
    ):
        status, out, err = run(*argv, environ=environ)
        assert status == 2
        assert secret not in out + err


def test_broker_url_precedence():
    env = {"EVTOP_BROKER_URL": "redis://evtop-env//", "CELERY_BROKER_URL": "redis://celery-env//"}
    assert options("--dump", "-b", "redis://flag/0", environ=env).broker.url == "redis://flag/0"
    assert options("--dump", environ=env).broker.url == "redis://evtop-env//"
    assert (
        options("--dump", environ={"CELERY_BROKER_URL": "redis://celery-env//"}).broker.url
        == "redis://celery-env//"
    )
    assert options("--dump").broker.url == "amqp://guest@localhost//"
    status, _, err = run("--dump", environ={"EVTOP_BROKER_URL": "nope://x"})
    assert status == 2 and "$EVTOP_BROKER_URL" in err


def test_transport_options_are_parsed_as_json_or_text():
    opts = options(
        "--dump",
        "--transport-option",
        "global_keyprefix=app:",
        "--transport-option",
        "visibility_timeout=30",
        "--transport-option",
        "fanout_patterns=true",
    )
    assert dict(opts.broker.transport_options) == {
        "global_keyprefix": "app:",
        "visibility_timeout": 30,
        "fanout_patterns": True,
    }


def test_app_settings_are_taken_from_a_celery_app(monkeypatch, tmp_path):
    (tmp_path / "evtop_cli_test_app.py").write_text(
        "from celery import Celery\n"
        "app = Celery('x', broker='redis://from-app:6379/3', set_as_current=False)\n"
        "app.conf.broker_transport_options = {'global_keyprefix': 'pfx:'}\n"
        "app.conf.event_exchange = 'myevents'\n"
        "app.conf.control_exchange = 'myctl'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    opts = options("--dump", "-A", "evtop_cli_test_app:app")
    assert opts.broker.url == "redis://from-app:6379/3"
    assert dict(opts.broker.transport_options) == {"global_keyprefix": "pfx:"}
    assert (opts.broker.event_exchange, opts.broker.control_exchange) == ("myevents", "myctl")
    assert (
        options("--dump", "-A", "evtop_cli_test_app:app", "-b", "redis://flag/0").broker.url
        == "redis://flag/0"
    )
    status, _, err = run("--dump", "-A", "no_such_module_xyz")
    assert status == 2 and "cannot load the app" in err


def test_sinks_are_a_camera_and_dash_c_with_a_url_is_one():
    chosen = options("--sink", "sqlite:///a.db", "--sink", "jsonl:///b.jsonl", "--keep", "7d", "-F", "2")
    assert (chosen.mode, chosen.camera, chosen.sinks) == (
        Mode.CAMERA,
        None,
        ("sqlite:///a.db", "jsonl:///b.jsonl"),
    )
    assert (chosen.keep, chosen.frequency) == (7 * 86400, 2.0)
    chosen = options("-c", "sqlite:///a.db", "--sink", "prometheus://")
    assert (chosen.camera, chosen.sinks) == (None, ("sqlite:///a.db", "prometheus://"))
    assert options("--sink", "sqlite:///a.db", "--keep", "90m").keep == 5400
    assert options("--sink", "sqlite:///a.db", "--keep", "3600").keep == 3600


def test_list_sinks_shows_every_scheme_and_starts_nothing():
    status, out, err = run("--list-sinks", "-b", "redis://:s3cr3t@nowhere:1/0")
    assert (status, err) == (0, "")
    assert [line.split()[0] for line in out.splitlines() if not line.startswith(" ")] == [
        "jsonl",
        "postgresql",
        "prometheus",
        "sqlite",
    ]
    assert "ready; e.g. sqlite:///evtop.db" in out


def test_modes_and_sources():
    assert options("--demo", "--dump").source is Source.DEMO
    assert options("--replay", "x.jsonl", "--dump", "--speed", "max").speed == float("inf")
    assert options("--dump").mode is Mode.DUMP and options().mode is Mode.TUI
    assert options("-c", "m.C", "-F", "2.5", "-r", "10/m").frequency == 2.5
    assert options("--dump", "--no-color").color is False
    assert options("--dump", environ={"NO_COLOR": "1"}).color is False


@pytest.mark.parametrize(
    ("argv", "wakeup"),
    [
        ((), True),
        (("--read-only",), False),
        (("--dump",), False),
        (("--dump", "--wakeup"), True),
        (("-c", "m.C"), False),
        (("-c", "m.C", "--wakeup"), True),
        (("--demo", "--dump"), False),
        (("--demo",), True),
    ],
)
def test_only_the_tui_wakes_workers_unless_asked(argv, wakeup):
    """Dump and camera modes publish nothing by default, so a read-only broker user works."""
    chosen = options(*argv)
    assert chosen.wakeup is wakeup
    with event_stream(chosen, lambda event: None) as (_, source):
        receiver = getattr(source, "receiver", source)
        assert isinstance(receiver, Receiver) and receiver.wakeup is wakeup


@pytest.mark.parametrize(
    ("argv", "process"),
    [
        (("-b", "redis://h:6379/0"), True),
        (("-b", "rediss://h:6379/0", "-c", "m.C"), True),
        (("-b", "sentinel://h:26379", "doctor"), True),
        (("-b", "redis://h:6379/0", "--reader", "thread"), False),
        (("-b", "redis://h:6379/0", "--dump"), False),  # lines are written as each message ends
        (("-b", "redis://h:6379/0", "--accept-msgpack"), False),
        (("-b", "amqp://guest@h//"), False),
        (("-b", "amqp://guest@h//", "--reader", "process"), True),
        (("-b", "memory://"), False),
        (("--demo",), False),
    ],
)
def test_a_reader_process_where_it_pays_or_is_asked_for(argv, process, monkeypatch):
    monkeypatch.setattr("evtop.runner.usable_processors", lambda: 2)
    with event_stream(options(*argv), lambda event: None) as (_, source):
        assert isinstance(source, ProcessReceiver) is process
    monkeypatch.setattr("evtop.runner.usable_processors", lambda: 1)
    with event_stream(options(*argv), lambda event: None) as (_, source):  # one processor: no gain
        assert isinstance(source, ProcessReceiver) is ("process" in argv)


def test_a_reader_process_that_cannot_get_the_transport_options_is_refused(monkeypatch):
    asked = options("-b", "amqp://guest@h//", "--reader", "process")
    odd = replace(asked, broker=replace(asked.broker, transport_options={"ssl": object()}))
    with pytest.raises(EvtopError, match="use --reader thread"), event_stream(odd, lambda event: None):
        pass
    auto = replace(odd, reader=Reader.AUTO, broker=replace(odd.broker, url="redis://h/0"))
    monkeypatch.setattr("evtop.runner.usable_processors", lambda: 2)
    with event_stream(auto, lambda event: None) as (_, source):  # auto falls back to a thread
        assert isinstance(source, Receiver)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("1", 1), ("250000", 250_000), ("1_000_000", 1_000_000), ("100k", 100_000), ("1M", 1_000_000)],
)
def test_max_tasks_and_workers_bound_the_state(given, expected):
    chosen = options("--demo", "--max-tasks", given, "--max-workers", given)
    assert (chosen.max_tasks, chosen.max_workers) == (expected, expected)
    camera = options("--replay", "f.jsonl", "-c", "m.C", "--max-tasks", given)
    assert (camera.max_tasks, camera.max_workers) == (expected, 5_000)


def test_tz_and_no_mouse():
    default = options("--demo")
    assert default.zone is None and default.mouse  # the TUI shows local time, --dump UTC
    chosen = options("--demo", "--tz", "Asia/Tokyo", "--no-mouse")
    assert chosen.zone is not None and chosen.zone.name == "Asia/Tokyo" and not chosen.mouse
    assert options("--demo", "--dump", "--tz", "utc").zone.name == "UTC"


def test_the_state_bounds_default_to_celerys():
    chosen = options("--demo")
    assert (chosen.max_tasks, chosen.max_workers) == (10_000, 5_000)


def test_a_durable_queue_is_named_with_a_ttl_and_a_maximum_length():
    given = options(
        "-b", "amqp://guest@h//", "--queue", "celeryev.cam", "--queue-ttl", "12h", "--queue-max-length", "1M"
    )
    assert given.broker.durable_queue == DurableQueue("celeryev.cam", ttl=43200.0, max_length=1_000_000)
    default = options("-b", "amqp://guest@h//", "-c", "m.C", "--queue", "celeryev.cam").broker.durable_queue
    assert default == DurableQueue("celeryev.cam", ttl=DEFAULT_QUEUE_TTL, max_length=DEFAULT_QUEUE_MAX_LENGTH)
    assert options("--queue-ttl", "90", "--queue", "q").broker.durable_queue.ttl == 90.0  # amqp by default
    assert options("-b", "amqp://guest@h//").broker.durable_queue is None


def test_version_and_help_go_to_stdout():
    status, out, err = run("--version")
    assert status == 0 and out.startswith("evtop ") and "kombu" in out and err == ""
    status, out, err = run("--help")
    assert status == 0 and "--dump" in out and "EVTOP_BROKER_URL" in out and err == ""


def test_installed_script_and_module_agree():
    for cmd in (["evtop", "--version"], [sys.executable, "-m", "evtop", "--version"]):
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=ROOT)
        assert result.returncode == 0 and result.stdout.startswith("evtop ")
    result = subprocess.run(
        [sys.executable, "-m", "evtop", "-F", "0"], capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_pidfile_is_exclusive_and_stale_ones_are_replaced(tmp_path):
    path = tmp_path / "evtop.pid"
    with PidFile(str(path)):
        assert path.read_text().strip() == str(os.getpid())
        other = subprocess.run(
            [sys.executable, "-c", f"from evtop.pidfile import PidFile; PidFile({str(path)!r}).acquire()"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert other.returncode != 0 and "held by running process" in other.stderr
    assert not path.exists()
    path.write_text("999999\n")  # a pid that is not running
    with PidFile(str(path)):
        assert path.read_text().strip() == str(os.getpid())


def test_pidfile_refuses_a_planted_symlink(tmp_path):
    canary = tmp_path / "canary"
    canary.write_text("keep")
    link = tmp_path / "evtop.pid"
    link.symlink_to(canary)
    with PidFile(str(link)):
        pass  # the symlink is treated as a stale file and replaced, never written through
    assert canary.read_text() == "keep"


def test_man_page_is_current():
    from evtop.cli.manpage import render

    assert (ROOT / "man" / "evtop.1").read_text() == render(), "run: python tools/gen_man.py"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fooo"], "unknown option --fooo; see evtop --help"),
        (["--max-task", "5"], "unknown option --max-task; did you mean --max-tasks?"),
        (["--broker-url", "redis://h/0"], "unknown option --broker-url; did you mean --broker?"),
        (["control", "ping", "--timout", "1"], "unknown option --timout; did you mean --timeout?"),
        (["doctor", "--lisen=3"], "unknown option --lisen; did you mean --listen?"),
        (["-x"], "unknown option -x; see evtop --help"),
        (
            ["--listen", "3", "doctor"],
            "unknown option --listen; it is an option of doctor: evtop doctor --listen ...",
        ),
        (
            ["--yes", "control", "shutdown"],
            "unknown option --yes; it is an option of control COMMAND: evtop control COMMAND --yes ...",
        ),
    ],
)
def test_an_unknown_option_is_named(argv, message):
    assert run(*argv) == (2, "", f"evtop: error: {message}\n")


def test_option_values_and_negative_numbers_are_not_taken_for_options():
    assert options("-b", "amqp://h//", "--queue", "doctor").mode is Mode.TUI  # a queue named doctor
    assert options("--queue=-q-", "-b", "amqp://h//").broker.durable_queue.name == "-q-"
    assert run("-b", "memory://", "control", "pool-grow", "-1")[2].startswith(
        "evtop: error: control pool-grow:"
    )


def test_global_options_may_follow_the_command():
    after = options("control", "ping", "-b", "redis://after/0", "--read-only", "--timeout", "2")
    assert (after.broker.url, after.read_only, after.control.timeout) == ("redis://after/0", True, 2.0)
    assert options(
        "-b", "redis://before/0", "doctor", "--listen", "3", "-b", "redis://after/0"
    ).broker.url == ("redis://after/0")
    both = options("--transport-option", "a=1", "queues", "--transport-option=b=2")
    assert dict(both.broker.transport_options) == {"a": 1, "b": 2}
    assert options("doctor", "--json").json and options("queues", "--json").json  # their own --json
    status, _, err = run("control", "ping", "--dump")
    assert status == 2 and "control commands do not combine with --dump" in err


def test_every_option_can_come_from_the_environment():
    environ = {
        "EVTOP_BROKER": "redis://env/0",
        "EVTOP_READ_ONLY": "yes",
        "EVTOP_MAX_TASKS": "100k",
        "EVTOP_TRANSPORT_OPTION": "global_keyprefix=app: 'x=a b'",
        "EVTOP_LOGLEVEL": "info",
        "EVTOP_NO_COLOR": "0",
        "EVTOP_SPEED": "",  # empty: unset
    }
    chosen = resolve(parse(build_parser(), [], environ), environ)
    assert (chosen.broker.url, chosen.read_only, chosen.max_tasks, chosen.loglevel) == (
        "redis://env/0",
        True,
        100_000,
        "INFO",
    )
    assert dict(chosen.broker.transport_options) == {"global_keyprefix": "app:", "x": "a b"}
    assert chosen.color is True
    cli = resolve(parse(build_parser(), ["-b", "redis://cli/0", "--max-tasks", "5"], environ), environ)
    assert (cli.broker.url, cli.max_tasks) == ("redis://cli/0", 5)  # the command line wins
    doctor = resolve(parse(build_parser(), ["doctor"], {"EVTOP_LISTEN": "2.5"}), {})
    assert doctor.listen == 2.5


def test_an_environment_value_that_does_not_apply_is_ignored():
    environ = {
        "EVTOP_MAX_TASKS": "5",
        "EVTOP_JSON": "1",
        "EVTOP_FREQUENCY": "2",
        "EVTOP_BROKER": "redis://e/0",
    }
    dump = resolve(parse(build_parser(), ["--dump"], environ), environ)
    assert (dump.mode, dump.json, dump.max_tasks, dump.broker.url) == (Mode.DUMP, True, 10_000, "redis://e/0")
    tui = resolve(parse(build_parser(), ["--demo"], environ), environ)
    assert (tui.mode, tui.source, tui.json, tui.max_tasks) == (Mode.TUI, Source.DEMO, False, 5)
    demo = {"EVTOP_DEMO": "1"}
    assert resolve(parse(build_parser(), ["-b", "redis://cli/0"], demo), demo).source is Source.BROKER


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"EVTOP_MAX_TASKS": "ten"}, "$EVTOP_MAX_TASKS: 'ten' is not a positive whole number"),
        ({"EVTOP_READ_ONLY": "maybe"}, "$EVTOP_READ_ONLY: 'maybe' is not a yes/no value"),
        ({"EVTOP_LOGLEVEL": "LOUD"}, "$EVTOP_LOGLEVEL: 'LOUD' is not a log level"),
        ({"EVTOP_BROKER": "nope://x"}, "$EVTOP_BROKER: invalid broker URL nope://x"),
        ({"EVTOP_SINK": "'unclosed"}, "$EVTOP_SINK: No closing quotation"),
        ({"EVTOP_DUMP": "1", "EVTOP_CAMERA": "m.C"}, "choose one (set by $EVTOP_DUMP, $EVTOP_CAMERA)"),
    ],
)
def test_a_bad_environment_value_names_its_variable(environ, message):
    status, out, err = run("--demo" if "EVTOP_DUMP" in environ else "--dump", environ=environ)
    assert (status, out) == (2, "")
    assert err.startswith("evtop: error: ") and err.count("\n") == 1 and message in err


def test_help_and_the_man_page_name_the_variables():
    status, out, _ = run("--help")
    assert status == 0 and "EVTOP_<OPTION>" in out and "EVTOP_MAX_TASKS=100k" in out
    page = (ROOT / "man" / "evtop.1").read_text()
    for variable in (
        "EVTOP_MAX_TASKS",
        "EVTOP_READ_ONLY",
        "EVTOP_BROKER",
        "EVTOP_LISTEN",
        "EVTOP_MANAGEMENT_URL",
    ):
        assert f"\n{variable.replace('_', '_')} " in page.replace("\\-", "-")


def test_the_version_comes_from_one_place():
    from importlib.metadata import version

    from evtop.version import __version__

    assert version("evtop") == __version__
    assert run("--version")[1].startswith(f"evtop {__version__} (")
    assert "version = attr: evtop.version.__version__" in (ROOT / "setup.cfg").read_text()


MANAGEMENT = "http://guest:s3cret@rabbit:15672"


def test_management_url_is_a_broker_option_for_the_tui_queues_and_sinks():
    rabbit = ("-b", "amqp://guest@rabbit//")
    assert options(*rabbit, "--management-url", MANAGEMENT).broker.management_url == MANAGEMENT
    assert options(*rabbit, "queues", "--management-url", MANAGEMENT).broker.management_url == MANAGEMENT
    assert options(*rabbit, "--management-url", MANAGEMENT, "queues").broker.management_url == MANAGEMENT
    sink = options(*rabbit, "--sink", "prometheus://127.0.0.1:9808", "--management-url", MANAGEMENT)
    assert sink.broker.management_url == MANAGEMENT
    environ = {"EVTOP_MANAGEMENT_URL": MANAGEMENT}
    assert resolve(parse(build_parser(), list(rabbit), environ), environ).broker.management_url == MANAGEMENT
    assert options(*rabbit).broker.management_url is None
    # Redis lists its queues itself: refused when given, ignored from the environment.
    redis = ("-b", "redis://h/0")
    assert resolve(parse(build_parser(), list(redis), environ), environ).broker.management_url is None
    status, out, err = run(*redis, "--management-url", MANAGEMENT)
    assert (status, out) == (2, "") and "--management-url is RabbitMQ's: redis://" in err
    dump = resolve(parse(build_parser(), [*rabbit, "--dump"], environ), environ)
    assert dump.mode is Mode.DUMP and dump.broker.management_url is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ("--management-url", "ftp://guest:s3cret@rabbit"),
            "invalid management API URL ftp://guest:**@rabbit",
        ),
        (("--management-url", "http://guest:s3cret@rabbit:x"), "the port is not a number"),
        (("--management-url", "http://guest:s3cret@rabbit:15672?vhost=a"), "a query does not belong"),
        (("queues", "--management-url", "guest:s3cret@rabbit"), "no scheme"),
        (("--management-url", MANAGEMENT, "--dump"), "only applies to the TUI (its queue screen)"),
        (("--management-url", MANAGEMENT, "-c", "m.C"), "only applies to the TUI"),
        (("--management-url", MANAGEMENT, "doctor"), "only applies to the TUI"),
        (("--management-url", MANAGEMENT, "control", "ping"), "only applies to the TUI"),
        (("--demo", "--management-url", MANAGEMENT), "--demo and --replay have none"),
    ],
)
def test_a_bad_management_url_is_one_line_exit_2_without_its_password(argv, message):
    status, out, err = run(*argv)
    assert (status, out) == (2, "") and err.startswith("evtop: error: ") and err.count("\n") == 1
    assert message in err and "s3cret" not in err


def test_a_bad_management_url_from_the_environment_keeps_its_password():
    environ = {"EVTOP_MANAGEMENT_URL": "http://guest:s3cret@rabbit:99999"}
    status, _, err = run("-b", "amqp://guest@rabbit//", environ=environ)
    assert status == 2 and "$EVTOP_MANAGEMENT_URL: invalid management API URL" in err
    assert "s3cret" not in err
