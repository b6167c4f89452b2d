"""``evtop control``: confirm if destructive, broadcast, print the replies, pick the exit status.

Everything a worker sends back (nodenames, ok and error texts, inspect data) is shown
through :func:`~evtop.text.sanitize.sanitize`, so a hostile reply cannot drive the
terminal; ``--json`` output is ASCII-escaped JSON, safe on a terminal and exact for tools.
"""

from __future__ import annotations

from collections.abc import Sequence

from evtop.control.client import Control
from evtop.control.commands import Request
from evtop.control.render import render
from evtop.env import Environment
from evtop.errors import EvtopError, ExitStatus, UsageError
from evtop.options import ControlOptions, Options
from evtop.text.jsonline import dumps
from evtop.text.sanitize import sanitize


def run_control(options: Options, env: Environment) -> int:
    call = options.control
    if call is None:
        raise EvtopError("internal error: control mode without a control command")
    request = call.request
    control = Control(options.broker, read_only=options.read_only)
    control.ensure_writable(request.method)  # before asking anything
    if request.destructive and not call.yes:
        confirm(request, call, env)
    destination = list(call.destination) if call.destination else None
    result = control.send(request, destination=destination, timeout=call.timeout)
    if options.json:
        env.stdout.write(dumps(result.to_json()) + "\n")
    else:
        env.stdout.write("".join(f"{line}\n" for line in render(result, request)))
    env.stdout.flush()
    succeeded = result.any_ok or not result.reply_wanted
    return ExitStatus.OK if succeeded else ExitStatus.ERROR


def _where(destination: Sequence[str] | None) -> str:
    return f"on {', '.join(destination)}" if destination else "on every worker"


def confirm(request: Request, call: ControlOptions, env: Environment) -> None:
    """Ask on a terminal; without one, refuse unless ``--yes`` was given."""
    what = sanitize(f"{request.describe()} {_where(call.destination)}")
    if not env.stdin_isatty:
        raise UsageError(f"not confirmed: this would {what}; add --yes (stdin is not a terminal)")
    env.stderr.write(f"This will {what}.\nContinue? [y/N] ")
    env.stderr.flush()
    if env.stdin.readline().strip().lower() not in ("y", "yes"):
        raise EvtopError("not confirmed: nothing was sent")
