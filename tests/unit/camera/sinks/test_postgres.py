"""The PostgreSQL sink against a real server, as an ordinary role that owns its database."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from evtop.camera.sinks.postgres import PostgreSQLSink
from evtop.camera.sinks.sql import SCHEMA_VERSION
from tests.support.servers import free_port
from tests.unit.camera.sinks.contract import SQLContract, opened
from tests.unit.camera.sinks.shots import Shots, received, started, succeeded, uuid

pytestmark = pytest.mark.postgres


class TestPostgreSQL(SQLContract):
    sink_class = PostgreSQLSink
    bad_urls = (
        ("postgresql://u:pw@h:99999/db", "port must be a number"),
        ("postgresql://u:pw@h/db?nosuchoption=1", "libpq cannot use it"),
        ("sqlite:///x", "expected a postgresql:// URL"),
    )

    @pytest.fixture
    def url(self, postgres_url) -> str:
        return postgres_url

    def query(self, url: str, sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(url) as conn:
            return conn.execute(sql).fetchall()

    def execute(self, url: str, sql: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql)


def test_the_role_has_no_special_rights(postgres_url):
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"
        ).fetchone() == (False, False, False)


def test_the_sinks_statements_time_out(postgres_url):
    """A lock held elsewhere fails a write after 30 s (its snapshot is retried) instead of
    holding up the delivery thread for good."""
    sink = opened(PostgreSQLSink(postgres_url))
    try:
        assert sink._connection().execute("SHOW statement_timeout").fetchone() == ("30s",)
    finally:
        sink.close()


def test_json_columns_are_jsonb_for_queries(postgres_url):
    sink = opened(PostgreSQLSink(postgres_url))
    sink.write(Shots().feed(received(1, 1), started(1, 2)).shoot())
    sink.close()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT states->>'STARTED' FROM evtop_snapshots").fetchone() == ("1",)


def test_two_evtops_starting_at_once_migrate_once(postgres_url):
    sinks = [PostgreSQLSink(postgres_url) for _ in range(4)]
    threads = [threading.Thread(target=sink.open) for sink in sinks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for sink in sinks:
        assert sink._conn is not None
        sink.close()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM evtop_schema ORDER BY version").fetchall() == [
            (version,) for version in range(1, SCHEMA_VERSION + 1)
        ]


def test_concurrent_writers_of_one_task_end_at_its_final_state(postgres_url):
    shots = Shots()
    steps = [shots.feed(event).shoot() for event in (received(1, 1), started(1, 2), succeeded(1, 3))]
    sinks = [opened(PostgreSQLSink(postgres_url)) for _ in steps]
    threads = [
        threading.Thread(target=lambda s=sink, snap=snap: [s.write(snap) for _ in range(20)])
        for sink, snap in zip(sinks, reversed(steps), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for sink in sinks:
        sink.close()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT uuid, state FROM evtop_tasks").fetchall() == [(uuid(1), "SUCCESS")]


def test_a_server_that_is_down_fails_open_with_the_password_nowhere():
    port = free_port()
    sink = PostgreSQLSink(f"postgresql://evtop:hunter2@127.0.0.1:{port}/nowhere")
    assert sink.name == f"postgresql://evtop:**@127.0.0.1:{port}/nowhere"
    with pytest.raises(psycopg.OperationalError) as refused:
        sink.open()
    assert "hunter2" not in str(refused.value)
