"""``evtop --sink URL`` end to end, in-process: replays that land in every sink in the state
celery's own State computes, the demo on a fresh directory, ``-c URL``, ``--keep``, hostile
strings through all four sinks, and a final snapshot no sink could take."""

from __future__ import annotations

import copy
import json
import sqlite3
import urllib.request
from pathlib import Path

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from evtop.camera import sinkcam
from evtop.camera.metrics import MAX_LABEL_LENGTH
from evtop.text.sanitize import sanitize, truncate
from tests.support.compare import OracleState
from tests.support.events import (
    HOST,
    HOSTILE,
    T0,
    assert_terminal_safe,
    hostile_events,
    task_event,
    worker_event,
    write_recording,
)
from tests.support.servers import free_port
from tests.unit.camera.fakes import Run, sigterm_when

CAPTURED = sorted((Path(__file__).resolve().parents[2] / "data").glob("captured-*.jsonl"))


def recorded_events(path: Path) -> list[dict]:
    return [json.loads(line)["event"] for line in path.read_text().splitlines() if line.strip()]


def oracle_view(events: list[dict]) -> dict[str, tuple]:
    """uuid -> (state, name, worker) in celery's own State fed ``events``."""
    oracle = OracleState()
    for event in events:
        oracle.event(copy.deepcopy(event))
    return {
        uuid: (task.state, task.name, task.worker.hostname if task.worker else None)
        for uuid, task in oracle.tasks.items()
    }


def sqlite_view(path: Path) -> dict[str, tuple]:
    with sqlite3.connect(path) as conn:
        return {row[0]: row[1:] for row in conn.execute("SELECT uuid, state, name, worker FROM evtop_tasks")}


def jsonl_view(path: Path) -> dict[str, tuple]:
    """A reader's view: the lines in order, the later row of a task winning."""
    rows = {}
    for line in path.read_text(encoding="ascii").splitlines():
        for task in json.loads(line)["tasks"]:
            rows[task["uuid"]] = (task["state"], task["name"], task["worker"])
    return rows


def many_tasks(n: int) -> list[dict]:
    """``n`` tasks over ``n`` seconds: received, started, then succeeded, failed or retried."""
    events = []
    for i in range(n):
        uuid = f"task-{i:04d}"
        at = T0 + i
        events += [
            task_event("task-received", uuid, at, 4 * i + 1, name=f"proj.t{i % 7}", args=f"({i},)"),
            task_event("task-started", uuid, at + 0.5, 4 * i + 2),
        ]
        end = ("task-succeeded", "task-failed", "task-retried")[i % 3]
        events.append(task_event(end, uuid, at + 0.9, 4 * i + 3, result="ok", runtime=0.4))
    return events


@pytest.mark.parametrize("path", CAPTURED, ids=[p.name for p in CAPTURED])
def test_a_replayed_real_worker_stream_lands_in_sqlite_and_jsonl_as_celerys_state_has_it(tmp_path, path):
    db, lines = tmp_path / "evtop.db", tmp_path / "snapshots.jsonl"
    run = Run(
        "--replay", str(path), "--speed", "max", "--sink", f"sqlite:///{db}", "--sink", f"jsonl:///{lines}"
    )
    assert run.status == 0, run.err
    expected = oracle_view(recorded_events(path))
    assert len(expected) == 8
    assert sqlite_view(db) == expected
    assert jsonl_view(lines) == expected


def test_snapshots_taken_while_a_replay_runs_add_up_to_celerys_final_state(tmp_path):
    events = many_tasks(60)
    path = write_recording(tmp_path / "r.jsonl", events)
    db, lines = tmp_path / "evtop.db", tmp_path / "snapshots.jsonl"
    run = Run(
        "--replay", path, "--speed", "60", "-F", "0.05",
        "--sink", f"sqlite:///{db}", "-c", f"jsonl:///{lines}",
    )  # fmt: skip
    assert run.status == 0, run.err
    assert run.out == f"-> evtop: Taking snapshots with jsonl:///{lines}, sqlite:///{db} (every 0.05 secs.)\n"
    snapshots = [json.loads(line) for line in lines.read_text().splitlines()]
    assert (
        len(snapshots) > 5
        and snapshots[-1]["final"]
        and [s["id"] for s in snapshots] == list(range(1, len(snapshots) + 1))
    )
    expected = oracle_view(events)
    assert sqlite_view(db) == jsonl_view(lines) == expected
    assert {state for state, _, _ in expected.values()} == {"SUCCESS", "FAILURE", "RETRY"}
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM evtop_snapshots").fetchone() == (len(snapshots),)


def test_the_demo_writes_to_an_sqlite_file_in_a_fresh_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def rows() -> int:
        try:
            with sqlite3.connect(tmp_path / "demo.db") as conn:
                return conn.execute("SELECT COUNT(*) FROM evtop_tasks WHERE state = 'SUCCESS'").fetchone()[0]
        except sqlite3.Error:
            return 0

    sigterm_when(lambda: rows() >= 3)
    run = Run("--demo", "--sink", "sqlite:///demo.db", "-F", "0.1")
    assert run.status == 0, run.err
    assert run.out == "-> evtop: Taking snapshots with sqlite:///demo.db (every 0.1 secs.)\n"
    with sqlite3.connect(tmp_path / "demo.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM evtop_workers").fetchone()[0] == 4
        assert conn.execute("SELECT final FROM evtop_snapshots ORDER BY id DESC LIMIT 1").fetchone() == (1,)


def test_keep_forgets_older_rows_when_the_camera_starts(tmp_path):
    db = f"sqlite:///{tmp_path}/evtop.db"
    old = write_recording(tmp_path / "old.jsonl", many_tasks(3))  # T0 is weeks ago
    assert Run("--replay", old, "--speed", "max", "--sink", db).status == 0
    assert len(sqlite_view(tmp_path / "evtop.db")) == 3
    again = Run("--replay", old, "--speed", "max", "--sink", db, "--keep", "36500d")
    assert again.status == 0 and len(sqlite_view(tmp_path / "evtop.db")) == 3
    empty = write_recording(tmp_path / "empty.jsonl", [])
    assert Run("--replay", empty, "--speed", "max", "--sink", db, "--keep", "7d").status == 0
    assert sqlite_view(tmp_path / "evtop.db") == {}


def test_a_final_snapshot_no_sink_could_take_fails_the_run_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(sinkcam, "FINAL_WAIT", 0.5)
    down = f"postgresql://evtop:hunter2@127.0.0.1:{free_port()}/evtop"
    path = write_recording(tmp_path / "r.jsonl", many_tasks(2))
    run = Run("--replay", path, "--speed", "max", "--sink", down, "--sink", f"jsonl:///{tmp_path}/ok.jsonl")
    assert run.status == 1
    assert "hunter2" not in run.out + run.err
    masked = f"postgresql://evtop:**@127.0.0.1:{down.rsplit(':', 1)[1]}"
    assert run.err.count(f"sink {masked} is down") == 1
    last = run.err.splitlines()[-1]
    assert last.startswith(f"evtop: sink {masked}: 1 snapshots (2 task changes) not delivered within 0.5 s")
    assert "the final one included; last error: OperationalError" in last
    assert len(jsonl_view(tmp_path / "ok.jsonl")) == 2  # the other sink got everything


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


@pytest.mark.postgres
def test_hostile_strings_land_in_all_four_sinks_intact_and_harmless(tmp_path, postgres_url):
    # A last event long after the others keeps the replay going until the scrape is done.
    events = [*hostile_events(), worker_event("worker-heartbeat", HOST, T0 + 600)]
    path = write_recording(tmp_path / "r.jsonl", events)
    db, lines, port = tmp_path / "evtop.db", tmp_path / "s.jsonl", free_port()
    scraped: list[str] = []

    def exported() -> bool:
        try:
            text = scrape(port)
        except OSError:
            return False
        failed = [s for f in text_string_to_metric_families(text) for s in f.samples]
        failed = [s for s in failed if s.name == "celery_task_failed_total"]
        if sum(s.value for s in failed) < len(HOSTILE):
            return False
        scraped.append(text)
        return True

    sigterm_when(exported, timeout=60)
    run = Run(
        "--replay", path, "--speed", "10", "-F", "0.05",
        "--sink", f"sqlite:///{db}", "--sink", f"jsonl:///{lines}",
        "--sink", postgres_url, "--sink", f"prometheus://127.0.0.1:{port}",
    )  # fmt: skip
    assert run.status == 0, run.err
    with psycopg.connect(postgres_url) as conn:
        pg_rows = conn.execute(
            "SELECT uuid, name, worker, args, result, exception, traceback FROM evtop_tasks"
        )
        in_postgres = {row[0]: row[1:] for row in pg_rows}
        pg_workers = {row[0] for row in conn.execute("SELECT hostname FROM evtop_workers")}
    with sqlite3.connect(db) as conn:
        sql = "SELECT uuid, name, worker, args, result, exception, traceback FROM evtop_tasks"
        in_sqlite = {row[0]: row[1:] for row in conn.execute(sql)}
        sqlite_workers = {row[0] for row in conn.execute("SELECT hostname FROM evtop_workers")}
    hostnames = {sanitize(text[:200]) for text in HOSTILE} | {HOST}
    assert sqlite_workers == pg_workers == hostnames
    in_jsonl = {}
    for line in lines.read_text(encoding="ascii").splitlines():
        for t in json.loads(line)["tasks"]:
            in_jsonl[t["uuid"]] = (
                t["name"],
                t["worker"],
                t["args"],
                t["result"],
                t["exception"],
                t["traceback"],
            )
    for i, text in enumerate(HOSTILE):
        short, long = sanitize(text[:200]), sanitize(text, multiline=True)
        expected = (short, HOST, long, long, long, long)  # task-succeeded came last, from HOST
        assert (
            in_sqlite[f"hostile-{i}"] == in_postgres[f"hostile-{i}"] == in_jsonl[f"hostile-{i}"] == expected
        )
    for store in (in_sqlite, in_postgres, in_jsonl):
        for row in store.values():
            for value in row:
                assert_terminal_safe(value.replace("\n", " "))
    metrics = scraped[-1]
    assert_terminal_safe(metrics.replace("\n", " "))
    names = {
        s.labels["name"]
        for f in text_string_to_metric_families(metrics)
        for s in f.samples
        if s.name == "celery_task_failed_total"
    }
    assert names == {truncate(sanitize(text[:200]), MAX_LABEL_LENGTH) for text in HOSTILE}


def test_record_and_maxrate_work_as_with_a_camera_class(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def succeeded() -> int:
        try:
            with sqlite3.connect(tmp_path / "live.db") as conn:
                return conn.execute("SELECT COUNT(*) FROM evtop_tasks WHERE state = 'SUCCESS'").fetchone()[0]
        except sqlite3.Error:
            return 0

    sigterm_when(lambda: succeeded() >= 3)
    live = Run(
        "--demo", "--sink", "sqlite:///live.db", "-F", "0.05", "--maxrate", "4/s", "--record", "rec.jsonl"
    )
    assert live.status == 0, live.err
    with sqlite3.connect(tmp_path / "live.db") as conn:
        snapshots = conn.execute("SELECT MAX(id), MAX(time) - MIN(time) FROM evtop_snapshots").fetchone()
    assert snapshots[0] <= 1 + 4 * snapshots[1] + 2  # at most 4 a second, plus the final one
    replayed = Run("--replay", "rec.jsonl", "--speed", "max", "--sink", "sqlite:///replayed.db")
    assert replayed.status == 0, replayed.err
    assert sqlite_view(tmp_path / "replayed.db") == sqlite_view(tmp_path / "live.db")
