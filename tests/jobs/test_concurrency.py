"""Many exports at once on one ledger: a spec's lock, waiting for it, stale locks, parallel
jobs, SIGTERM with several jobs, sixteen processes on one SQLite file, and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from exportctl.demo.build import init_demo
from exportctl.ledger import schema as tables
from exportctl.ledger.schema import CURRENT_VERSION
from exportctl.ledger.store import Ledger
from tests.conftest import pg_url
from tests.support.pool_ledger import dead_pid, ledger_file, query, running_run
from tests.support.pool_runs import apply_here, big_demo, start_apply, write_pool_spec

PROXIES = 40
MEDIUM = 60_000


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("concurrency") / "demo"
    init_demo(root, proxies=PROXIES, metrics=10, log_lines=10)
    return root / "system.db"


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough proxies that an export runs for a second or two."""
    return big_demo(tmp_path_factory, MEDIUM)


def slow_spec(folder: Path, name: str, db: Path) -> Path:
    """A spec whose run reports progress early (small chunks) and lasts a while."""
    return write_pool_spec(
        folder, name, db, source={"type": "sql", "url": f"sqlite:///{db}", "chunk_size": 300}
    )


def hold_lock(ledger: Ledger, spec: str, *, host: str, pid: int, beat: datetime) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(
            tables.locks.insert().values(
                spec=spec,
                run_id=f"{spec}-holder",
                host=host,
                pid=pid,
                acquired_at=beat,
                heartbeat_at=beat,
            )
        )


# --- one spec, two applies ------------------------------------------------------------------


def test_a_second_apply_of_a_running_spec_is_skipped_naming_the_run_that_holds_it(
    medium, tmp_path, ledger, private_ledger
):
    spec = slow_spec(tmp_path, "pool", medium)
    first = start_apply(str(spec))
    holder = running_run(private_ledger, "pool", first)

    second = apply_here(str(spec))
    as_json = apply_here(str(spec), "--json")

    assert first.poll() is None, "the first run ended before the others tried"
    assert second.exit_code == as_json.exit_code == 1
    assert f"`pool` is being exported by run {holder} (pid {first.pid}" in second.stderr
    (skipped,) = json.loads(as_json.stdout)
    assert skipped["status"] == "skipped"
    assert f"`pool` is being exported by run {holder}" in skipped["error"]
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 0, stderr
    assert [(r["id"], r["status"]) for r in ledger.history(spec="pool")] == [(holder, "succeeded")]


def test_with_wait_a_second_apply_runs_once_the_first_has_finished(
    medium, tmp_path, ledger, private_ledger
):
    spec = slow_spec(tmp_path, "pool", medium)
    first = start_apply(str(spec))
    holder = running_run(private_ledger, "pool", first)

    second = apply_here(str(spec), "--wait", "30", "--json")

    assert second.exit_code == 0, second.output
    assert first.wait(timeout=60) == 0
    later, earlier = ledger.history(spec="pool")
    assert earlier["id"] == holder
    assert [later["status"], earlier["status"]] == ["succeeded", "succeeded"]
    assert later["started_at"] >= earlier["finished_at"]
    assert later["rows"] == MEDIUM


def test_wait_gives_up_when_the_holder_keeps_the_lock(demo, tmp_path, ledger):
    now = datetime.now(UTC)
    hold_lock(ledger, "pool", host=socket.gethostname(), pid=os.getpid(), beat=now)

    result = apply_here(str(write_pool_spec(tmp_path, "pool", demo)), "--wait", "0.5", "--json")

    assert result.exit_code == 1
    (skipped,) = json.loads(result.stdout)
    assert skipped["status"] == "skipped"
    assert "run pool-holder" in skipped["error"]


# --- stale locks ----------------------------------------------------------------------------


def test_a_lock_left_by_a_dead_process_is_broken_and_audited(
    demo, tmp_path, ledger, private_ledger
):
    pid = dead_pid()
    hold_lock(ledger, "pool", host=socket.gethostname(), pid=pid, beat=datetime.now(UTC))

    assert apply_here(str(write_pool_spec(tmp_path, "pool", demo))).exit_code == 0

    (broken,) = [e for e in ledger.audit_events() if e["event"] == "lock.broken"]
    assert (broken["spec"], broken["run_id"]) == ("pool", "pool-holder")
    assert json.loads(broken["detail"]) == {"holder_pid": pid, "host": socket.gethostname()}
    assert [r["status"] for r in ledger.history(spec="pool")] == ["succeeded"]
    assert query(private_ledger, "SELECT * FROM locks") == []


def test_a_lock_of_another_host_is_broken_only_once_its_heartbeat_is_stale(demo, tmp_path, ledger):
    spec = str(write_pool_spec(tmp_path, "pool", demo))
    hold_lock(ledger, "pool", host="elsewhere", pid=1, beat=datetime.now(UTC))
    assert apply_here(spec).exit_code == 1
    with ledger.engine.begin() as conn:
        stale = datetime.now(UTC) - timedelta(minutes=3)
        conn.execute(tables.locks.update().values(heartbeat_at=stale))

    assert apply_here(spec).exit_code == 0
    assert [e["event"] for e in ledger.audit_events() if e["event"] == "lock.broken"] == [
        "lock.broken"
    ]


# --- several jobs in one process ------------------------------------------------------------


def test_jobs_3_runs_three_specs_at_the_same_time(medium, tmp_path, ledger):
    first_10k = {"table": "proxy_identities", "limit": 10_000}
    specs = [str(write_pool_spec(tmp_path, n, medium, query=first_10k)) for n in ("a", "b", "c")]

    assert apply_here(*specs, "--jobs", "3").exit_code == 0

    runs = ledger.history()
    assert sorted(r["spec"] for r in runs) == ["a", "b", "c"]
    assert max(r["started_at"] for r in runs) < min(r["finished_at"] for r in runs)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_with_several_jobs_interrupts_the_running_and_starts_no_more(
    medium, tmp_path, ledger, private_ledger, signum, code
):
    specs = [str(slow_spec(tmp_path, name, medium)) for name in ("a", "b", "c", "d")]
    process = start_apply(*specs, "--jobs", "2")
    running = {running_run(private_ledger, name, process) for name in ("a", "b")}

    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == code, stderr
    runs = ledger.history()
    assert {r["id"] for r in runs} == running
    assert {r["status"] for r in runs} == {"interrupted"}
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


# --- many processes -------------------------------------------------------------------------


def test_sixteen_processes_record_sixteen_runs_in_one_sqlite_ledger(
    demo, tmp_path, ledger, private_ledger
):
    names = [f"spec-{i:02d}" for i in range(16)]
    processes = [start_apply(str(write_pool_spec(tmp_path, name, demo))) for name in names]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr

    runs = ledger.history()
    assert sorted(r["spec"] for r in runs) == names
    assert {r["status"] for r in runs} == {"succeeded"}
    assert len({r["pid"] for r in runs}) == 16
    for run in runs:
        recorded = ledger.run(run["id"])
        assert recorded is not None
        assert sorted(f["role"] for f in recorded["files"]) == ["data", "manifest"]
        events = [e["event"] for e in ledger.audit_events(run["id"])]
        assert events == ["run.started", "run.committed"]
    assert query(private_ledger, "SELECT * FROM locks") == []
    with closing(sqlite3.connect(ledger_file(private_ledger))) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


@pytest.mark.postgres
def test_a_postgresql_ledger_records_runs_from_two_processes(demo, tmp_path, pg_engine, pg_schema):
    state = pg_url(pg_schema)
    processes = [
        start_apply(str(write_pool_spec(tmp_path, name, demo)), "--state", state)
        for name in ("east", "west")
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr

    ledger = Ledger(state)
    runs = ledger.history()
    assert sorted((r["spec"], r["status"]) for r in runs) == [
        ("east", "succeeded"),
        ("west", "succeeded"),
    ]
    assert len({r["pid"] for r in runs}) == 2
    for run in runs:
        recorded = ledger.run(run["id"])
        assert recorded is not None and len(recorded["files"]) == 2
        assert [e["event"] for e in ledger.audit_events(run["id"])] == [
            "run.started",
            "run.committed",
        ]
    ledger.close()
    with pg_engine.connect() as conn:
        version = conn.execute(sa.text(f'SELECT version FROM "{pg_schema}".schema_version'))
        assert version.scalar_one() == CURRENT_VERSION
