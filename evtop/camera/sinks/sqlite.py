"""``sqlite:///path.db``: task history in an SQLite file, the embedded default.

The file is created mode 0600 (never through a symbolic link) in write-ahead-log mode,
so readers such as ``sqlite3 path.db`` never block evtop's writes; a write that finds
the database locked by another process waits :data:`BUSY_TIMEOUT` seconds, then fails
and is retried later with its snapshot kept.
"""

from __future__ import annotations

import os
import sqlite3

from evtop.camera.sinks.base import file_path
from evtop.camera.sinks.sql import Dialect, SQLSink
from evtop.files import open_private

#: Seconds a write waits for a lock held by another connection before it fails.
BUSY_TIMEOUT = 5.0

SQLITE = Dialect(
    name="sqlite",
    param="?",
    json_param="?",
    begin="BEGIN IMMEDIATE",
    session=("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"),
)


class SQLiteSink(SQLSink):
    description = "SQLite file: tasks, workers and snapshots tables (the embedded default)"
    example = "sqlite:///evtop.db"
    dialect = SQLITE

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.path = file_path(url, "sqlite")

    def connect(self) -> sqlite3.Connection:
        os.close(open_private(self.path, option="--sink"))  # 0600, and no symlink followed
        return sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
