"""Helpers for the camera tests: a hand-driven timer and clock, camera modules on disk,
and in-process runs of ``evtop -c``."""

from __future__ import annotations

import io
import signal
import sys
import textwrap
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evtop.cli import main
from evtop.env import Environment
from tests.support.live import wait_until


class FakeEntry:
    """What ``call_repeatedly`` returns; the test fires it."""

    def __init__(self, secs: float, fun: Any) -> None:
        self.secs = secs
        self.fun = fun
        self.cancelled = False
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        return self.fun()

    def cancel(self) -> None:
        self.cancelled = True


class FakeTimer:
    """A timer that never runs anything by itself (both celery's and evtop's Polaroid take it)."""

    def __init__(self) -> None:
        self.entries: list[FakeEntry] = []

    def call_repeatedly(self, secs, fun, args=(), kwargs=None, priority=0):
        entry = FakeEntry(secs, fun)
        self.entries.append(entry)
        return entry

    @property
    def shutter(self) -> FakeEntry:
        return self.entries[0]

    @property
    def cleanup(self) -> FakeEntry:
        return self.entries[1]


class FakeClock:
    """``time.monotonic`` stand-in, advanced by hand (patched into kombu's TokenBucket)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def write_camera(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> str:
    """Write ``source`` as a uniquely named module in ``tmp_path``, which becomes the cwd.

    Returns the module name. ``sys.path`` and ``sys.modules`` are restored after the test
    (evtop adds the cwd to ``sys.path`` for the rest of the process).
    """
    name = f"evtop_testcam_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setitem(sys.modules, name, None)  # restored (removed) after the test ...
    del sys.modules[name]  # ... and absent now, so the import finds the file
    return name


def module(name: str) -> Any:
    return sys.modules[name]


class Run:
    """``evtop ARGS`` in-process: exit status, stdout and stderr."""

    def __init__(self, *args: str, environ: dict[str, str] | None = None) -> None:
        self.env = Environment(
            stdout=io.StringIO(), stderr=io.StringIO(), stdin=io.StringIO(), environ=environ or {}
        )
        self.status = main(list(args), self.env)

    @property
    def out(self) -> str:
        return self.env.stdout.getvalue()  # type: ignore[attr-defined]

    @property
    def err(self) -> str:
        return self.env.stderr.getvalue()  # type: ignore[attr-defined]


def sigterm_when(predicate: Callable[[], object], timeout: float = 30) -> None:
    """SIGTERM this process once ``predicate()`` holds: stops an in-process ``evtop`` run
    (its handler, installed before any camera runs, sets the stop flag)."""

    def watch() -> None:
        wait_until(predicate, timeout)
        signal.raise_signal(signal.SIGTERM)

    threading.Thread(target=watch, name="sigterm-when", daemon=True).start()


def loaded(name: str, attribute: str) -> Callable[[], object]:
    """A predicate: module ``name`` was imported and its ``attribute`` is non-empty."""
    return lambda: name in sys.modules and getattr(sys.modules[name], attribute)
