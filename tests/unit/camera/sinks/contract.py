"""What every sink promises, as test classes each sink's test module subclasses.

:class:`SinkContract` is for every sink, :class:`StoreContract` for the sinks that keep
tasks (read back by the subclass's :meth:`~StoreContract.stored`), :class:`SQLContract`
for the SQL ones. A subclass provides ``sink_class``, ``bad_urls`` and a ``url`` fixture
naming a fresh, empty store on a real server or file.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from evtop.camera.sinks.base import Sink, SinkURLError
from evtop.camera.sinks.snapshot import TASK_COLUMNS, Snapshot
from evtop.camera.sinks.sql import SCHEMA_VERSION
from evtop.text.sanitize import sanitize
from tests.support.events import assert_terminal_safe
from tests.unit.camera.sinks.shots import (
    HUGE,
    Shots,
    failed,
    heartbeat,
    hostile_snapshot,
    received,
    retried,
    started,
    succeeded,
    uuid,
)

MULTILINE = ("args", "kwargs", "result", "exception", "traceback")


def harmless(text: str) -> None:
    """Nothing a terminal would act on, line breaks aside (tracebacks keep theirs)."""
    assert_terminal_safe(text.replace("\n", " "))


def opened(sink: Sink) -> Sink:
    sink.open()
    return sink


class SinkContract:
    sink_class: ClassVar[type[Sink]]
    #: (URL, a piece of the error message)
    bad_urls: ClassVar[tuple[tuple[str, str], ...]]

    def printed(self, sink: Sink) -> str:
        """Everything a person could print from the (open) sink's store."""
        raise NotImplementedError

    def test_a_bad_url_is_refused_in_one_line_before_anything_opens(self):
        for url, hint in self.bad_urls:
            with pytest.raises(SinkURLError, match=hint) as refused:
                self.sink_class(url)
            assert "\n" not in str(refused.value)

    def test_writes_go_on_after_a_close_and_a_new_open(self, url):
        shots = Shots()
        sink = opened(self.sink_class(url))
        sink.write(shots.feed(received(1, 1)).shoot())
        sink.close()
        sink.close()  # closing twice is fine
        sink.open()
        sink.write(shots.feed(succeeded(1, 2)).shoot())
        sink.close()

    def test_hostile_strings_are_harmless_when_printed(self, url):
        snapshot, _ = hostile_snapshot()
        sink = opened(self.sink_class(url))
        try:
            sink.write(snapshot)
            sink.write(snapshot)
            harmless(self.printed(sink))
        finally:
            sink.close()


class StoreContract(SinkContract):
    def stored(self, url: str) -> dict[str, dict[str, Any]]:
        """The tasks as a reader of the store sees them: uuid -> TaskRow fields."""
        raise NotImplementedError

    def write(self, url: str, *snapshots: Snapshot) -> dict[str, dict[str, Any]]:
        sink = opened(self.sink_class(url))
        try:
            for snapshot in snapshots:
                sink.write(snapshot)
        finally:
            sink.close()
        return self.stored(url)

    def test_every_changed_task_lands_with_its_whole_state(self, url):
        shots = Shots()
        first = shots.feed(received(1, 1), received(2, 1), heartbeat(1)).shoot()
        second = shots.feed(started(1, 2), succeeded(1, 3), failed(2, 3)).shoot(final=True)
        rows = self.write(url, first, second)
        assert rows == {row.uuid: row.as_dict() for row in second.tasks}
        assert rows[uuid(1)]["state"] == "SUCCESS" and rows[uuid(1)]["name"] == "proj.add"
        assert rows[uuid(2)]["traceback"] == "Traceback:\n  boom"

    def test_a_snapshot_written_twice_changes_nothing(self, url):
        snapshot = Shots().feed(received(1, 1), started(1, 2)).shoot()
        assert (
            self.write(url, snapshot, snapshot) == self.write(url) == {uuid(1): snapshot.tasks[0].as_dict()}
        )

    def test_hostile_strings_land_intact_as_data(self, url):
        snapshot, cases = hostile_snapshot()
        rows = self.write(url, snapshot)
        expected = {row.uuid: row.as_dict() for row in snapshot.tasks}
        assert rows == expected
        for task, text in cases:
            row = rows[task]
            for column in MULTILINE:
                harmless(row[column])
            for column in ("name", "worker"):
                assert_terminal_safe(row[column])
            if text is HUGE:
                assert row["traceback"].startswith("huge value") and row["traceback"].endswith(" chars]")
                assert len(row["traceback"]) < 70_000
            else:
                assert row["traceback"] == sanitize(text, multiline=True)
                assert row["name"] == sanitize(text[:200])


class SQLContract(StoreContract):
    def test_an_older_snapshot_never_moves_a_task_back(self, url):
        shots = Shots()
        early = shots.feed(received(1, 1), received(2, 1)).shoot()
        late = shots.feed(started(1, 2), succeeded(1, 3), started(2, 2), failed(2, 3)).shoot()
        rows = self.write(url, late, early)
        assert {task: row["state"] for task, row in rows.items()} == {uuid(1): "SUCCESS", uuid(2): "FAILURE"}
        assert rows[uuid(1)]["runtime"] == 0.25 and rows[uuid(1)]["started"] is not None

    def test_a_retry_after_started_is_newer_news_but_never_undoes_success(self, url):
        shots = Shots()
        running = shots.feed(received(1, 1), started(1, 2)).shoot()
        retrying = shots.feed(retried(1, 3)).shoot()
        assert self.write(url, running, retrying)[uuid(1)]["state"] == "RETRY"
        done = shots.feed(received(1, 4, clock=4), started(1, 5, clock=5), succeeded(1, 6, clock=6)).shoot()
        assert self.write(url, done, retrying, running)[uuid(1)]["state"] == "SUCCESS"

    def test_a_later_row_fills_in_and_keeps_what_it_lacks(self, url):
        shots = Shots()
        named = shots.feed(received(1, 1)).shoot()
        ended = Shots().feed(succeeded(1, 5)).shoot()  # another run that saw only the end
        row = self.write(url, named, ended)[uuid(1)]
        assert (row["state"], row["name"], row["args"], row["result"]) == (
            "SUCCESS",
            "proj.add",
            "(1, 2)",
            "3",
        )

    def test_sql_in_a_value_is_only_data(self, url):
        evil = "x'); DROP TABLE evtop_tasks; --"
        snapshot = Shots().feed(received(1, 1, name=evil, args=evil)).shoot()
        row = self.write(url, snapshot)[uuid(1)]
        assert (row["name"], row["args"]) == (evil, evil)

    def test_cleanup_forgets_rows_older_than_asked(self, url):
        shots = Shots()
        old = shots.feed(received(1, 1), heartbeat(1)).shoot()
        new = shots.feed(received(2, 100)).shoot()
        sink = opened(self.sink_class(url))
        try:
            sink.write(old)
            sink.write(new)
            sink.cleanup(received(2, 100)["local_received"] - 1)
        finally:
            sink.close()
        assert set(self.stored(url)) == {uuid(2)}
        assert self.snapshot_ids(url) == [new.id]

    def test_the_schema_is_migrated_once_and_a_newer_one_refused(self, url):
        for _ in range(2):
            opened(self.sink_class(url)).close()
        assert self.schema_versions(url) == list(range(1, SCHEMA_VERSION + 1))
        self.execute(url, "INSERT INTO evtop_schema (version, applied) VALUES (99, 0)")
        with pytest.raises(Exception, match="schema version 99"):
            self.sink_class(url).open()

    def test_what_the_stream_lost_is_stored_with_the_snapshot(self, url):
        """A task started on a worker that then fell silent is lost; its starts were counted."""
        shots = Shots()
        shots.feed(heartbeat(1, processed=0), received(1, 1.5), started(1, 1.6), heartbeat(2, processed=3))
        snapshot = shots.feed(heartbeat(30, hostname="celery@other")).shoot(final=True)
        assert snapshot.trust.lost_tasks == (uuid(1),) and snapshot.trust.missed_tasks == {"celery@h": 2}
        self.write(url, snapshot)
        (stored,) = self.query(url, "SELECT trust FROM evtop_snapshots")
        trust = stored[0] if isinstance(stored[0], dict) else json.loads(stored[0])
        assert trust == snapshot.trust.as_dict()

    def schema_versions(self, url: str) -> list[int]:
        return [row[0] for row in self.query(url, "SELECT version FROM evtop_schema ORDER BY version")]

    def snapshot_ids(self, url: str) -> list[int]:
        return [row[0] for row in self.query(url, "SELECT id FROM evtop_snapshots ORDER BY id")]

    def stored(self, url: str) -> dict[str, dict[str, Any]]:
        columns = ", ".join(TASK_COLUMNS)
        return {
            row[0]: dict(zip(TASK_COLUMNS, row, strict=True))
            for row in self.query(url, f"SELECT {columns} FROM evtop_tasks")
        }

    def printed(self, sink: Sink) -> str:
        return "\n".join(
            str(value)
            for table in ("evtop_tasks", "evtop_workers", "evtop_snapshots")
            for row in self.query(sink.url, f"SELECT * FROM {table}")
            for value in row
        )

    def query(self, url: str, sql: str) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def execute(self, url: str, sql: str) -> None:
        raise NotImplementedError
