"""What the SQL sinks share: the schema, its migrations, and the statements that write.

SQLite and PostgreSQL get the same tables, written by the same statements; a
:class:`Dialect` holds the few differences (column types, the parameter marker, how a
write transaction starts). Every statement takes its data as parameters: only table and
column names, which are constants of this module, are ever part of the SQL text.

Tables (all named ``evtop_*`` so that they can share a database with anything else):

- ``evtop_tasks``: one row per task uuid, upserted from every snapshot that changed it;
- ``evtop_workers``: one row per hostname;
- ``evtop_snapshots``: one row per snapshot, keyed by ``(run, id)``;
- ``evtop_schema``: the migrations applied, so an upgrade of evtop migrates on start.

Delivery is at least once, and snapshots may arrive late or again, so a task row is
merged, never blindly replaced. Each row carries ``updated``, when evtop received the
last event about the task, and celery's state precedence as ``rank`` (0 is SUCCESS). An
incoming row takes over the state when its state ranks at least as far along, or when it
is newer information about a task that is not finished (a RETRY after STARTED); a
finished task (SUCCESS, FAILURE, REVOKED) is never moved back. Every other column takes
the newer row's value, and keeps the older one where the newer has none. Because the
rule is in the statement itself, concurrent and out-of-order writes are safe too.
"""

from __future__ import annotations

import contextlib
import time
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

from evtop.camera.sinks.base import Sink
from evtop.camera.sinks.snapshot import TASK_COLUMNS, WORKER_COLUMNS, Snapshot, TaskRow, WorkerRow
from evtop.text.jsonline import dumps


class SchemaError(Exception):
    """The database holds a schema this evtop cannot use."""


#: What each generic column type of the schema below is in each dialect.
COLUMN_TYPES: Mapping[str, Mapping[str, str]] = {
    "text": {"sqlite": "TEXT", "postgresql": "text"},
    "real": {"sqlite": "REAL", "postgresql": "double precision"},
    "int": {"sqlite": "INTEGER", "postgresql": "bigint"},
    "bool": {"sqlite": "INTEGER", "postgresql": "boolean"},
    "json": {"sqlite": "TEXT", "postgresql": "jsonb"},
}


@dataclass(frozen=True)
class Dialect:
    #: Its column in :data:`COLUMN_TYPES`.
    name: str
    #: The parameter marker of the driver's paramstyle, and the one for a JSON value.
    param: str
    json_param: str
    #: What starts a transaction that writes.
    begin: str
    #: Run on every new connection before anything else (connection settings).
    session: tuple[str, ...] = ()
    #: Run first in the migration transaction, so two evtops never migrate at once.
    migration_lock: str | None = None

    def render(self, template: str) -> str:
        return template.format(**{generic: types[self.name] for generic, types in COLUMN_TYPES.items()})


#: Migrations, in order; the schema's version is how many of them were applied.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE evtop_tasks (
            uuid {text} PRIMARY KEY,
            name {text},
            state {text} NOT NULL,
            rank {int} NOT NULL,
            final {bool} NOT NULL,
            worker {text},
            sent {real},
            received {real},
            started {real},
            succeeded {real},
            failed {real},
            retried {real},
            revoked {real},
            rejected {real},
            updated {real} NOT NULL,
            runtime {real},
            retries {int},
            args {text},
            kwargs {text},
            result {text},
            exception {text},
            traceback {text},
            root_id {text},
            parent_id {text},
            eta {text},
            expires {text},
            queue {text},
            run {text} NOT NULL,
            snapshot {int} NOT NULL
        )""",
        "CREATE INDEX evtop_tasks_state ON evtop_tasks (state, updated)",
        "CREATE INDEX evtop_tasks_name ON evtop_tasks (name, updated)",
        "CREATE INDEX evtop_tasks_worker ON evtop_tasks (worker, updated)",
        "CREATE INDEX evtop_tasks_updated ON evtop_tasks (updated)",
        """CREATE TABLE evtop_workers (
            hostname {text} PRIMARY KEY,
            alive {bool} NOT NULL,
            last_seen {real},
            active {int},
            processed {int},
            loadavg {json},
            freq {real},
            sw_ident {text},
            sw_ver {text},
            sw_sys {text},
            pid {int},
            updated {real} NOT NULL
        )""",
        """CREATE TABLE evtop_snapshots (
            run {text} NOT NULL,
            id {int} NOT NULL,
            time {real} NOT NULL,
            final {bool} NOT NULL,
            merged {int} NOT NULL,
            tasks {int} NOT NULL,
            workers {int} NOT NULL,
            states {json} NOT NULL,
            types {json} NOT NULL,
            runtime {json},
            ingest {json} NOT NULL,
            broker {json} NOT NULL,
            sinks {json} NOT NULL,
            events {json} NOT NULL,
            PRIMARY KEY (run, id)
        )""",
        "CREATE INDEX evtop_snapshots_time ON evtop_snapshots (time)",
    ),
    # 2: what the stream shows was missed (missed task starts, lost tasks, gaps).
    ("ALTER TABLE evtop_snapshots ADD COLUMN trust {json}",),
)
SCHEMA_VERSION = len(MIGRATIONS)

_SCHEMA_TABLE = "CREATE TABLE IF NOT EXISTS evtop_schema (version {int} PRIMARY KEY, applied {real} NOT NULL)"

#: Task columns in statement order: the row's fields, then what the sink adds.
TASK_SQL_COLUMNS = (*TASK_COLUMNS, "rank", "final", "run", "snapshot")
WORKER_SQL_COLUMNS = (*WORKER_COLUMNS, "updated")
SNAPSHOT_COLUMNS = (
    "run id time final merged tasks workers states types runtime ingest broker sinks events trust".split()
)
_JSON_SNAPSHOT_COLUMNS = frozenset("states types runtime ingest broker sinks events trust".split())
#: Task columns merged by the precedence rule rather than by age alone.
_STATE_COLUMNS = ("state", "rank", "final")


@dataclass(frozen=True)
class Statements:
    upsert_task: str
    upsert_worker: str
    insert_snapshot: str
    cleanup: tuple[str, ...]


@cache
def statements(dialect: Dialect) -> Statements:
    """The writing statements for ``dialect`` (built once)."""
    mark = dialect.param
    newer = "excluded.updated >= evtop_tasks.updated"
    advance = (
        "excluded.rank <= evtop_tasks.rank"
        " OR (excluded.updated > evtop_tasks.updated AND NOT evtop_tasks.final)"
    )
    task_sets = []
    for column in TASK_SQL_COLUMNS:
        if column == "uuid":
            continue
        if column in _STATE_COLUMNS:
            value = f"CASE WHEN {advance} THEN excluded.{column} ELSE evtop_tasks.{column} END"
        else:
            value = (
                f"CASE WHEN {newer} THEN COALESCE(excluded.{column}, evtop_tasks.{column})"
                f" ELSE COALESCE(evtop_tasks.{column}, excluded.{column}) END"
            )
        task_sets.append(f"{column} = {value}")
    worker_sets = [f"{column} = excluded.{column}" for column in WORKER_SQL_COLUMNS if column != "hostname"]
    worker_marks = [dialect.json_param if c == "loadavg" else mark for c in WORKER_SQL_COLUMNS]
    snapshot_marks = [dialect.json_param if c in _JSON_SNAPSHOT_COLUMNS else mark for c in SNAPSHOT_COLUMNS]
    return Statements(
        upsert_task=(
            f"INSERT INTO evtop_tasks ({', '.join(TASK_SQL_COLUMNS)})"
            f" VALUES ({', '.join(mark for _ in TASK_SQL_COLUMNS)})"
            f" ON CONFLICT (uuid) DO UPDATE SET {', '.join(task_sets)}"
        ),
        upsert_worker=(
            f"INSERT INTO evtop_workers ({', '.join(WORKER_SQL_COLUMNS)})"
            f" VALUES ({', '.join(worker_marks)})"
            f" ON CONFLICT (hostname) DO UPDATE SET {', '.join(worker_sets)}"
            " WHERE excluded.updated >= evtop_workers.updated"
        ),
        insert_snapshot=(
            f"INSERT INTO evtop_snapshots ({', '.join(SNAPSHOT_COLUMNS)})"
            f" VALUES ({', '.join(snapshot_marks)})"
            " ON CONFLICT (run, id) DO NOTHING"
        ),
        cleanup=(
            f"DELETE FROM evtop_tasks WHERE updated < {mark}",
            f"DELETE FROM evtop_workers WHERE updated < {mark}",
            f"DELETE FROM evtop_snapshots WHERE time < {mark}",
        ),
    )


def task_params(row: TaskRow, snapshot: Snapshot) -> tuple[Any, ...]:
    return (*(getattr(row, c) for c in TASK_COLUMNS), row.rank, row.final, snapshot.run, snapshot.id)


def worker_params(row: WorkerRow, snapshot: Snapshot) -> tuple[Any, ...]:
    values = row.as_dict()
    values["loadavg"] = None if row.loadavg is None else dumps(list(row.loadavg))
    return (*(values[c] for c in WORKER_COLUMNS), snapshot.time)


def snapshot_params(snapshot: Snapshot) -> tuple[Any, ...]:
    summary = snapshot.summary()
    summary["tasks"] = len(snapshot.tasks)
    summary["workers"] = len(snapshot.workers)
    return tuple(
        dumps(summary[c]) if c in _JSON_SNAPSHOT_COLUMNS and summary[c] is not None else summary[c]
        for c in SNAPSHOT_COLUMNS
    )


class SQLSink(Sink):
    """A sink writing the schema above through a DB-API connection."""

    dialect: ClassVar[Dialect]

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._conn: Any = None

    @abstractmethod
    def connect(self) -> Any:
        """A new connection in autocommit mode (transactions are explicit), with ``execute``
        (as sqlite3's and psycopg's have) for the dialect's session statements."""

    def open(self) -> None:
        conn = self.connect()
        try:
            for statement in self.dialect.session:
                conn.execute(statement)
            with _transaction(conn, self.dialect.begin) as cursor:
                migrate(cursor, self.dialect)
        except BaseException:
            with contextlib.suppress(Exception):
                conn.close()
            raise
        self._conn = conn

    def write(self, snapshot: Snapshot) -> None:
        sql = statements(self.dialect)
        with _transaction(self._connection(), self.dialect.begin) as cursor:
            if snapshot.tasks:
                cursor.executemany(sql.upsert_task, [task_params(row, snapshot) for row in snapshot.tasks])
            if snapshot.workers:
                cursor.executemany(
                    sql.upsert_worker, [worker_params(row, snapshot) for row in snapshot.workers]
                )
            cursor.execute(sql.insert_snapshot, snapshot_params(snapshot))

    def cleanup(self, before: float) -> None:
        with _transaction(self._connection(), self.dialect.begin) as cursor:
            for statement in statements(self.dialect).cleanup:
                cursor.execute(statement, (before,))

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _connection(self) -> Any:
        if self._conn is None:
            raise RuntimeError("the sink is not open")
        return self._conn


def migrate(cursor: Any, dialect: Dialect) -> None:
    """Bring the schema up to date, inside the caller's transaction."""
    if dialect.migration_lock:
        cursor.execute(dialect.migration_lock)
    cursor.execute(dialect.render(_SCHEMA_TABLE))
    cursor.execute("SELECT MAX(version) FROM evtop_schema")
    current = cursor.fetchone()[0] or 0
    if current > SCHEMA_VERSION:
        raise SchemaError(
            f"the database has evtop schema version {current}; this evtop knows up to {SCHEMA_VERSION}"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[version - 1]:
            cursor.execute(dialect.render(statement))
        cursor.execute(
            f"INSERT INTO evtop_schema (version, applied) VALUES ({dialect.param}, {dialect.param})",
            (version, time.time()),
        )


@contextlib.contextmanager
def _transaction(conn: Any, begin: str) -> Iterator[Any]:
    """One explicit transaction: committed when the block ends, rolled back if it raises."""
    cursor = conn.cursor()
    try:
        cursor.execute(begin)
        try:
            yield cursor
        except BaseException:
            with contextlib.suppress(Exception):
                cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")
    finally:
        with contextlib.suppress(Exception):
            cursor.close()
