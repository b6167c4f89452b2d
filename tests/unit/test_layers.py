"""The import structure: layers run one way and no module imports itself in a circle.

The rules live in setup.cfg (import-linter's ``layers`` and ``acyclic_siblings``
contracts); :func:`check` also follows every direct import on import-linter's own graph.
Both are run on a copy of the package with a fault put in as well, so that a check that
can no longer fail shows up here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Both checks run in a child process with ``root`` first on the path, so a broken copy
#: is what gets read, and import-linter's logging set-up cannot touch this process's.
CHECK = """
import json, sys
import grimp
from importlinter.cli import lint_imports

graph = grimp.build_graph("evtop", cache_dir=None, exclude_type_checking_imports=True)
cycles = []
for importer in sorted(graph.modules):
    for imported in sorted(graph.find_modules_directly_imported_by(importer)):
        back = graph.find_shortest_chain(importer=imported, imported=importer)
        if back is not None:
            cycles.append([importer, *back])
status = lint_imports(config_filename="setup.cfg", no_cache=True, no_logo=True)
print(json.dumps({"status": status, "cycles": cycles}))
"""


def check(root: Path) -> tuple[int, list[tuple[str, ...]], str]:
    """setup.cfg's contracts on ``root/evtop``, and every import that closes a circle.

    The second part exists because ``acyclic_siblings`` sees circles between the modules
    of a package but not one through the package's own ``__init__`` (``control/__init__``
    re-exports ``replies``; a ``replies`` that imported ``evtop.control`` would close one).
    """
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report, _, result = done.stdout.rpartition("\n{")
    found = json.loads("{" + result)
    return found["status"], [tuple(cycle) for cycle in found["cycles"]], report


@pytest.fixture
def copy(tmp_path):
    """A copy of the package and setup.cfg that a test may break."""
    shutil.copytree(ROOT / "evtop", tmp_path / "evtop", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "setup.cfg", tmp_path / "setup.cfg")
    return tmp_path


def add_import(module: Path, statement: str) -> None:
    """Append a function holding ``statement``: imports inside functions count too."""
    with module.open("a") as out:
        out.write(f"\n\ndef _fault() -> None:\n    {statement}  # noqa\n")


def test_the_contracts_hold_and_no_module_imports_itself_through_a_circle():
    status, cycles, report = check(ROOT)
    assert (status, cycles) == (0, []), report


def test_a_lower_layer_importing_a_higher_one_breaks_the_contracts(copy):
    add_import(copy / "evtop" / "events" / "receiver.py", "from evtop.tui import app")
    status, _, report = check(copy)
    assert status == 1 and "evtop.events.receiver -> evtop.tui.app" in report


def test_one_mode_importing_another_breaks_the_contracts(copy):
    add_import(copy / "evtop" / "dump" / "mode.py", "from evtop.camera import mode")
    status, _, report = check(copy)
    assert status == 1 and "evtop.dump.mode -> evtop.camera.mode" in report


def test_a_circle_between_two_files_breaks_the_contracts(copy):
    add_import(copy / "evtop" / "view" / "cells.py", "from evtop.view import tasks")
    status, cycles, _ = check(copy)
    assert status == 1
    assert ("evtop.view.cells", "evtop.view.tasks", "evtop.view.cells") in cycles


def test_a_circle_through_a_package_face_is_found(copy):
    add_import(copy / "evtop" / "control" / "replies.py", "import evtop.control")
    _, cycles, _ = check(copy)
    assert ("evtop.control", "evtop.control.replies", "evtop.control") in cycles


def test_an_import_for_type_checking_only_does_not_count(copy):
    cells = copy / "evtop" / "view" / "cells.py"
    text = cells.read_text().replace(
        "from __future__ import annotations\n",
        "from __future__ import annotations\n\nfrom typing import TYPE_CHECKING\n\n"
        "if TYPE_CHECKING:\n    from evtop.tui import app  # noqa: F401\n",
        1,
    )
    cells.write_text(text)
    assert check(copy)[:2] == (0, [])
