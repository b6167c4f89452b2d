"""Regenerate man/evtop.1 from the CLI definition: python tools/gen_man.py"""

from pathlib import Path

from evtop.cli.manpage import render

Path(__file__).resolve().parent.parent.joinpath("man", "evtop.1").write_text(render())
