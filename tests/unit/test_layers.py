"""The import structure: layers run one way and no module imports itself in a circle.

The rules live in setup.cfg (import-linter's ``layers`` and ``acyclic_siblings``
contracts). ``acyclic_siblings`` sees circles between the modules of a package but not
one through a package's own ``__init__`` (``control/__init__`` re-exports ``replies``,
and ``replies`` imports ``evtop.control``), so :func:`cycles` checks every direct import
on import-linter's own graph. Both checks are also run on a copy of the package with a
fault put in, so that a check that can no longer fail shows up here.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def cycles(package: str) -> list[tuple[str, ...]]:
    """Every import ``a -> b`` that ``b`` reaches back to ``a``, as the circle it closes."""
    graph = grimp.build_graph(package, cache_dir=None, exclude_type_checking_imports=True)
    found = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                found.append((importer, *back))
    return found


def lint(root: Path) -> int:
    """import-linter with setup.cfg's contracts, on the ``evtop`` package under ``root``."""
    sys.path.insert(0, str(root))
    try:
        return lint_imports(config_filename=str(root / "setup.cfg"), no_cache=True)
    finally:
        sys.path.remove(str(root))


@pytest.fixture
def copy(tmp_path, monkeypatch):
    """A copy of the package (and setup.cfg) that a test may break; imported from there."""
    shutil.copytree(ROOT / "evtop", tmp_path / "evtop", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "setup.cfg", tmp_path / "setup.cfg")
    for name in [name for name in sys.modules if name == "evtop" or name.startswith("evtop.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def add_import(module: Path, statement: str) -> None:
    """Append a function holding ``statement``: imports inside functions count too."""
    with module.open("a") as out:
        out.write(f"\n\ndef _fault() -> None:\n    {statement}  # noqa\n")


def test_the_contracts_hold():
    assert lint(ROOT) == 0


def test_no_module_imports_itself_through_a_circle():
    assert cycles("evtop") == []


def test_a_lower_layer_importing_a_higher_one_breaks_the_contracts(copy, capsys):
    add_import(copy / "evtop" / "events" / "receiver.py", "from evtop.tui import app")
    assert lint(copy) == 1
    assert "evtop.events.receiver -> evtop.tui.app" in capsys.readouterr().out


def test_one_mode_importing_another_breaks_the_contracts(copy, capsys):
    add_import(copy / "evtop" / "dump" / "mode.py", "from evtop.camera import mode")
    assert lint(copy) == 1
    assert "evtop.dump.mode -> evtop.camera.mode" in capsys.readouterr().out


def test_a_circle_between_two_files_breaks_the_contracts(copy):
    add_import(copy / "evtop" / "view" / "cells.py", "from evtop.view import tasks")
    assert lint(copy) == 1
    assert ("evtop.view.cells", "evtop.view.tasks", "evtop.view.cells") in cycles("evtop")


def test_a_circle_through_a_package_face_is_found(copy):
    add_import(copy / "evtop" / "control" / "replies.py", "import evtop.control")
    circle = ("evtop.control", "evtop.control.replies", "evtop.control")
    assert circle in cycles("evtop")


def test_an_import_for_type_checking_only_does_not_count(copy):
    cells = copy / "evtop" / "view" / "cells.py"
    text = cells.read_text().replace(
        "from __future__ import annotations\n",
        "from __future__ import annotations\n\nfrom typing import TYPE_CHECKING\n\n"
        "if TYPE_CHECKING:\n    from evtop.tui import app  # noqa: F401\n",
        1,
    )
    cells.write_text(text)
    assert lint(copy) == 0
    assert cycles("evtop") == []
