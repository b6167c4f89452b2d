"""``celery evtop``: the click command celery's CLI loads, called as celery calls it."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from celery import Celery
from celery.bin.base import CLIContext
from click.testing import CliRunner

from evtop.cli.celery_command import evtop
from evtop.cli.parser import build_parser, parse
from evtop.cli.resolve import resolve

ROOT = Path(__file__).resolve().parents[3]
ENTRY_POINT = "evtop.cli.celery_command:evtop"


def app() -> Celery:
    app = Celery("proj", broker="redis://from-app:6379/3", set_as_current=False)
    app.conf.broker_transport_options = {"global_keyprefix": "pfx:"}
    app.conf.event_exchange = "proj-events"
    app.conf.event_queue_prefix = "proj-ev"
    app.conf.control_exchange = "proj-control"
    return app


def invoke(*argv: str, no_color: bool = False):
    context = CLIContext(app=app(), no_color=no_color, workdir=None)
    return CliRunner().invoke(evtop, list(argv), obj=context)


def test_help_is_evtops_own():
    result = invoke("--help")
    assert result.exit_code == 0
    assert result.output.startswith("usage: celery evtop ")
    assert "--max-tasks" in result.output and "EVTOP_<OPTION>" in result.output


def test_the_apps_broker_is_used_and_errors_are_evtops():
    result = invoke("--dump", "--queue", "q")  # the app's broker is redis: no durable queue there
    assert result.exit_code == 2
    assert "Redis pub/sub hands an event only to" in result.output
    result = invoke("--dumpp")
    assert (result.exit_code, result.output) == (
        2,
        "evtop: error: unknown option --dumpp; did you mean --dump?\n",
    )


def test_the_apps_settings_become_evtops():
    chosen = resolve(parse(build_parser(), ["--dump"], {}), {}, app())
    broker = chosen.broker
    assert broker.url == "redis://from-app:6379/3"
    assert dict(broker.transport_options) == {"global_keyprefix": "pfx:"}
    assert (broker.event_exchange, broker.event_queue_prefix, broker.control_exchange) == (
        "proj-events",
        "proj-ev",
        "proj-control",
    )
    assert chosen.celery_app is not None  # cameras get the very app celery loaded
    flag = resolve(parse(build_parser(), ["--dump", "-b", "redis://flag/0"], {}), {}, app())
    assert flag.broker.url == "redis://flag/0"  # evtop's -b still wins, as with -A
    environ = {"EVTOP_BROKER": "redis://env/0", "EVTOP_APP": "no_such_module"}
    from_env = resolve(parse(build_parser(), ["--dump"], environ), environ, app())
    assert from_env.broker.url == "redis://from-app:6379/3"  # celery's -A is the command line: it wins


def test_the_entry_point_is_declared_in_setup_cfg():
    assert f"celery.commands =\n    evtop = {ENTRY_POINT}\n" in (ROOT / "setup.cfg").read_text()


@pytest.mark.skipif(
    not any(ep.value == ENTRY_POINT for ep in entry_points(group="celery.commands")),
    reason="evtop is not installed with its celery.commands entry point (scripts/test installs it)",
)
def test_the_celery_cli_lists_and_runs_it():
    celery = [sys.executable, "-m", "celery"]
    listing = subprocess.run([*celery, "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert any(line.split()[:1] == ["evtop"] for line in listing.stdout.splitlines())
    result = subprocess.run(
        [*celery, "evtop", "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 0 and "--read-only" in result.stdout and "--print-completion" in result.stdout


def test_plain_evtop_never_imports_celery_or_click():
    code = (
        "import sys, io\n"
        "from evtop.cli import main\n"
        "from evtop.env import Environment\n"
        "quiet = Environment(stdout=io.StringIO(), stderr=io.StringIO(), environ={})\n"
        "main(['-b', 'redis://h/0', '--dump', '--queue', 'q'], quiet)\n"
        "main(['--version'], quiet)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'celery', 'click'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.stdout.strip() == "[]", result.stderr
