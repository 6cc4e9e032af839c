"""What the ledger records of each run (who, what, when, how it ended, which files), never a
secret; crash recovery; schema versions. Helpers here serve the other ledger tests too."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from exportctl.cli import main as cli
from exportctl.demo.build import init_demo
from exportctl.errors import UsageError
from exportctl.jobs import heartbeat
from exportctl.jobs import job as jobs
from exportctl.jobs.options import Options
from exportctl.jobs.stop import Stop
from exportctl.ledger.runs import RunRecord
from exportctl.ledger.schema import CURRENT_VERSION
from exportctl.ledger.store import Ledger
from exportctl.run.result import Observer
from exportctl.sources.sql.source import SqlSource
from exportctl.spec.load import load_spec
from tests.conftest import pg_url
from tests.support.pool_ledger import dead_pid, ledger_file, query, running_run
from tests.support.pool_runs import (
    BIG,
    apply_here,
    big_demo,
    start_apply,
    write_pool_spec,
)

PROXIES = 120
SECRET = "Sup3r-S3cret-71c4"
MARKER = "marker-password-5e1f0a"

T = TypeVar("T")


# --- helpers, shared with test_ledger_cli.py and test_concurrency.py -------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small pool; one proxy's password is MARKER."""
    root = tmp_path_factory.mktemp("ledger") / "demo"
    init_demo(root, proxies=PROXIES, metrics=10, log_lines=10)
    with closing(sqlite3.connect(root / "system.db")) as db:
        db.execute(
            "UPDATE proxy_identities SET username = 'alice', password = ? "
            "WHERE rowid = (SELECT min(rowid) FROM proxy_identities)",
            (MARKER,),
        )
        db.commit()
    return root / "system.db"


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return big_demo(tmp_path_factory, BIG)


# --- what a run leaves in the ledger ---------------------------------------------------------


def test_a_succeeded_run_records_who_what_when_and_its_files(demo, tmp_path, ledger):
    spec = write_pool_spec(tmp_path, "pool", demo)
    before = datetime.now(UTC)
    result = apply_here(str(spec), "--json")
    after = datetime.now(UTC)

    assert result.exit_code == 0, result.output
    (done,) = json.loads(result.stdout)
    run = ledger.run(done["run_id"])
    assert run is not None
    assert run["spec"] == "pool"
    assert run["spec_sha256"] == sha256(spec)
    assert (run["trigger"], run["attempt"]) == ("cli", 1)
    assert (run["user"], run["host"], run["pid"]) == (
        getpass.getuser(),
        socket.gethostname(),
        os.getpid(),
    )
    assert before <= run["started_at"] <= run["finished_at"] <= after
    assert (run["status"], run["error"]) == ("succeeded", None)
    data = tmp_path / "out" / "pool.jsonl"
    assert run["rows"] == PROXIES == len(data.read_text().splitlines())
    assert run["bytes"] == data.stat().st_size
    manifest = tmp_path / "out" / "pool.jsonl.manifest.json"
    assert sorted((f["role"], f["uri"], f["bytes"], f["sha256"]) for f in run["files"]) == [
        ("data", str(data), data.stat().st_size, sha256(data)),
        ("manifest", str(manifest), manifest.stat().st_size, sha256(manifest)),
    ]


def test_a_run_is_audited_when_it_starts_and_when_it_commits(demo, tmp_path, ledger):
    result = apply_here(str(write_pool_spec(tmp_path, "pool", demo)), "--json")
    (done,) = json.loads(result.stdout)

    events = ledger.audit_events(done["run_id"])
    assert [(e["event"], e["spec"], e["user"], e["host"]) for e in events] == [
        ("run.started", "pool", getpass.getuser(), socket.gethostname()),
        ("run.committed", "pool", getpass.getuser(), socket.gethostname()),
    ]
    assert events[0]["at"] <= events[1]["at"]
    assert json.loads(events[1]["detail"]) == {"rows": PROXIES, "bytes": done["bytes"]}


def test_a_failed_run_records_its_error_and_no_file(demo, tmp_path, ledger):
    spec = write_pool_spec(tmp_path, "missing-table", demo, query={"table": "no_such"})
    result = apply_here(str(spec), "--json")

    assert result.exit_code == 1
    (done,) = json.loads(result.stdout)
    run = ledger.run(done["run_id"])
    assert run is not None
    assert run["status"] == "failed"
    assert "no_such" in run["error"]
    assert run["finished_at"] is not None
    assert (run["rows"], run["bytes"], run["files"]) == (0, 0, [])
    failed = ledger.audit_events(run["id"])[-1]
    assert failed["event"] == "run.failed"
    assert json.loads(failed["detail"])["error"] == run["error"]


def test_a_failed_incremental_run_is_retried_as_attempt_two(demo, tmp_path, ledger):
    blocker = tmp_path / "exports"
    blocker.write_text("a file where the export folder should be")
    spec = write_pool_spec(
        tmp_path,
        "pool-changes",
        demo,
        incremental={"cursor": "discovered_at", "key": "url"},
        destination=str(blocker / "pool-{{ run.id }}.jsonl"),
    )
    assert apply_here(str(spec)).exit_code == 1
    blocker.unlink()
    assert apply_here(str(spec)).exit_code == 0

    retry, first = ledger.history(spec="pool-changes")
    assert (first["status"], first["trigger"], first["attempt"]) == ("failed", "cli", 1)
    assert "cannot write to" in first["error"]
    assert (retry["status"], retry["trigger"], retry["attempt"]) == ("succeeded", "retry", 2)
    assert retry["rows"] == PROXIES
    assert first["window_to"] is not None
    same = ("destination", "window_from", "window_to")
    assert [retry[k] for k in same] == [first[k] for k in same]
    assert [e["event"] for e in ledger.audit_events(retry["id"])] == [
        "run.retried",
        "run.committed",
    ]


def test_a_run_that_fails_before_exporting_is_recorded_too(tmp_path, ledger, monkeypatch):
    monkeypatch.setenv("LEDGER_SECRET", SECRET)
    spec = write_pool_spec(
        tmp_path,
        "pg-changes",
        "postgresql+psycopg://exporter:${LEDGER_SECRET}@127.0.0.1:1/proxywhirl",
        incremental={"cursor": "discovered_at"},
    )
    assert apply_here(str(spec)).exit_code == 1

    (run,) = ledger.history(spec="pg-changes")
    assert run["status"] == "failed"
    assert "port 1 failed" in run["error"]
    assert [e["event"] for e in ledger.audit_events(run["id"])] == ["run.started", "run.failed"]


def ledger_values(url: str) -> list[tuple[str, Any]]:
    """(table, value) for every column of every row of every table, read with plain sqlite3."""
    with closing(sqlite3.connect(ledger_file(url))) as db:
        tables = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return [
            (table, value)
            for table in tables
            for row in db.execute(f'SELECT * FROM "{table}"')
            for value in row
        ]


def test_no_secret_reaches_any_column_of_the_ledger(demo, tmp_path, private_ledger, monkeypatch):
    monkeypatch.setenv("LEDGER_SECRET", SECRET)
    pg_down = "postgresql+psycopg://exporter:${LEDGER_SECRET}@127.0.0.1:1/proxywhirl"
    specs = tmp_path / "specs"
    specs.mkdir()
    write_pool_spec(specs, "pg-down", pg_down)
    write_pool_spec(specs, "pg-down-changes", pg_down, incremental={"cursor": "discovered_at"})
    write_pool_spec(
        specs,
        "secret-in-destination",
        demo,
        destination="https://exporter:${LEDGER_SECRET}@example.invalid/pool.jsonl",
    )
    write_pool_spec(  # SQLite quotes the table, URL and password, in its error
        specs,
        "secret-in-error",
        demo,
        query={"sql": 'SELECT * FROM "vault://exporter:${LEDGER_SECRET}@keys"'},
    )
    write_pool_spec(specs, "pool", demo, credentials="keep")  # the password as stored: plain here

    result = apply_here(str(specs), "--json")

    statuses = {r["spec"]: r["status"] for r in json.loads(result.stdout)}
    assert statuses == {
        "pg-down": "failed",
        "pg-down-changes": "failed",
        "secret-in-destination": "failed",
        "secret-in-error": "failed",
        "pool": "succeeded",
    }
    recorded = {r["spec"]: r for r in Ledger(private_ledger).history()}
    assert recorded.keys() == statuses.keys()
    assert "127.0.0.1" in recorded["pg-down"]["error"]
    assert "vault://***:***@keys" in recorded["secret-in-error"]["error"]
    assert MARKER in (specs / "out" / "pool.jsonl").read_text()  # the user's data, exported
    values = ledger_values(private_ledger)
    assert [(table, v) for table, v in values if SECRET in str(v)] == []
    assert [(table, v) for table, v in values if MARKER in str(v)] == []


# --- interrupted runs -----------------------------------------------------------------------


def test_sigterm_midway_records_an_interrupted_run(big, tmp_path, ledger, private_ledger):
    process = start_apply(str(write_pool_spec(tmp_path, "big", big)))
    run_id = running_run(private_ledger, "big", process)

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 143, stderr
    run = ledger.run(run_id)
    assert run is not None
    assert run["status"] == "interrupted"
    assert run["error"] == f"interrupted by signal {signal.SIGTERM}"
    assert run["finished_at"] is not None
    assert 0 < run["rows"] < BIG
    assert run["files"] == []
    assert ledger.audit_events(run_id)[-1]["event"] == "run.interrupted"
    assert ledger.history(status="running") == []
    assert not (tmp_path / "out" / "big.jsonl").exists()


def test_sigkill_midway_is_marked_interrupted_by_the_next_apply(
    big, demo, tmp_path, ledger, private_ledger
):
    process = start_apply(str(write_pool_spec(tmp_path, "big", big)))
    run_id = running_run(private_ledger, "big", process)
    process.kill()
    process.wait()  # reaped: its pid is gone
    killed = ledger.run(run_id)
    assert killed is not None and killed["status"] == "running"

    assert apply_here(str(write_pool_spec(tmp_path, "pool", demo))).exit_code == 0

    run = ledger.run(run_id)
    assert run is not None
    assert (run["status"], run["error"]) == ("interrupted", "process gone")
    assert run["finished_at"] is not None
    events = ledger.audit_events(run_id)
    assert [e["event"] for e in events] == ["run.started", "run.interrupted", "lock.broken"]
    assert json.loads(events[-1]["detail"])["holder_pid"] == process.pid


def test_a_run_left_running_by_a_dead_process_is_interrupted_and_its_temp_file_removed(
    demo, tmp_path, ledger
):
    out = tmp_path / "out"
    out.mkdir()
    destination = out / "crashed.jsonl"
    leftover = out / ".crashed.jsonl.0badc0de.exportctl-tmp"
    leftover.write_bytes(b'{"half": "a row')
    unrelated = out / ".other.jsonl.0badc0de.exportctl-tmp"
    unrelated.write_bytes(b"")
    now = datetime.now(UTC)
    crashed = RunRecord(
        id="crashed-run",
        spec="crashed",
        spec_sha256="0" * 64,
        trigger="cli",
        destination=str(destination),
        started_at=now,
        pid=dead_pid(),
    )
    ledger.start_run(crashed)

    assert apply_here(str(write_pool_spec(tmp_path, "pool", demo))).exit_code == 0

    run = ledger.run("crashed-run")
    assert run is not None
    assert (run["status"], run["error"]) == ("interrupted", "process gone")
    assert not leftover.exists()
    assert unrelated.exists()


def test_a_run_whose_process_lives_is_left_alone(demo, tmp_path, ledger):
    now = datetime.now(UTC)
    live = RunRecord(
        id="live-run",
        spec="elsewhere",
        spec_sha256="0" * 64,
        trigger="cli",
        destination=str(tmp_path / "elsewhere.jsonl"),
        started_at=now,
    )
    ledger.start_run(live)

    assert apply_here(str(write_pool_spec(tmp_path, "pool", demo))).exit_code == 0

    run = ledger.run("live-run")
    assert run is not None and run["status"] == "running"


# --- schema versions ------------------------------------------------------------------------


def test_a_fresh_ledger_is_at_the_current_schema_version(ledger, private_ledger):
    assert query(private_ledger, "SELECT version FROM schema_version") == [(CURRENT_VERSION,)]
    tables = {n for (n,) in query(private_ledger, "SELECT name FROM sqlite_master")}
    assert {"runs", "run_files", "audit", "watermarks", "locks"} <= tables


def test_opening_a_ledger_again_keeps_its_runs(demo, tmp_path, private_ledger):
    apply_here(str(write_pool_spec(tmp_path, "pool", demo)))
    assert [r["spec"] for r in Ledger(private_ledger).history()] == ["pool"]
    assert query(private_ledger, "SELECT version FROM schema_version") == [(CURRENT_VERSION,)]


def test_a_version_1_ledger_is_migrated_keeping_its_runs(demo, tmp_path, private_ledger):
    apply_here(str(write_pool_spec(tmp_path, "pool", demo)))
    with closing(sqlite3.connect(ledger_file(private_ledger))) as db:  # as version 1 left it
        db.execute("ALTER TABLE run_files DROP COLUMN rows")
        db.execute("ALTER TABLE run_files DROP COLUMN last_position")
        db.execute("UPDATE schema_version SET version = 1")
        db.commit()

    Ledger(private_ledger)

    assert query(private_ledger, "SELECT version FROM schema_version") == [(CURRENT_VERSION,)]
    columns = {row[1] for row in query(private_ledger, "PRAGMA table_info(run_files)")}
    assert {"rows", "last_position"} <= columns
    assert [r["spec"] for r in Ledger(private_ledger).history()] == ["pool"]


def test_a_ledger_newer_than_this_exportctl_is_refused(ledger, private_ledger, monkeypatch, capsys):
    with closing(sqlite3.connect(ledger_file(private_ledger))) as db:
        db.execute("UPDATE schema_version SET version = ?", (CURRENT_VERSION + 1,))
        db.commit()

    with pytest.raises(UsageError, match="newer than this exportctl"):
        Ledger(private_ledger)
    monkeypatch.setattr(sys, "argv", ["exportctl", "history"])
    with pytest.raises(SystemExit) as exited:
        cli.run()  # the console entry point: a message and an exit code, no traceback

    assert exited.value.code == 2
    message = capsys.readouterr().err
    assert f"schema version {CURRENT_VERSION + 1}" in message
    assert "upgrade exportctl" in message
    assert query(private_ledger, "SELECT version FROM schema_version") == [(CURRENT_VERSION + 1,)]


def test_a_run_records_the_commit_of_the_checkout_its_spec_lives_in(demo, tmp_path, ledger):
    checkout = tmp_path / "specs-repo"
    checkout.mkdir()
    spec = write_pool_spec(checkout, "pool", demo)
    git = ["git", "-C", str(checkout), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "specs"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout

    apply_here(str(spec))
    apply_here(str(write_pool_spec(tmp_path, "loose", demo)))

    commits = {r["spec"]: r["git_commit"] for r in ledger.history()}
    assert commits == {"pool": head.strip(), "loose": None}


def test_a_run_keeps_beating_while_a_slow_step_runs(demo, tmp_path, ledger, monkeypatch):
    """A slow first chunk must not make a live run look dead to another host."""
    monkeypatch.setattr(heartbeat, "HEARTBEAT_EVERY", 0.05)
    counting = threading.Event()
    real_chunks = SqlSource.chunks

    def slow_chunks(self: SqlSource, request: Any) -> Any:
        counting.set()
        time.sleep(1.0)
        yield from real_chunks(self, request)

    monkeypatch.setattr(SqlSource, "chunks", slow_chunks)
    spec = load_spec(write_pool_spec(tmp_path, "pool", demo))
    worker = threading.Thread(
        target=jobs.run_spec, args=(spec, ledger, Options(), datetime.now(UTC), Observer(), Stop())
    )
    worker.start()
    assert counting.wait(30)
    first = ledger.history()[0]["heartbeat_at"]
    time.sleep(0.5)
    during = ledger.history()[0]
    worker.join(60)

    assert during["status"] == "running" and during["rows"] == 0
    assert during["heartbeat_at"] > first


def retained(folder: Path, demo: Path) -> Path:
    """A spec that names each run's file and keeps the latest two."""
    destination = str(folder / "out" / "{{ run.id }}.jsonl")
    return write_pool_spec(
        folder, "pool", demo, destination=destination, retention={"keep_last": 2}
    )


def test_a_version_5_ledger_gains_indexed_lookups_keeping_its_files(demo, tmp_path, private_ledger):
    spec = retained(tmp_path, demo)
    for _ in range(2):
        apply_here(str(spec))
    with closing(sqlite3.connect(ledger_file(private_ledger))) as db:  # as version 5 left it
        indexes = db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'ix_%'").fetchall()
        for (name,) in indexes:
            db.execute(f"DROP INDEX {name}")
        db.execute("ALTER TABLE run_files DROP COLUMN spec")
        db.execute("CREATE INDEX ix_runs_spec ON runs (spec)")
        db.execute("UPDATE schema_version SET version = 5")
        db.commit()

    ledger = Ledger(private_ledger)

    assert query(private_ledger, "SELECT version FROM schema_version") == [(CURRENT_VERSION,)]
    assert query(private_ledger, "SELECT DISTINCT spec FROM run_files") == [("pool",)]
    indexes = {n for (n,) in query(private_ledger, "SELECT name FROM sqlite_master")}
    assert {"ix_runs_spec_started", "ix_run_files_stored_spec"} <= indexes
    assert "ix_runs_spec" not in indexes
    assert len(ledger.stored_runs("pool")) == 2
    apply_here(str(spec))  # retention finds the migrated runs' files
    assert len(ledger.stored_runs("pool")) == 2
    assert len(list((tmp_path / "out").glob("*.jsonl"))) == 2


def add_history(url: str, spec: str, runs: int) -> None:
    """`runs` older runs of `spec`, copies of its first, their files deleted by retention."""
    with closing(sqlite3.connect(ledger_file(url))) as db:
        db.row_factory = sqlite3.Row
        run = dict(db.execute("SELECT * FROM runs WHERE spec = ? LIMIT 1", (spec,)).fetchone())
        stored = db.execute("SELECT * FROM run_files WHERE run_id = ?", (run["id"],))
        files = [dict(f) for f in stored]
        for n in range(runs):
            past = f"2020-01-01 00:00:00.{n:06d}"
            status = "failed" if n % 3 == 0 else "succeeded"
            copy = run | {"id": f"past-{spec}-{n}", "started_at": past, "status": status}
            db.execute(_insert("runs", copy), list(copy.values()))
            for file in files:
                uri = f"{file['uri']}.{n}"
                gone = file | {"run_id": copy["id"], "uri": uri, "deleted_at": past}
                db.execute(_insert("run_files", gone), list(gone.values()))
        db.commit()


def _insert(table: str, row: dict[str, Any]) -> str:
    names = ", ".join(f'"{k}"' for k in row)
    return f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(row))})"


def lookup_work(ledger: Ledger, spec: str) -> dict[str, int]:
    """SQLite's work, in virtual-machine steps, for what a run of `spec` looks up."""
    [latest] = ledger.history(spec, limit=1)
    run = ledger.run(latest["id"])
    assert run is not None
    uris = {f["uri"] for f in run["files"]} | {"/elsewhere.csv"}
    lookups: dict[str, Callable[[], object]] = {
        "last success": lambda: ledger.history(spec, status="succeeded", limit=1),
        "recent runs": lambda: ledger.history(spec, limit=10),
        "stored files": lambda: ledger.stored_runs(spec),
        "held elsewhere": lambda: ledger.held_uris(spec, among=uris),
        "watermark": lambda: ledger.watermark(spec),
        "run": lambda: ledger.run(latest["id"]),
    }
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    def counting(conn: sa.Connection, *_: Any) -> None:
        conn.connection.dbapi_connection.set_progress_handler(count, 10)

    work = {}
    sa.event.listen(ledger.engine, "before_cursor_execute", counting)
    try:
        for name, lookup in lookups.items():
            steps = 0
            lookup()
            work[name] = steps
    finally:
        sa.event.remove(ledger.engine, "before_cursor_execute", counting)
    return work


def test_what_each_run_looks_up_costs_the_same_however_long_the_history(
    demo, tmp_path, ledger, private_ledger
):
    """A daemon piles up runs: a lookup that reads them all slows every run down over time."""
    spec = retained(tmp_path, demo)
    for _ in range(3):
        apply_here(str(spec))
    apply_here(str(write_pool_spec(tmp_path, "other", demo)))
    before = lookup_work(ledger, "pool")

    add_history(private_ledger, "pool", 3000)
    add_history(private_ledger, "other", 3000)
    after = lookup_work(ledger, "pool")

    assert after.keys() == before.keys()
    for name, steps in after.items():
        assert steps <= 2 * before[name] + 20, (name, before[name], steps)


def test_a_new_postgresql_ledger_leaves_another_schemas_indexes_alone(pg_engine, pg_schema):
    """Version 6 drops version 1's index on runs.spec: this ledger's, never a namesake found
    further along the search path."""
    other = f"{pg_schema}_other"
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{other}"'))
        conn.execute(sa.text(f'CREATE TABLE "{other}".notes (spec text)'))
        conn.execute(sa.text(f'CREATE INDEX ix_runs_spec ON "{other}".notes (spec)'))
    try:
        Ledger(pg_url(f"{pg_schema},{other}")).close()
        with pg_engine.connect() as conn:
            indexes = sa.inspect(conn).get_indexes("notes", schema=other)
            ours = sa.inspect(conn).get_indexes("runs", schema=pg_schema)
    finally:
        with pg_engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{other}" CASCADE'))

    assert [index["name"] for index in indexes] == ["ix_runs_spec"]
    assert "ix_runs_spec_started" in {index["name"] for index in ours}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_held_uris_answers_for_any_number_of_candidates(backend, tmp_path, request):
    """Retention tightened on a long history asks about that many files at once; PostgreSQL
    takes at most 65,535 values in one statement."""
    if backend == "sqlite":
        state = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        state = pg_url(request.getfixturevalue("pg_schema"))
    ledger = Ledger(state)
    held = [f"/out/other-{n}.csv" for n in (5, 1500, 69_999)]
    for spec, status, uri in [("other", "succeeded", held[0]), ("other", "failed", held[1])]:
        record_run(ledger, spec, status, uri)
    record_run(ledger, "pool", "running", held[2])  # an unfinished run of the spec itself
    record_run(ledger, "pool", "succeeded", "/out/other-7.csv")  # its own: not held elsewhere

    candidates = {f"/out/other-{n}.csv" for n in range(70_000)}

    assert ledger.held_uris("pool", among=candidates) == set(held)
    ledger.close()


def record_run(ledger: Ledger, spec: str, status: str, uri: str) -> None:
    run = RunRecord(
        id=f"{spec}-{status}-{len(ledger.history())}",
        spec=spec,
        spec_sha256="0" * 64,
        trigger="cli",
        destination=uri,
        started_at=datetime.now(UTC),
    )
    ledger.start_run(run)
    if status != "running":
        ledger.finish_run(run.id, status, rows=1, bytes_=1, files=[(uri, "data", 1, "0" * 64)])
    else:
        ledger.record_part(run.id, uri, 1, "0" * 64, 1, None)


def test_a_version_4_ledger_gains_scheduled_at_keeping_its_runs(demo, tmp_path, private_ledger):
    apply_here(str(write_pool_spec(tmp_path, "pool", demo)))
    with closing(sqlite3.connect(ledger_file(private_ledger))) as db:  # as version 4 left it
        db.execute("ALTER TABLE runs DROP COLUMN scheduled_at")
        db.execute("UPDATE schema_version SET version = 4")
        db.commit()

    ledger = Ledger(private_ledger)

    assert query(private_ledger, "SELECT version FROM schema_version") == [(CURRENT_VERSION,)]
    [run] = ledger.history()
    assert run["spec"] == "pool" and run["scheduled_at"] is None
    assert ledger.last_scheduled("pool") is None
