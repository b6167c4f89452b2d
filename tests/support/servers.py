"""Throw-away redis-server and rabbitmq-server instances for the test-suite.

Each server runs on 127.0.0.1 on a free port inside its own temporary directory and never touches a
system service.  Readiness is established by polling with a deadline; ``stop()`` escalates to killing
every process the server started, so a failed or timed-out test does not leave brokers behind (an
``atexit`` hook stops whatever is still running when the interpreter exits).

See ``/work/shared/design/testing.md`` for the facts these classes rely on.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "RabbitMQServer",
    "RedisServer",
    "ServerError",
    "descendants",
    "free_port",
    "pid_alive",
    "tail",
    "wait_pid_gone",
]


class ServerError(RuntimeError):
    """A test server failed to start or stop; the message carries its log tail."""


# --------------------------------------------------------------------------------------------
# small process helpers
# --------------------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1", exclude: Iterable[int] = ()) -> int:
    """Return a TCP port that is currently free on ``host`` (and not in ``exclude``)."""
    excluded = set(exclude)
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in excluded:
            return port
    raise ServerError("could not find a free port")


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # state is the first field after the parenthesised command name
    state = stat.rpartition(")")[2].split()[:1]
    return state != ["Z"]


def wait_pid_gone(pid: int, timeout: float) -> bool:
    """Poll until ``pid`` is gone (or a zombie); True if it went away before ``timeout``."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """All live descendants of ``pid`` (depth first), read from /proc."""
    tree = _children_map()
    out: list[int] = []
    stack = list(tree.get(pid, []))
    while stack:
        child = stack.pop()
        out.append(child)
        stack.extend(tree.get(child, []))
    return out


def _kill_quietly(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _killpg_quietly(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def tail(path: Path | str, lines: int = 40) -> str:
    """Last ``lines`` lines of a text file ('' if it does not exist)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


_LIVE: weakref.WeakSet[_Server] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:  # pragma: no cover - safety net
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.stop()


# --------------------------------------------------------------------------------------------
# base class
# --------------------------------------------------------------------------------------------


class _Server:
    """Common start/stop/restart/context-manager plumbing."""

    host = "127.0.0.1"
    kind = "server"

    def __init__(self, port: int | None = None, startup_timeout: float = 30.0) -> None:
        self.port: int = port or free_port()
        self.startup_timeout = startup_timeout
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._stdout: Path | None = None
        self.start_seconds: float | None = None  # duration of the last successful start()

    # subclasses -------------------------------------------------------------------------------
    def _prepare_dir(self, path: Path) -> None:
        raise NotImplementedError

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _env(self) -> dict[str, str]:
        return dict(os.environ)

    def _wait_ready(self, deadline: float) -> None:
        raise NotImplementedError

    def _graceful_stop(self, timeout: float) -> None:
        """Ask the server to stop; must not raise."""
        if self.proc is not None:
            _kill_quietly(self.proc.pid, signal.SIGTERM)

    def _extra_pids(self) -> list[int]:
        """Processes started outside our process group that must die with the server."""
        return []

    def _after_stop(self, final: bool) -> None:
        """Hook run after the server process is gone (final=True unless restarting)."""

    def log_tail(self, lines: int = 40) -> str:
        return tail(self._stdout, lines) if self._stdout else ""

    # public API -----------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Self:
        if self.running:
            return self
        if self.dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix=f"evtop-{self.kind}-{self.port}-"))
            self._prepare_dir(self.dir)
        self._stdout = self.dir / f"{self.kind}.stdout"
        began = time.monotonic()
        deadline = began + self.startup_timeout
        with open(self._stdout, "ab") as out:
            self.proc = subprocess.Popen(
                self._command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env(),
                cwd=self.dir,
                start_new_session=True,
            )
        _LIVE.add(self)
        try:
            self._wait_ready(deadline)
        except BaseException as exc:
            log = self.log_tail()
            # a server that never came up is cleaned up completely (nobody will call stop() after
            # a failing __enter__); after a failed restart() the caller still owns it
            self.stop(timeout=0, _final=self.start_seconds is None)
            if isinstance(exc, ServerError):
                raise ServerError(f"{exc}\n--- {self.kind} log tail ---\n{log}") from None
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self, timeout: float = 15.0, *, _final: bool = True) -> None:
        """Stop gracefully; kill the whole process tree if that takes longer than ``timeout``."""
        if self.proc is not None:
            if self.proc.poll() is None and timeout > 0:
                self._graceful_stop(timeout)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=timeout)
            self._kill_everything()
        self._after_stop(final=_final)
        if _final:
            _LIVE.discard(self)
            if self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None

    def restart(self, timeout: float = 15.0) -> Self:
        """Stop and start again on the same port with the same data directory."""
        self.stop(timeout, _final=False)
        return self.start()

    def _kill_everything(self) -> None:
        if self.proc is None:
            return
        pids = [*self._extra_pids()]
        if self.proc.poll() is None:
            pids = [self.proc.pid, *descendants(self.proc.pid), *pids]
        for pid in pids:
            _kill_quietly(pid, signal.SIGKILL)
        _killpg_quietly(self.proc.pid, signal.SIGKILL)  # we started it with start_new_session
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for pid in pids:
            wait_pid_gone(pid, 5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise ServerError(f"{self.kind} exited with status {self.proc.returncode} during startup")

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.url} pid={self.pid} {state}>"

    @property
    def url(self) -> str:
        raise NotImplementedError


# --------------------------------------------------------------------------------------------
# redis
# --------------------------------------------------------------------------------------------


class RedisServer(_Server):
    """``redis-server`` on 127.0.0.1:PORT, no persistence, not daemonized."""

    kind = "redis"

    def __init__(
        self,
        port: int | None = None,
        db: int = 0,
        startup_timeout: float = 15.0,
        *,
        config: tuple[str, ...] = (),
    ) -> None:
        super().__init__(port, startup_timeout)
        self.db = db
        #: More ``--name value`` words for the command line (e.g. a small pub/sub buffer limit).
        self.config = config

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/{self.db}"

    def _prepare_dir(self, path: Path) -> None:
        pass

    def _command(self) -> list[str]:
        return [
            "redis-server",
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(self.dir),
            *self.config,
        ]  # fmt: skip

    def ping(self, timeout: float = 1.0) -> bool:
        """One PING over a raw socket; True on +PONG."""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _wait_ready(self, deadline: float) -> None:
        while True:
            self._check_alive()
            if self.ping(timeout=0.5):
                return
            if time.monotonic() >= deadline:
                raise ServerError(f"redis-server on port {self.port} not ready after {self.startup_timeout}s")
            time.sleep(0.02)

    def _graceful_stop(self, timeout: float) -> None:
        # SIGTERM makes redis exit promptly (save '' => nothing to write)
        if self.proc is not None:
            _kill_quietly(self.proc.pid, signal.SIGTERM)

    def cli(self, *args: str, check: bool = True, timeout: float = 10.0) -> str:
        """Run ``redis-cli -h 127.0.0.1 -p PORT ARGS...`` and return its stdout (stripped)."""
        res = subprocess.run(
            ["redis-cli", "-h", self.host, "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and (res.returncode != 0 or res.stdout.startswith("(error)") or "ERR" in res.stdout[:4]):
            output = res.stdout + res.stderr
            raise ServerError(f"redis-cli {' '.join(args)} failed ({res.returncode}): {output}")
        return res.stdout.strip()


# --------------------------------------------------------------------------------------------
# rabbitmq
# --------------------------------------------------------------------------------------------


class RabbitMQServer(_Server):
    """``rabbitmq-server`` as an isolated node ``evtop-PORT@localhost``.

    Running as root, the Debian wrapper drops to the ``rabbitmq`` user, so the data directory is
    owned by that user.  The node uses its *own* epmd (``ERL_EPMD_PORT`` = a private free port), so
    it never shares, or kills, an epmd that something else on the machine relies on; the epmd is
    stopped on the final ``stop()`` only if this fixture started it.
    """

    kind = "rabbitmq"

    def __init__(
        self,
        port: int | None = None,
        dist_port: int | None = None,
        epmd_port: int | None = None,
        startup_timeout: float = 60.0,
        *,
        management: bool = False,
    ) -> None:
        """``management``: also run the management plugin (its HTTP API on
        :attr:`management_port`, at :attr:`management_url`)."""
        super().__init__(port, startup_timeout)
        self.dist_port: int = dist_port or free_port(exclude={self.port})
        self.epmd_port: int = epmd_port or free_port(exclude={self.port, self.dist_port})
        self.management_port: int | None = (
            free_port(exclude={self.port, self.dist_port, self.epmd_port}) if management else None
        )
        self.nodename = f"evtop-{self.port}@localhost"
        self._started_epmd: bool | None = None  # decided on the first start
        self._beam_pid: int | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{self.host}:{self.port}//"

    @property
    def management_url(self) -> str:
        assert self.management_port is not None, "started without management=True"
        return f"http://guest:guest@{self.host}:{self.management_port}"

    # environment --------------------------------------------------------------------------
    def _ctl_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["ERL_EPMD_PORT"] = str(self.epmd_port)
        return env

    def _env(self) -> dict[str, str]:
        assert self.dir is not None
        d = self.dir
        env = self._ctl_env()
        env.update(
            RABBITMQ_NODENAME=self.nodename,
            RABBITMQ_NODE_IP_ADDRESS=self.host,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(d / "mnesia"),
            RABBITMQ_LOG_BASE=str(d / "log"),
            RABBITMQ_FEATURE_FLAGS_FILE=str(d / "feature_flags"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(d / "enabled_plugins"),
            RABBITMQ_PID_FILE=str(d / "pid"),
            RABBITMQ_CONFIG_FILE=str(d / "rabbitmq.conf"),  # not /etc/rabbitmq
            RABBITMQ_ADVANCED_CONFIG_FILE=str(d / "advanced.config"),
            RABBITMQ_CONF_ENV_FILE=str(d / "rabbitmq-env.conf"),
        )
        return env

    def _prepare_dir(self, path: Path) -> None:
        (path / "mnesia").mkdir()
        (path / "log").mkdir()
        plugins = "rabbitmq_management" if self.management_port else ""
        (path / "enabled_plugins").write_text(f"[{plugins}].\n")
        (path / "rabbitmq-env.conf").write_text("")
        # a full disk or a small VM must not raise resource alarms that block publishers
        conf = "disk_free_limit.absolute = 1MB\nvm_memory_high_watermark.relative = 0.8\n"
        if self.management_port:
            conf += f"management.tcp.port = {self.management_port}\nmanagement.tcp.ip = {self.host}\n"
        (path / "rabbitmq.conf").write_text(conf)
        subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(path)], check=True)
        os.chmod(path, 0o755)

    def _command(self) -> list[str]:
        return ["rabbitmq-server"]

    def log_tail(self, lines: int = 40) -> str:
        parts = [super().log_tail(lines)]
        if self.dir is not None:
            parts.append(tail(self.dir / "log" / f"{self.nodename}.log", lines))
        return "\n".join(p for p in parts if p)

    # epmd -------------------------------------------------------------------------------------
    def epmd_running(self) -> bool:
        res = subprocess.run(
            ["epmd", "-port", str(self.epmd_port), "-names"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
        return res.returncode == 0 and "up and running" in res.stdout

    def epmd_pids(self) -> list[int]:
        """Pids of ``epmd`` processes listening on this server's epmd port."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                env = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if not cmd or not cmd[0].endswith(b"epmd"):
                continue
            port = str(self.epmd_port).encode()
            if (b"-port" in cmd and port in cmd) or (b"ERL_EPMD_PORT=" + port) in env:
                pids.append(int(entry))
        return [p for p in pids if pid_alive(p)]

    # ctl ----------------------------------------------------------------------------------------
    def ctl(self, *args: str, check: bool = True, timeout: float = 60.0) -> str:
        """Run ``rabbitmqctl -n NODENAME ARGS...`` (e.g. ``ctl('list_queues', 'name')``); returns stdout."""
        res = subprocess.run(
            ["rabbitmqctl", "-n", self.nodename, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self._ctl_env(),
            check=False,
        )
        if check and res.returncode != 0:
            output = res.stdout + res.stderr
            raise ServerError(f"rabbitmqctl {' '.join(args)} failed ({res.returncode}):\n{output}")
        return res.stdout

    def list_queues(self, *columns: str, vhost: str = "/") -> list[list[str]]:
        """``rabbitmqctl list_queues`` as rows of strings (default column: name)."""
        out = self.ctl("list_queues", "-p", vhost, "-q", "--no-table-headers", *(columns or ("name",)))
        return [line.split("\t") for line in out.splitlines() if line.strip()]

    def url_for(self, user: str = "guest", password: str = "guest", vhost: str = "/") -> str:
        return f"amqp://{user}:{password}@{self.host}:{self.port}/{quote(vhost, safe='')}"

    def add_vhost(self, vhost: str) -> str:
        """A fresh virtual host (nothing declared in it yet) where guest may do anything; its URL."""
        self.ctl("add_vhost", vhost)
        self.set_permissions("guest", vhost=vhost)
        return self.url_for(vhost=vhost)

    def add_user(self, user: str, password: str) -> None:
        self.ctl("add_user", user, password)

    def set_permissions(
        self, user: str, *, vhost: str = "/", configure: str = ".*", write: str = ".*", read: str = ".*"
    ) -> None:
        """RabbitMQ's three permission regexes for ``user`` on ``vhost`` ('' grants nothing)."""
        self.ctl("set_permissions", "-p", vhost, user, configure, write, read)

    # lifecycle ----------------------------------------------------------------------------------
    def start(self) -> Self:
        if self._started_epmd is None:
            self._started_epmd = not self.epmd_running()
        return super().start()

    def _port_open(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _wait_ready(self, deadline: float) -> None:
        # Cheap poll first (each rabbitmqctl call costs ~0.7 s of Erlang VM boot): the AMQP
        # listener opens near the end of boot; then confirm with await_startup.
        while not self._port_open():
            self._check_alive()
            if time.monotonic() >= deadline:
                raise ServerError(f"rabbitmq {self.nodename} not listening after {self.startup_timeout}s")
            time.sleep(0.1)
        while True:
            self._check_alive()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServerError(f"rabbitmq node {self.nodename} not ready after {self.startup_timeout}s")
            try:
                self.ctl("await_startup", "--timeout", str(max(1, int(remaining))), timeout=remaining + 5)
            except (ServerError, subprocess.TimeoutExpired):
                time.sleep(0.2)
                continue
            break
        self._beam_pid = self._read_beam_pid()

    def _read_beam_pid(self) -> int | None:
        if self.dir is None:
            return None
        try:
            return int((self.dir / "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def _graceful_stop(self, timeout: float) -> None:
        with contextlib.suppress(ServerError, subprocess.TimeoutExpired):
            self.ctl("stop", timeout=timeout)

    def _extra_pids(self) -> list[int]:
        # `su -c` puts the node in its own session, and erl_child_setup in yet another, so the
        # process group we created does not cover them: kill the beam and its children by pid.
        beam = self._beam_pid or self._read_beam_pid()
        if beam is None or not pid_alive(beam):
            return []
        return [beam, *descendants(beam)]

    def _after_stop(self, final: bool) -> None:
        self._beam_pid = None
        if not final or not self._started_epmd:
            return
        pids = self.epmd_pids()
        # `epmd -kill` refuses while nodes are still registered, which is what we want
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(
                ["epmd", "-port", str(self.epmd_port), "-kill"],
                capture_output=True,
                check=False,
                timeout=10,
            )
        for pid in pids:
            if not wait_pid_gone(pid, 5):
                _kill_quietly(pid, signal.SIGKILL)
                wait_pid_gone(pid, 5)

    def all_pids(self) -> Sequence[int]:
        """Every process belonging to this server right now (wrapper, beam, children, epmd)."""
        pids: list[int] = []
        if self.proc is not None and self.proc.poll() is None:
            pids += [self.proc.pid, *descendants(self.proc.pid)]
        pids += self._extra_pids()
        if self._started_epmd:
            pids += self.epmd_pids()
        return sorted(set(pids))


# --------------------------------------------------------------------------------------------
# postgresql
# --------------------------------------------------------------------------------------------


def postgres_bindir() -> Path:
    """Where ``postgres``, ``initdb`` and ``pg_isready`` are: Debian keeps them off the PATH."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name)
    )
    if versions:
        return versions[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise ServerError("PostgreSQL server binaries not found (apt-get install postgresql)")
    return Path(os.path.realpath(initdb)).parent


class PostgreSQLServer(_Server):
    """``postgres`` on 127.0.0.1:PORT with its data and socket in a temp dir.

    PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user
    (``runuser``) in a directory it owns. The superuser is ``evtop``, with trust
    authentication on loopback; tests create ordinary roles and databases with :meth:`sql`.
    :meth:`stop_keeping_data` and :meth:`start` make an outage: the data survive it.
    """

    kind = "postgres"
    superuser = "evtop"

    def __init__(self, port: int | None = None, startup_timeout: float = 30.0) -> None:
        super().__init__(port, startup_timeout)
        self.bindir = postgres_bindir()

    def url_for(
        self, user: str | None = None, database: str = "postgres", password: str | None = None
    ) -> str:
        secret = f":{password}" if password else ""
        return f"postgresql://{user or self.superuser}{secret}@{self.host}:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.url_for()

    def _as_owner(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _prepare_dir(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")
        subprocess.run(
            [
                *self._as_owner(), str(self.bindir / "initdb"),
                "-D", str(path / "data"), "-A", "trust", "-U", self.superuser,
                "-E", "UTF8", "--locale=C", "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip

    def _command(self) -> list[str]:
        assert self.dir is not None
        return [
            *self._as_owner(), str(self.bindir / "postgres"),
            "-D", str(self.dir / "data"),
            "-p", str(self.port),
            "-k", str(self.dir),
            "-c", "listen_addresses=127.0.0.1",
            "-c", "fsync=off",
            "-c", "full_page_writes=off",
        ]  # fmt: skip

    def _wait_ready(self, deadline: float) -> None:
        while True:
            self._check_alive()
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-q", "-h", self.host, "-p", str(self.port)],
                check=False,
                timeout=10,
            )
            if ready.returncode == 0:
                return
            if time.monotonic() >= deadline:
                raise ServerError(f"postgres on port {self.port} not ready after {self.startup_timeout}s")
            time.sleep(0.05)

    def postmaster_pid(self) -> int | None:
        if self.dir is None:
            return None
        try:
            return int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _graceful_stop(self, timeout: float) -> None:
        pid = self.postmaster_pid()
        if pid is not None:
            _kill_quietly(pid, signal.SIGINT)  # "fast" shutdown: sessions are cut, data kept

    def stop_keeping_data(self, timeout: float = 15.0) -> None:
        """Stop the server (an outage); :meth:`start` brings it back with its data."""
        self.stop(timeout, _final=False)

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run ``statement`` as the superuser with ``psql``; its output."""
        res = subprocess.run(
            [
                str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", self.host, "-p", str(self.port), "-U", self.superuser, "-d", database,
                "-c", statement,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )  # fmt: skip
        if res.returncode != 0:
            raise ServerError(f"psql {statement!r} failed ({res.returncode}): {res.stderr}")
        return res.stdout.strip()
