"""Real ``celery worker`` subprocesses for integration tests, plus a task-sending helper."""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from celery import Celery

from tests.support.celery_app import TASK_EVENTS_ENV, make_app
from tests.support.servers import descendants, pid_alive, tail, wait_pid_gone

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["REPO_ROOT", "CeleryWorker", "WorkerError", "app_for", "send_task"]

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_MODULE = "tests.support.celery_app"

_apps: dict[str, Celery] = {}
_apps_lock = threading.Lock()
_names = itertools.count(1)


class WorkerError(RuntimeError):
    """A worker failed to start; the message carries its log tail."""


def app_for(broker_url: str) -> Celery:
    """A cached client app for ``broker_url`` (used for pings, control commands and sending)."""
    with _apps_lock:
        if broker_url not in _apps:
            _apps[broker_url] = make_app(broker_url)
        return _apps[broker_url]


def send_task(
    broker_url: str,
    name: str,
    args: tuple[Any, ...] | list[Any] = (),
    kwargs: dict[str, Any] | None = None,
    **opts: Any,
) -> str:
    """Publish task ``name`` with celery's client (emits the client-side ``task-sent`` event).

    Returns the task id.  ``opts`` go to ``Celery.send_task`` (countdown, eta, expires, queue…).
    """
    result = app_for(broker_url).send_task(name, args=tuple(args), kwargs=kwargs or {}, **opts)
    return str(result.id)


_LIVE: weakref.WeakSet[CeleryWorker] = weakref.WeakSet()


_TEMP_DIRS: list[Path] = []


@atexit.register
def _stop_leftovers() -> None:  # pragma: no cover - safety net
    for worker in list(_LIVE):
        with contextlib.suppress(Exception):
            worker.stop(timeout=2)
    for path in _TEMP_DIRS:
        shutil.rmtree(path, ignore_errors=True)


class CeleryWorker:
    """``python -m celery -A tests.support.celery_app worker -E ...`` as a context manager.

    ``pool`` is ``"prefork"`` or ``"solo"``; ``concurrency`` defaults to 2 for prefork, 1 for solo.
    The worker's nodename is ``{name}@test``.  Its output goes to ``{log_dir}/{name}.log``
    (by default a fresh temp dir, kept after ``stop()`` so the log can still be read, removed at
    interpreter exit; pass ``log_dir`` — e.g. a pytest ``tmp_path`` — to keep it).
    """

    def __init__(
        self,
        broker_url: str,
        pool: str = "prefork",
        concurrency: int | None = None,
        name: str | None = None,
        *,
        loglevel: str = "INFO",
        extra_args: tuple[str, ...] | list[str] = (),
        env: dict[str, str] | None = None,
        startup_timeout: float = 30.0,
        log_dir: Path | str | None = None,
        task_events: bool = True,
    ) -> None:
        if pool not in ("prefork", "solo", "threads"):
            raise ValueError(f"unsupported pool {pool!r}")
        self.broker_url = broker_url
        self.pool = pool
        self.concurrency = concurrency if concurrency is not None else (2 if pool == "prefork" else 1)
        self.name = name or f"w{next(_names)}-{pool}-{os.getpid()}"
        self.nodename = f"{self.name}@test"
        self.loglevel = loglevel
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.dir: Path | None = Path(log_dir) if log_dir is not None else None
        self.logfile: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False
        self.start_seconds: float | None = None
        #: ``-E``; without it a worker still sends its heartbeats, but no task events.
        self.task_events = task_events

    # ------------------------------------------------------------------------------------------
    @property
    def app(self) -> Celery:
        return app_for(self.broker_url)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", APP_MODULE, "worker",
            *(["-E"] if self.task_events else []),
            "-P", self.pool,
            "-c", str(self.concurrency),
            "-n", self.nodename,
            "--without-mingle",
            "--without-gossip",
            "-l", self.loglevel,
            *self.extra_args,
        ]  # fmt: skip

    def log_text(self) -> str:
        if self.logfile is None:
            return ""
        try:
            return self.logfile.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.logfile, lines) if self.logfile else ""

    def ping(self, timeout: float = 0.5) -> bool:
        replies = self.app.control.ping(destination=[self.nodename], timeout=timeout)
        return any(self.nodename in reply for reply in replies or [])

    def start(self) -> Self:
        if self.running:
            return self
        if self.dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix=f"evtop-worker-{self.name}-"))
            _TEMP_DIRS.append(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logfile = self.dir / f"{self.name}.log"
        env = dict(os.environ)
        env.update(self.extra_env)
        if not self.task_events:
            env[TASK_EVENTS_ENV] = "0"
        env["EVTOP_TEST_BROKER"] = self.broker_url
        env["PYTHONUNBUFFERED"] = "1"
        env.pop("CELERY_CONFIG_MODULE", None)
        began = time.monotonic()
        deadline = began + self.startup_timeout
        with open(self.logfile, "ab") as out:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _LIVE.add(self)
        try:
            while True:
                if self.proc.poll() is not None:
                    raise WorkerError(f"worker {self.nodename} exited with status {self.proc.returncode}")
                try:
                    if self.ping(timeout=0.5):
                        break
                except Exception:  # broker not reachable yet: keep polling until the deadline
                    time.sleep(0.1)
                if time.monotonic() >= deadline:
                    raise WorkerError(f"worker {self.nodename} no ping reply within {self.startup_timeout}s")
        except BaseException as exc:
            log = self.log_tail(60)
            self.stop(timeout=2)
            if isinstance(exc, WorkerError):
                raise WorkerError(f"{exc}\n--- worker log tail ---\n{log}") from None
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def pause(self) -> None:
        """SIGSTOP the worker and its pool processes (a hung worker)."""
        if self.running and self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        """SIGCONT what :meth:`pause` stopped."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def stop(self, timeout: float = 15.0) -> None:
        """Warm shutdown (SIGTERM); SIGKILL the whole process group after ``timeout``."""
        proc = self.proc
        if proc is None:
            return
        pids = [proc.pid, *descendants(proc.pid)] if proc.poll() is None else []
        if proc.poll() is None:
            if self.paused:
                self.resume()
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in pids:
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        for pid in pids:
            wait_pid_gone(pid, 5)
        _LIVE.discard(self)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<CeleryWorker {self.nodename} pool={self.pool} pid={self.pid} broker={self.broker_url}>"
