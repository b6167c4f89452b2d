"""``celery -A proj evtop [options]``: evtop as a command of celery's own CLI.

celery finds this module through the ``celery.commands`` entry point and imports it only
when its CLI runs, so click and celery are imported here and nowhere else in evtop: plain
``evtop`` never loads either. The command takes every argument as it is and hands it to
evtop's own parser (``celery evtop --help`` is evtop's help), with the app celery loaded
from ``-A``: its broker URL, transport options, exchange names and event settings are
used as evtop's ``-A`` would use them.
"""

from __future__ import annotations

import click

from evtop.cli import main


@click.command(
    name="evtop",
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def evtop(ctx: click.Context, arguments: tuple[str, ...]) -> None:
    """Monitor the cluster with evtop (a live TUI, --dump, cameras; evtop --help)."""
    cli = ctx.obj  # celery's CLIContext: the app it loaded from -A (or its default app)
    argv = list(arguments)
    if getattr(cli, "no_color", False) and "--no-color" not in argv:
        argv.insert(0, "--no-color")  # `celery -C evtop`
    ctx.exit(main(argv, app=getattr(cli, "app", None), prog="celery evtop"))
