"""The README's set-up commands under the distribution's own python3 (PEP 668).

Debian 12 and Ubuntu 24.04 mark their python3 as externally managed: ``pip install``
outside a virtual environment stops with "externally-managed-environment". The commands
must then make and use ``.venv`` themselves. They run here on a copy of the checkout, so
the ``.venv`` they make is the copy's; the packages come from PyPI (or pip's cache).
The wheel and sdist that ``python -m build`` makes install into a fresh venv and run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.live import wait_until

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = Path("/usr/bin/python3")


def externally_managed(python: Path) -> bool:
    if not python.exists():
        return False
    probe = "import os, sysconfig; print(os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED'))"
    marker = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True).stdout
    return Path(marker.strip()).exists()


system_python = pytest.mark.skipif(
    not externally_managed(SYSTEM_PYTHON), reason="this machine has no externally managed /usr/bin/python3"
)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", "*.egg-info", ".*_cache", ".hypothesis", "build", "dist"
    )
    return Path(shutil.copytree(ROOT, tmp_path / "evtop", ignore=ignore))


def clean_env() -> dict[str, str]:
    """The environment of a shell with no virtual environment active and no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != bindir)
    return {**env, "PYTHON": str(SYSTEM_PYTHON)}


@system_python
def test_plain_pip_is_refused_there():
    """The premise: without a virtual environment, this python3 will not install."""
    done = subprocess.run(
        [str(SYSTEM_PYTHON), "-m", "pip", "install", "--dry-run", "evtop-not-a-package"],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    assert done.returncode != 0 and "externally-managed-environment" in done.stderr + done.stdout


@system_python
@pytest.mark.timeout(600)
def test_the_quick_start_command_installs_into_a_venv_and_runs_the_demo(checkout: Path):
    out = checkout / "demo.txt"
    with out.open("w") as stdout:
        proc = subprocess.Popen(
            ["scripts/demo", "--dump"], cwd=checkout, stdout=stdout, stderr=subprocess.PIPE, env=clean_env()
        )
    try:
        wait_until(lambda: out.read_text().count("\n") >= 20 or proc.poll() is not None, 540)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert " task received: " in out.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    venv_python = checkout / ".venv" / "bin" / "python"
    assert venv_python.exists()
    made_from = subprocess.run(
        [str(venv_python), "-c", "import sys; print(sys.base_prefix)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert made_from == "/usr"  # made from the system's python3, not the one running the tests
    evtop = subprocess.run(
        [str(checkout / ".venv" / "bin" / "evtop"), "--version"], capture_output=True, text=True
    )
    assert evtop.returncode == 0 and evtop.stdout.startswith("evtop ")


@system_python
@pytest.mark.timeout(900)
def test_the_test_command_installs_into_a_venv_and_runs_pytest(checkout: Path):
    done = subprocess.run(
        ["scripts/test", "-q", "tests/unit/test_files.py"],
        cwd=checkout,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=840,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
    assert (checkout / ".venv" / "bin" / "pytest").exists()


@pytest.mark.timeout(600)
def test_the_wheel_and_sdist_install_into_a_fresh_venv_and_run(checkout: Path, tmp_path: Path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(checkout)], check=True, capture_output=True
    )
    (wheel,) = dist.glob("evtop-*.whl")
    (sdist,) = dist.glob("evtop-*.tar.gz")
    version = subprocess.run(
        [sys.executable, "-c", "from evtop.version import __version__; print(__version__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=checkout,
    ).stdout.strip()
    assert wheel.name.startswith(f"evtop-{version}-") and sdist.name == f"evtop-{version}.tar.gz"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"{wheel}[redis]"],
        check=True,
        env=clean_env(),
    )
    python = str(venv / "bin" / "python")
    files = subprocess.run(
        [
            python,
            "-c",
            "import evtop, os; print(sorted(os.listdir(os.path.dirname(evtop.__file__))))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert "py.typed" in files  # the State API is typed for users' mypy
    shown = subprocess.run(
        [str(venv / "bin" / "evtop"), "--version"], capture_output=True, text=True, cwd=tmp_path
    )
    assert shown.returncode == 0 and shown.stdout.startswith(f"evtop {version} ")
    metadata = subprocess.run(
        [
            python,
            "-c",
            "from importlib.metadata import entry_points, version;"
            "print(version('evtop'), *[e.value for e in entry_points(group='celery.commands')])",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.split()
    assert metadata == [version, "evtop.cli.celery_command:evtop"]  # one version; `celery evtop` registered
    man = venv / "share" / "man" / "man1" / "evtop.1"
    assert man.exists()
    out = tmp_path / "demo.txt"
    with out.open("w") as stdout:
        proc = subprocess.Popen(
            [str(venv / "bin" / "evtop"), "--demo", "--dump"], stdout=stdout, cwd=tmp_path, env=clean_env()
        )
    try:
        wait_until(lambda: out.read_text().count(" task received: ") >= 3 or proc.poll() is not None, 60)
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=30)
