"""``python -m evtop`` runs the same entry point as the ``evtop`` script."""

from __future__ import annotations

from evtop.cli import main

raise SystemExit(main())
