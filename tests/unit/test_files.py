"""open_private: the files evtop writes are private, regular, and never reached via a link."""

from __future__ import annotations

import io
import os
import stat
import threading

import pytest

from evtop.cli import main
from evtop.env import Environment
from evtop.errors import UsageError
from evtop.files import open_private


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_creates_0600_whatever_the_umask_and_appends(tmp_path):
    path = tmp_path / "out.log"
    old = os.umask(0)
    try:
        fd = open_private(str(path), option="--logfile")
    finally:
        os.umask(old)
    os.write(fd, b"one\n")
    os.close(fd)
    fd = open_private(str(path), option="--logfile")
    os.write(fd, b"two\n")
    os.close(fd)
    assert path.read_bytes() == b"one\ntwo\n" and mode(path) == 0o600


def test_an_existing_file_is_narrowed_to_0600(tmp_path):
    path = tmp_path / "old.log"
    path.write_text("kept\n")
    path.chmod(0o644)
    os.close(open_private(str(path), option="--logfile"))
    assert mode(path) == 0o600 and path.read_text() == "kept\n"


def planted_link(path) -> None:
    (path.parent / "target").write_text("x")
    path.symlink_to(path.parent / "target")


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (planted_link, "symbolic link"),
        (lambda path: path.mkdir(), "is a directory"),
        (lambda path: None, "its directory does not exist"),
    ],
    ids=["symlink", "directory", "missing-directory"],
)
def test_refusals_are_one_line_usage_errors(tmp_path, make, why):
    path = tmp_path / "x"
    make(path)
    target = path if why != "its directory does not exist" else tmp_path / "nowhere" / "x"
    with pytest.raises(UsageError, match=why) as info:
        open_private(str(target), option="--record")
    assert str(info.value).startswith(f"--record {target}: ") and "\n" not in str(info.value)
    if why == "symbolic link":
        assert (tmp_path / "target").read_text() == "x" and mode(tmp_path / "target") != 0o600


def test_a_device_is_refused_and_never_chmodded():
    before = os.stat(os.devnull).st_mode
    with pytest.raises(UsageError, match="is not a regular file"):
        open_private(os.devnull, option="--logfile")
    assert os.stat(os.devnull).st_mode == before


@pytest.mark.parametrize("reader", [False, True], ids=["no-reader", "with-reader"])
def test_a_fifo_is_refused_without_blocking(tmp_path, reader):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o644)
    held = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK) if reader else None
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            open_private(str(fifo), option="--logfile")
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(10)
    if held is not None:
        os.close(held)
    assert not thread.is_alive(), "open_private blocked on a FIFO"
    assert isinstance(outcome[0], UsageError) and "is not a regular file" in str(outcome[0])
    assert mode(fifo) == 0o644


def test_a_refused_logfile_is_exit_status_2_in_one_line():
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), stdin=io.StringIO(), environ={})
    assert main(["--demo", "--dump", "-f", os.devnull], env) == 2
    err = env.stderr.getvalue()
    assert err == f"evtop: error: --logfile {os.devnull}: is not a regular file\n"
