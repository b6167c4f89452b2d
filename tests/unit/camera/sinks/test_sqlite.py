"""The SQLite sink against real SQLite files: the SQL contract, and what a file brings."""

from __future__ import annotations

import os
import sqlite3
import stat
from typing import Any

import pytest

from evtop.camera.sinks import sqlite as sqlite_sink
from evtop.camera.sinks.sqlite import SQLiteSink
from tests.unit.camera.sinks.contract import SQLContract, opened
from tests.unit.camera.sinks.shots import Shots, received, uuid


class TestSQLite(SQLContract):
    sink_class = SQLiteSink
    bad_urls = (
        ("sqlite://host/x.db", "has no host"),
        ("sqlite:///x.db?mode=ro", "no [?]query"),
        ("sqlite:///", "no file name"),
        ("sqlite:///no/such/dir/x.db", "directory no/such/dir does not exist .a relative path"),
        ("sqlite:////no/such/dir/x.db", "directory /no/such/dir does not exist .an absolute path"),
        ("jsonl:///x.db", "expected a sqlite:// URL"),
    )

    @pytest.fixture
    def url(self, tmp_path) -> str:
        return f"sqlite:///{tmp_path}/evtop.db"  # four slashes: tmp_path is absolute

    def query(self, url: str, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(SQLiteSink(url).path) as conn:
            return conn.execute(sql).fetchall()

    def execute(self, url: str, sql: str) -> None:
        with sqlite3.connect(SQLiteSink(url).path) as conn:
            conn.execute(sql)


def test_three_slashes_is_a_path_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    opened(SQLiteSink("sqlite:///demo.db")).close()
    assert (tmp_path / "demo.db").is_file()


def test_the_file_is_private_and_in_wal_mode(tmp_path):
    os.umask(old := os.umask(0))  # whatever the umask
    try:
        opened(SQLiteSink(f"sqlite:///{tmp_path}/a.db")).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.db").stat().st_mode) == 0o600
    with sqlite3.connect(tmp_path / "a.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_the_sink_syncs_at_checkpoints_only(tmp_path):
    """synchronous=NORMAL: in WAL mode still safe against a crash of evtop, without an
    fsync per snapshot."""
    sink = opened(SQLiteSink(f"sqlite:///{tmp_path}/a.db"))
    try:
        assert sink._connection().execute("PRAGMA synchronous").fetchone() == (1,)
    finally:
        sink.close()


def test_a_planted_symlink_is_refused(tmp_path):
    canary = tmp_path / "canary"
    canary.write_text("keep me")
    (tmp_path / "x.db").symlink_to(canary)
    with pytest.raises(Exception, match="symbolic link"):
        SQLiteSink(f"sqlite:///{tmp_path}/x.db").open()
    assert canary.read_text() == "keep me"


def test_a_database_locked_by_another_process_fails_the_write_until_it_is_released(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_sink, "BUSY_TIMEOUT", 0.1)
    url = f"sqlite:///{tmp_path}/locked.db"
    sink = opened(SQLiteSink(url))
    snapshot = Shots().feed(received(1, 1)).shoot()
    other = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        sink.write(snapshot)
    other.execute("ROLLBACK")
    other.close()
    sink.close()
    sink.open()  # what the delivery thread does after a failure
    sink.write(snapshot)
    sink.close()
    with sqlite3.connect(tmp_path / "locked.db") as conn:
        assert conn.execute("SELECT uuid, state FROM evtop_tasks").fetchall() == [(uuid(1), "RECEIVED")]
