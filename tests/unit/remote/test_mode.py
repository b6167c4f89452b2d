"""``evtop control`` in-process: parsing, confirmation, read-only, output, exit status, man page.

Workers are fakes on kombu's memory transport (tests/unit/control/fakes.py); the same
commands against real workers on Redis and RabbitMQ are in tests/integration.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from evtop.cli import main
from evtop.cli.manpage import render
from evtop.cli.parser import build_parser
from evtop.cli.resolve import resolve
from evtop.control import COMMANDS
from evtop.env import Environment
from evtop.options import Mode
from tests.unit.control.fakes import FakeWorker, Out, memory_config

REPO = Path(__file__).resolve().parents[3]
UUID1 = "d9078da5-9915-40a0-bfa1-392c7bde42ed"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(*argv: str, url: str | None = None, stdin: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    broker = ["-b", url, "--transport-option", "polling_interval=0.01"] if url else []
    env = Environment(stdout=out, stderr=err, stdin=stdin or io.StringIO(), environ={})
    status = main([*broker, *argv], env)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def config():
    return memory_config()


@pytest.fixture
def workers(config):
    with FakeWorker(config, "a@x") as a, FakeWorker(config, "b@x") as b:
        yield a, b


def test_evtop_without_a_subcommand_is_unchanged():
    args = build_parser().parse_args(["--dump", "--demo"])
    options = resolve(args, {})
    assert options.mode is Mode.DUMP and options.control is None
    assert resolve(build_parser().parse_args([]), {}).mode is Mode.TUI


def test_control_options_are_resolved():
    argv = [
        "--json",
        "control",
        "rate-limit",
        "proj.add",
        "10/m",
        "--destination",
        "a@x,b@x",
        "--destination",
        "c@x",
        "--timeout",
        "2.5",
        "--yes",
    ]
    options = resolve(build_parser().parse_args(argv), {})
    assert options.mode is Mode.CONTROL and options.json
    assert options.control is not None
    assert options.control.request.arguments == {"task_name": "proj.add", "rate_limit": "10/m"}
    assert options.control.destination == ("a@x", "b@x", "c@x")
    assert options.control.timeout == 2.5 and options.control.yes
    underscore = resolve(build_parser().parse_args(["control", "rate_limit", "t", "--remove"]), {})
    assert underscore.control is not None and underscore.control.request.arguments["rate_limit"] is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["control"], "which command? ping, revoke"),
        (["control", "explode"], "invalid choice"),
        (["control", "rate-limit", "t", "abc"], "invalid rate"),
        (["control", "rate-limit", "t", "0"], "--remove"),
        (["control", "rate-limit", "t"], "give either RATE or --remove"),
        (["control", "revoke"], "required: TASK_ID"),
        (["control", "terminate", UUID1, "--signal", "BOGUS"], "unknown signal"),
        (["control", "pool-grow", "0"], "at least 1"),
        (["control", "time-limit", "t", "10", "5"], "must not be below"),
        (["control", "ping", "--timeout", "0"], "--timeout"),
        (["control", "ping", "--timeout", "nan"], "--timeout"),
        (["control", "ping", "--destination", ","], "empty"),
        (["--demo", "control", "ping"], "need a real broker"),
        (["--replay", "x.jsonl", "control", "ping"], "need a real broker"),
        (["--dump", "control", "ping"], "do not combine"),
        (["control", "ping", "--destinaton", "w1"], "did you mean --destination?"),
    ],
)
def test_usage_errors_exit_2_in_one_line(argv, message):
    status, out, err = run(*argv)
    assert status == 2 and out == ""
    assert err.startswith("evtop: error: ") and message in err and err.count("\n") == 1


def test_help_goes_to_stdout():
    status, out, _ = run("control", "--help")
    assert status == 0 and "rate-limit" in out and "examples:" in out
    status, out, _ = run("control", "terminate", "--help")
    assert status == 0 and "--signal SIG" in out and "--yes" in out


def test_ping_text_output_and_exit_0(config, workers):
    status, out, err = run(
        "control", "ping", "--destination", "a@x,b@x,c@x", "--timeout", "0.5", url=config.url
    )
    assert status == 0, err
    assert "a@x: OK pong" in out and "b@x: OK pong" in out and "c@x: no reply" in out
    assert "2 of 3 workers replied within 0.5 s" in out


def test_json_output(config, workers):
    status, out, _ = run("control", "stats", "--json", "--destination", "a@x", url=config.url)
    data = json.loads(out)
    assert status == 0 and data["method"] == "stats" and data["replied"] == ["a@x"]
    assert out.count("\n") == 1


def test_json_output_stays_strict_json_with_non_finite_numbers(config):
    def odd(worker, request):
        return [Out({worker.name: {"load": float("nan"), "limits": [float("inf"), -float("inf"), 1.5]}})]

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    with FakeWorker(config, "a@x", answer=odd):
        status, out, _ = run("control", "stats", "--json", "--destination", "a@x", url=config.url)
    assert status == 0
    value = json.loads(out, parse_constant=refuse)["replies"][0]["value"]
    assert value == {"load": "NaN", "limits": ["Infinity", "-Infinity", 1.5]}


def test_no_reply_at_all_exits_1(config):
    status, out, _ = run("control", "ping", "--timeout", "0.2", url=config.url)
    assert status == 1 and "0 workers replied within 0.2 s" in out


def test_only_errors_exit_1_and_are_shown(config):
    def nok(worker, request):
        return [Out({worker.name: {"error": "unknown task"}})]

    with FakeWorker(config, "a@x", answer=nok):
        status, out, _ = run("control", "rate-limit", "nope", "1/s", "--destination", "a@x", url=config.url)
    assert status == 1 and "a@x: ERROR unknown task" in out


def test_worker_strings_are_sanitized(config):
    evil = "evil\x1b[2J\u202e@x"

    def hostile(worker, request):
        return [
            Out({evil: {"ok": "done\x1b]0;pwned\x07"}}),
            Out({"data@x": {"k": "v\x1b[31m", "l": ["\x9b"]}}),
            Out({"list@x": ["t1\x1b[1m", "t2"]}),
        ]

    with FakeWorker(config, "a@x", answer=hostile):
        status, out, _ = run("control", "stats", "--timeout", "0.3", url=config.url)
        _, raw_json, _ = run("control", "stats", "--timeout", "0.3", "--json", url=config.url)
    assert status == 0
    for text in (out, raw_json):
        assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text and "\u202e" not in text
    assert "evil␛[2J<U+202E>@x: OK done␛]0;pwned␇" in out
    assert json.loads(raw_json)["replies"][0]["node"] == evil  # exact for machines


def test_destructive_command_needs_yes_without_a_terminal(config, workers):
    status, out, err = run("control", "terminate", UUID1, url=config.url)
    assert status == 2 and "add --yes" in err and UUID1 in err and out == ""
    status, _, _ = run("control", "shutdown", url=config.url)
    assert status == 2
    status, _, _ = run("control", "revoke", UUID1, "--terminate", url=config.url)
    assert status == 2
    assert all(not worker.requests for worker in workers)  # nothing was sent


def test_terminal_confirmation(config, workers):
    status, out, err = run(
        "control",
        "terminate",
        UUID1,
        "--signal",
        "KILL",
        "--destination",
        "a@x",
        url=config.url,
        stdin=Terminal("n\n"),
    )
    assert status == 1 and "not confirmed: nothing was sent" in err
    assert f"terminate task(s) {UUID1}" in err and "SIGKILL" in err and "on a@x" in err and "[y/N]" in err
    assert all(not worker.requests for worker in workers)
    status, out, err = run(
        "control", "terminate", UUID1, "--destination", "a@x", url=config.url, stdin=Terminal("y\n")
    )
    assert status == 0 and "a@x: OK pong" in out
    assert workers[0].requests[0]["arguments"] == {"task_id": UUID1, "terminate": True, "signal": "SIGTERM"}


def test_yes_skips_the_question_and_shutdown_is_honest(config, workers):
    status, out, err = run("control", "shutdown", "--yes", "--destination", "a@x", url=config.url)
    assert status == 0 and err == ""
    assert "shutdown sent to a@x; no reply is expected" in out
    assert "Workers do not reply to shutdown" in out


def test_plain_revoke_needs_no_confirmation(config, workers):
    status, out, _ = run("control", "revoke", UUID1, "--destination", "a@x,b@x", url=config.url)
    assert status == 0 and "2 of 2 workers replied" in out and "note: A revoke stops" in out


def test_read_only_refuses_every_command_without_publishing(config, workers):
    for command in COMMANDS.values():
        argv = ["--read-only", "control", command.cli_name, "--yes"]
        argv += [
            UUID1 if p.many else "5" if p.metavar in ("N", "MAX", "MIN", "SOFT") else "x"
            for p in command.params
            if p.required and not p.option
        ]
        if command.name == "rate_limit":
            argv.append("--remove")
        status, out, err = run(*argv, url=config.url, stdin=Terminal("y\n"))
        assert status == 1 and "read-only mode" in err, (argv, err)
        assert "[y/N]" not in err and out == ""
    status, _, _ = run("control", "ping", "--destination", "a@x", url=config.url)
    assert status == 0  # a positive control: the fakes do receive what is sent
    assert [r["method"] for r in workers[0].requests] == ["ping"]
    assert all(r["method"] == "ping" for r in workers[1].requests)  # b@x may not have it yet


def test_broker_down_exits_1_with_a_masked_url():
    from tests.support.servers import free_port

    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    out, err = io.StringIO(), io.StringIO()
    status = main(
        ["-b", url, "control", "ping"], Environment(stdout=out, stderr=err, stdin=io.StringIO(), environ={})
    )
    assert status == 1 and "cannot reach the broker" in err.getvalue() and "hunter2" not in err.getvalue()


def test_man_page_is_up_to_date_and_lists_every_command():
    page = render()
    assert (REPO / "man" / "evtop.1").read_text() == page, "run: python tools/gen_man.py"
    for command in COMMANDS.values():
        escaped = command.cli_name.replace("-", "\\-")
        assert f"\\fB{escaped}\\fR" in page
    assert ".SH CONTROL COMMANDS" in page and "\\-\\-yes" in page
