"""``postgresql://user:password@host:5432/dbname``: task history in PostgreSQL (psycopg 3).

The URL is libpq's, so every libpq parameter works in its query (``?sslmode=require``,
``?host=/run/postgresql``). The schema needs only what the owner of a database has: no
superuser, no extension. Migrations hold a transaction-level advisory lock, so two
evtops starting against one database never migrate at once. A connection that takes
longer than :data:`CONNECT_TIMEOUT` seconds, or a statement longer than 30 seconds (a
lock held elsewhere), fails the write; the snapshot is kept and retried.
"""

from __future__ import annotations

from typing import Any

from evtop.camera.sinks.base import SinkURLError, split_url
from evtop.camera.sinks.sql import Dialect, SQLSink
from evtop.errors import describe_error

CONNECT_TIMEOUT = 5

POSTGRESQL = Dialect(
    name="postgresql",
    param="%s",
    json_param="%s::jsonb",
    begin="BEGIN",
    session=("SET statement_timeout = '30s'",),
    # The lock's key is "evtop" in ASCII.
    migration_lock="SELECT pg_advisory_xact_lock(435779039088)",
)


class PostgreSQLSink(SQLSink):
    description = "PostgreSQL database: tasks, workers and snapshots tables (psycopg 3)"
    example = "postgresql://evtop:PASSWORD@localhost:5432/evtop"
    requires = ("psycopg",)
    extra = "postgres"
    dialect = POSTGRESQL

    def __init__(self, url: str) -> None:
        super().__init__(url)
        from psycopg.conninfo import conninfo_to_dict

        parts = split_url(url, "postgresql")
        try:
            parts.port  # noqa: B018 - urllib checks the port when it is read
        except ValueError:
            raise SinkURLError("the port must be a number from 1 to 65535") from None
        try:
            self.params = conninfo_to_dict(url)
        except Exception as exc:
            raise SinkURLError(f"libpq cannot use it ({describe_error(exc)})") from None

    def connect(self) -> Any:
        import psycopg

        options: dict[str, Any] = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT}
        if "application_name" not in self.params:
            options["application_name"] = "evtop"
        return psycopg.connect(self.url, **options)
