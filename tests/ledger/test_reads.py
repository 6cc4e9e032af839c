"""A SQLite ledger read through sqlite3 (`open_to_read`) reads as the `Ledger` reads it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from exportctl.clock import FakeClock
from exportctl.ledger import schema as tables
from exportctl.ledger.readonly import READS_VERSION, SqliteReader, open_to_read
from exportctl.ledger.runs import RunRecord
from exportctl.ledger.store import Ledger
from tests.conftest import pg_url

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def recorded(state: str) -> Ledger:
    """A ledger with runs of two specs, ended every way, with files, a summary and events."""
    clock = FakeClock(START)
    ledger = Ledger(state, clock=clock)
    for n, (spec, status) in enumerate(
        [("pool", "succeeded"), ("pool", "failed"), ("keys", "succeeded"), ("pool", "running")]
    ):
        run = RunRecord(
            id=f"run-{n}",
            spec=spec,
            spec_sha256="0" * 64,
            trigger="cli",
            destination=f"/out/{spec}-{n}.csv",
            started_at=clock.now(),
            host="elsewhere",  # a running run here would be judged by its pid
        )
        ledger.start_run(run)
        clock.advance(90)
        if status != "running":
            ledger.finish_run(
                run.id,
                status,
                rows=n,
                bytes_=10 * n,
                files=[(f"/out/{spec}-{n}.csv", "data", 10 * n, "0" * 64)],
                error="boom" if status == "failed" else None,
                summary={"attempts": [{"n": 1}]},
            )
    ledger.event("alert.failed", "pool", "run-1", reason="no route")
    return ledger


def test_reads_version_is_the_schema_version() -> None:
    assert READS_VERSION == tables.CURRENT_VERSION


def test_sqlite3_reads_what_the_ledger_reads(tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    ledger = recorded(state)
    reader = open_to_read(state, clock=ledger.clock)  # which runs are stale: its clock's say
    assert isinstance(reader, SqliteReader)
    since = START + timedelta(seconds=90)

    for spec, status in [(None, None), ("pool", None), (None, "succeeded"), ("pool", "failed")]:
        assert reader.history(spec, None, status) == ledger.history(spec, None, status)
        assert reader.history(spec, since, status) == ledger.history(spec, since, status)
        assert reader.history_as_seen(spec, since, status) == ledger.history_as_seen(
            spec, since, status
        )
    assert [r["id"] for r in reader.history(since=since)] == ["run-3", "run-2", "run-1"]
    assert [r["id"] for r in reader.history_as_seen(status="running")] == ["run-3"]
    assert reader.history(limit=1) == ledger.history(limit=1) != []
    assert reader.run("run-1") == ledger.run("run-1")
    assert reader.run("run-9") is None
    assert reader.audit_events(spec="pool", limit=2) == ledger.audit_events(spec="pool", limit=2)
    assert reader.audit_events(since=since) == ledger.audit_events(since=since) != []


def test_a_run_reads_with_every_column_in_the_schemas_order(tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    recorded(state)
    reader = open_to_read(state)

    run = reader.run("run-1")
    assert run is not None
    assert list(run) == [c.name for c in tables.runs.c] + ["files"]
    assert list(run["files"][0]) == [c.name for c in tables.run_files.c]
    assert list(reader.audit_events()[0]) == [c.name for c in tables.audit.c]
    assert run["started_at"] == START + timedelta(seconds=90)
    assert run["summary"] == {"attempts": [{"n": 1}]}


def test_a_ledger_that_needs_migrating_opens_as_a_ledger(tmp_path: Path) -> None:
    file = tmp_path / "state.db"
    state = f"sqlite:///{file}"
    recorded(state).close()
    with closing(sqlite3.connect(file)) as db:  # as version 6 left it
        db.execute("ALTER TABLE runs DROP COLUMN destination_options")
        db.execute("UPDATE schema_version SET version = 6")
        db.commit()

    opened = open_to_read(state)

    assert isinstance(opened, Ledger)
    assert opened.run("run-0")["destination_options"] is None  # type: ignore[index]
    assert isinstance(open_to_read(state), SqliteReader)  # migrated


def test_a_postgresql_ledger_opens_as_a_ledger(pg_schema: str) -> None:
    state = pg_url(pg_schema)
    ledger = recorded(state)

    opened = open_to_read(state)

    assert isinstance(opened, Ledger)
    assert opened.history() == ledger.history() != []
    assert opened.audit_events(since=START) == ledger.audit_events(since=START) != []


@pytest.mark.parametrize("name", ["a b?c#d%e.db", "état.db"])
def test_a_file_with_any_name_opens_for_reading(tmp_path: Path, name: str) -> None:
    from exportctl.ledger.url import sqlite_url

    state = sqlite_url(str(tmp_path / name))
    recorded(state).close()

    assert len(open_to_read(state).history()) == 4


def test_a_file_that_is_no_ledger_fails_as_the_ledger_fails(tmp_path: Path) -> None:
    file = tmp_path / "state.db"
    file.write_bytes(b"not a database, whatever its name says" * 4)

    with pytest.raises(sa.exc.DatabaseError, match="file is not a database"):
        open_to_read(f"sqlite:///{file}")
