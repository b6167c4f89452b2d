"""Run ``evtop`` on a real pseudo-terminal and read its screen, as a user would see it.

The child gets the pty as stdin, stdout and controlling terminal (so Ctrl-C is a real
SIGINT); its output is fed to pyte, a terminal emulator, and tests wait on screen text
with a deadline. All raw bytes are kept, to check what the terminal was left in.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pyte

REPO = str(Path(__file__).resolve().parents[2])


def _controlling_tty() -> None:  # runs in the child between fork and exec
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    def __init__(
        self,
        *args: str,
        cols: int = 120,
        rows: int = 30,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        job_control: bool = False,
    ) -> None:
        """``job_control``: run evtop as a job of :mod:`tests.support.jobshell` (for Ctrl-Z)."""
        self.cols, self.rows = cols, rows
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        #: The line discipline's settings before evtop touched them (``stty -a``).
        self.initial_modes = termios.tcgetattr(slave)
        environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
        environ.update({"TERM": "xterm-256color", "PYTHONPATH": REPO, **(env or {})})
        command = [sys.executable, "-m", "evtop", *args]
        if job_control:
            command = [sys.executable, str(Path(__file__).with_name("jobshell.py")), *command]
        self.process = subprocess.Popen(
            command,
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
            env=environ,
            cwd=cwd or REPO,
            preexec_fn=_controlling_tty,
        )
        os.close(slave)
        self.master = master
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.raw += data
                self.stream.feed(data)

    @property
    def text(self) -> str:
        with self._lock:
            return "\n".join(self.screen.display)

    def wait_for(self, *needles: str, timeout: float = 20.0) -> str:
        """Poll the screen until every needle shows (AssertionError with the screen if not)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text
            if all(needle in text for needle in needles):
                return text
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"{needles!r} not on screen:\n{text}\nstderr: {self.stderr_if_done()}")
            time.sleep(0.05)

    def wait_line(self, *needles: str, timeout: float = 20.0) -> str:
        """Poll until one screen line holds every needle (a table row, not the header)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.text.splitlines()
            for line in lines:
                if all(needle in line for needle in needles):
                    return line
            if time.monotonic() > deadline or self.process.poll() is not None:
                screen = "\n".join(lines)
                raise AssertionError(f"no line holds {needles!r}:\n{screen}\nstderr: {self.stderr_if_done()}")
            time.sleep(0.05)

    def wait_gone(self, needle: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while needle in (text := self.text):
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} still on screen:\n{text}")
            time.sleep(0.05)
        return text

    def modes(self) -> list:
        """The terminal's settings now, to compare with :attr:`initial_modes`."""
        return termios.tcgetattr(self.master)

    def resize(self, rows: int, cols: int) -> None:
        """What a terminal window does: the kernel sends the child SIGWINCH."""
        with self._lock:
            self.screen.resize(max(rows, 1), max(cols, 1))
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def job_stopped(self) -> bool:
        """With ``job_control``: whether evtop, the shell's job, is stopped (state T)."""
        pid = self.process.pid
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            job = int(children.read().split()[0])
        with open(f"/proc/{job}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "T"

    def fg(self) -> None:
        """With ``job_control``: what ``fg`` does (the shell hands the terminal back, SIGCONT)."""
        self.process.send_signal(signal.SIGUSR1)

    def send(self, keys: str | bytes) -> None:
        os.write(self.master, keys.encode() if isinstance(keys, str) else keys)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait_exit(self, timeout: float = 20.0) -> tuple[int, str]:
        _, err = self.process.communicate(timeout=timeout)
        self._reader.join(timeout=5)
        #: The settings evtop left behind (read before the pty is closed).
        self.exit_modes = self.modes()
        return self.process.returncode, err.decode(errors="replace")

    def stderr_if_done(self) -> str:
        if self.process.poll() is None:
            return "(running)"
        return self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        os.close(self.master)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
