"""The ``evtop`` command: parse, validate, set up logging, run the chosen mode.

Failures end here as one line on stderr with an exit status, never a traceback: bad
arguments exit 2, runtime errors exit 1. Whatever is printed passes the redactor, so a
broker password cannot leak through an error message.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from evtop.broker.urls import url_secrets
from evtop.cli.parser import ParserExit, build_parser, parse
from evtop.cli.resolve import resolve
from evtop.env import Environment
from evtop.errors import EvtopError, ExitStatus, UsageError
from evtop.logs import setup_logging
from evtop.options import Mode, Options
from evtop.pidfile import PidFile
from evtop.text.redact import Redactor
from evtop.text.sanitize import sanitize

logger = logging.getLogger("evtop")


def main(
    argv: Sequence[str] | None = None, env: Environment | None = None, *, app: Any = None, prog: str = "evtop"
) -> int:
    """Run evtop; ``app`` and ``prog`` are given when ``celery evtop`` runs it (its Celery app)."""
    import sys

    env = env if env is not None else Environment()
    redactor = Redactor()
    arguments = list(sys.argv[1:] if argv is None else argv)
    for word in arguments:  # mask passwords even in messages about a URL that fails to parse
        if "://" in word:
            for secret in url_secrets(word.partition("=")[2] if word.startswith("-") else word):
                redactor.add(secret)
    parser = build_parser(prog)
    parser.out, parser.err = env.stdout, env.stderr
    try:
        args = parse(parser, arguments, env.environ)
        if args.list_sinks:
            return _list_sinks(env)
        options = resolve(args, env.environ, app)
        for url in (options.broker.url, options.broker.management_url or ""):
            redactor.update(url_secrets(url))
        setup_logging(options.loglevel, options.logfile, redactor, env.stderr)
        return int(_run(options, env))
    except ParserExit as exc:
        return exc.status
    except UsageError as exc:
        _fail(env, redactor, f"error: {exc}")
        return ExitStatus.USAGE
    except EvtopError as exc:
        _fail(env, redactor, str(exc))
        return ExitStatus.ERROR
    except KeyboardInterrupt:
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:  # e.g. `evtop control stats | head -1`: the reader is done
        _silence_stdout(env)
        return ExitStatus.OK
    except Exception as exc:
        logger.debug("internal error", exc_info=True)
        _fail(env, redactor, f"internal error: {type(exc).__name__}: {exc} (run with -l DEBUG for details)")
        return ExitStatus.ERROR


def _list_sinks(env: Environment) -> int:
    """``evtop --list-sinks``: what ``--sink`` can use here, like ``--version`` (nothing runs)."""
    from evtop.camera.sinks.registry import Registry, render_listing

    env.stdout.write(sanitize(render_listing(Registry().listing()), multiline=True))
    env.stdout.flush()
    return ExitStatus.OK


def _silence_stdout(env: Environment) -> None:
    """Point the real stdout at /dev/null so the interpreter's final flush stays quiet."""
    import os
    import sys

    if env.stdout is sys.stdout:
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _fail(env: Environment, redactor: Redactor, message: str) -> None:
    env.stderr.write(f"evtop: {sanitize(redactor.redact(message))}\n")
    env.stderr.flush()


def _run(options: Options, env: Environment) -> int:
    if options.mode is Mode.CONTROL:
        from evtop.remote.mode import run_control

        return run_control(options, env)
    if options.mode is Mode.QUEUES:
        from evtop.queues.mode import run_queues

        return run_queues(options, env)
    if options.mode is Mode.DOCTOR:
        from evtop.doctor.mode import run_doctor

        return run_doctor(options, env)
    if options.mode is Mode.CAMERA:
        from evtop.camera.mode import run_camera

        return run_camera(options, env)
    if options.mode is Mode.TUI:
        from evtop.tui.mode import run_tui as run
    else:
        from evtop.dump.mode import run_dump as run
    if options.pidfile:
        with PidFile(options.pidfile):
            return run(options, env)
    return run(options, env)
