"""The `retry` policy: what is retried, how long, and what is recorded; secrets stay out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
import sqlalchemy as sa

from exportctl.clock import FakeClock
from exportctl.jobs import job as jobs
from exportctl.jobs.options import Options
from exportctl.jobs.stop import Stop
from exportctl.ledger.store import Ledger
from exportctl.run.result import Observer
from exportctl.spec.load import load_spec
from tests.support.servers import HttpReceiver
from tests.support.waiting import eventually

TOKEN = "s3cr3t-t0ken-value"
SIGNATURE = "X-Amz-Signature=deadbeefcafe"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "pool.db"
    frame = pd.DataFrame({"host": ["10.0.0.1", "10.0.0.2"], "port": [8080, 3128]})
    frame.to_sql("proxies", sa.create_engine(f"sqlite:///{path}"), index=False)
    return path


def _spec(tmp_path: Path, db: Path, url: str, retry: str) -> Path:
    spec = tmp_path / "pool.yaml"
    spec.write_text(
        f'version: 1\nname: pool\nsource: {{type: sql, url: "sqlite:///{db}"}}\n'
        "query: {table: proxies}\nformat: csv\n"
        f'destination: {{uri: "{url}", manifest: false, '
        f'http: {{headers: {{Authorization: "Bearer ${{UPLOAD_TOKEN}}"}}, timeout: 2}}}}\n'
        f"retry: {retry}\n"
    )
    return spec


def _apply(spec: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exportctl", *args, str(spec), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "UPLOAD_TOKEN": TOKEN},
    )


def test_transient_failures_are_retried_and_each_attempt_recorded(
    tmp_path, db, http_receiver: HttpReceiver, private_ledger
):
    http_receiver.fail_next(2, status=503)
    spec = _spec(tmp_path, db, f"{http_receiver.url}/pool.csv", "{attempts: 4, backoff: 0.1s}")
    done = _apply(spec, "apply")
    assert done.returncode == 0, done.stdout + done.stderr
    (result,) = json.loads(done.stdout)
    assert result["attempts"] == 3
    uploads = http_receiver.received("PUT")
    assert len(uploads) == 3 and uploads[-1].body.startswith(b'"host","port"')
    events = Ledger(private_ledger).audit_events(result["run_id"])
    failed = [json.loads(e["detail"]) for e in events if e["event"] == "run.attempt_failed"]
    assert [f["attempt"] for f in failed] == [1, 2]
    assert all("503" in f["error"] for f in failed)
    assert all(0 < f["retry_in"] <= 60 for f in failed)
    assert Ledger(private_ledger).run(result["run_id"])["summary"]["attempts"] == 3
    assert Ledger(private_ledger).run(result["run_id"])["attempt"] == 3  # was 1


def test_the_budget_stops_retrying_before_the_attempts_run_out(
    tmp_path, db, http_receiver: HttpReceiver, private_ledger
):
    http_receiver.fail_next(1000, status=503)
    retry = "{attempts: 50, backoff: 0.4s, max_backoff: 0.4s, budget: 1s}"
    spec = _spec(tmp_path, db, f"{http_receiver.url}/pool.csv", retry)
    started = time.monotonic()
    done = _apply(spec, "apply")
    elapsed = time.monotonic() - started
    assert done.returncode == 1
    (result,) = json.loads(done.stdout)
    assert 2 <= result["attempts"] <= 4  # waits of ~0.4 s: no attempt starts after 1 s
    assert elapsed < 20
    recorded = Ledger(private_ledger).run(result["run_id"])
    assert recorded["status"] == "failed" and recorded["attempt"] == result["attempts"]


def test_attempts_one_turns_retrying_off(tmp_path, db, http_receiver: HttpReceiver, private_ledger):
    http_receiver.fail_next(1, status=503)
    spec = _spec(tmp_path, db, f"{http_receiver.url}/pool.csv", "{attempts: 1}")
    done = _apply(spec, "apply")
    assert done.returncode == 1
    assert json.loads(done.stdout)[0]["attempts"] == 1
    assert len(http_receiver.received("PUT")) == 1
    assert Ledger(private_ledger).run(json.loads(done.stdout)[0]["run_id"])["attempt"] == 1


def test_no_secret_reaches_output_history_or_the_ledger(
    tmp_path, db, http_receiver: HttpReceiver, private_ledger
):
    """A presigned URL's signature and a header token appear nowhere exportctl writes."""
    http_receiver.fail_next(1, status=503)
    url = f"{http_receiver.url}/pool.csv?X-Amz-Credential=AKIAEXAMPLE&{SIGNATURE}"
    spec = _spec(tmp_path, db, url, "{attempts: 2, backoff: 0.1s}")
    outputs = [_apply(spec, "apply"), _apply(spec, "plan")]
    assert outputs[0].returncode == 0, outputs[0].stdout + outputs[0].stderr
    assert http_receiver.received("PUT")[-1].header("Authorization") == f"Bearer {TOKEN}"
    history = subprocess.run(
        [sys.executable, "-m", "exportctl", "history", "--json"], capture_output=True, text=True
    )
    ledger_bytes = Path(private_ledger.removeprefix("sqlite:///")).read_bytes()
    for text in [o.stdout + o.stderr for o in outputs] + [history.stdout]:
        assert TOKEN not in text and "deadbeefcafe" not in text and "AKIAEXAMPLE" not in text
    assert b"deadbeefcafe" not in ledger_bytes and TOKEN.encode() not in ledger_bytes


def test_an_incremental_split_export_retried_within_its_run_keeps_its_parts(
    tmp_path, http_receiver: HttpReceiver, private_ledger
):
    db = tmp_path / "events.db"
    frame = pd.DataFrame({"id": range(1, 401), "note": [f"n{i}" for i in range(1, 401)]})
    frame.to_sql("events", sa.create_engine(f"sqlite:///{db}"), index=False)
    spec = tmp_path / "events.yaml"
    spec.write_text(
        f'version: 1\nname: events\nsource: {{type: sql, url: "sqlite:///{db}", chunk_size: 10}}\n'
        "query: {table: events}\nincremental: {cursor: id}\nformat: jsonl\n"
        f'destination: {{uri: "{http_receiver.url}/events.jsonl", split: {{rows: 40}}}}\n'
        "retry: {attempts: 2, backoff: 0.1s}\n"
    )

    def fail_a_later_part() -> None:
        while len(http_receiver.received("PUT")) < 3:
            time.sleep(0.001)
        http_receiver.fail_next(1, status=503)

    watcher = threading.Thread(target=fail_a_later_part, daemon=True)
    watcher.start()
    done = _apply(spec, "apply")
    watcher.join(timeout=5)
    assert done.returncode == 0, done.stdout + done.stderr
    (result,) = json.loads(done.stdout)
    assert result["attempts"] == 2
    manifest = json.loads(http_receiver.stored["/events.jsonl.manifest.json"])
    ids = [
        json.loads(line)["id"]
        for part in manifest["parts"]
        for line in http_receiver.stored[urlsplit(part["uri"]).path].splitlines()
    ]
    assert ids == list(range(1, 401))  # every row once, none repeated, none missing
    puts = [r.path for r in http_receiver.received("PUT")]
    first = urlsplit(manifest["parts"][0]["uri"]).path
    assert puts.count(first) == 1  # kept, not written again
    recorded = Ledger(private_ledger).run(result["run_id"])["files"]
    assert sorted(f["uri"] for f in recorded if f["role"] == "part") == sorted(
        p["uri"] for p in manifest["parts"]
    )


def test_a_presigned_url_refuses_files_beside_it(tmp_path, db):
    """The manifest would go to a URL the signature does not cover, after the data landed."""
    spec = tmp_path / "pool.yaml"
    spec.write_text(
        f'version: 1\nname: pool\nsource: {{type: sql, url: "sqlite:///{db}"}}\n'
        "query: {table: proxies}\nformat: csv\n"
        f'destination: "http://127.0.0.1:9/pool.csv?{SIGNATURE}"\n'
    )
    done = _apply(spec, "validate")
    assert done.returncode == 2
    assert "set `manifest: false`" in done.stderr + done.stdout
    assert "deadbeefcafe" not in done.stderr + done.stdout


def test_an_http_destination_does_not_follow_redirects_with_its_headers(
    tmp_path, db, http_receiver: HttpReceiver
):
    with HttpReceiver() as elsewhere:
        http_receiver.redirect(f"{elsewhere.url}/stolen.csv")
        spec = _spec(tmp_path, db, f"{http_receiver.url}/pool.csv", "{attempts: 1}")
        done = _apply(spec, "apply")
        assert done.returncode == 1
        assert elsewhere.received() == []
        assert "307" in json.loads(done.stdout)[0]["error"]


def test_the_next_run_retries_at_the_real_url_not_the_masked_one(
    tmp_path, db, http_receiver: HttpReceiver, private_ledger
):
    """The ledger keeps the URL with its token masked; the retry must not send `***`."""
    spec = tmp_path / "pool.yaml"
    spec.write_text(
        f'version: 1\nname: pool\nsource: {{type: sql, url: "sqlite:///{db}"}}\n'
        "query: {table: proxies}\nincremental: {cursor: port}\nformat: csv\n"
        f'destination: {{uri: "{http_receiver.url}/pool.csv?token={TOKEN}", manifest: false}}\n'
        "retry: {attempts: 1}\n"
    )
    http_receiver.fail_next(1, status=503)
    first = json.loads(_apply(spec, "apply").stdout)[0]
    assert first["status"] == "failed"
    second = json.loads(_apply(spec, "apply").stdout)[0]
    assert second["status"] == "succeeded", second["error"]
    assert Ledger(private_ledger).run(second["run_id"])["trigger"] == "retry"
    assert http_receiver.received("PUT")[-1].path == f"/pool.csv?token={TOKEN}"


# --- a SQLite source locked by a writer ------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys, time
writer = sqlite3.connect(sys.argv[1], isolation_level=None)
writer.execute("BEGIN EXCLUSIVE")  # no reader gets in (rollback journal, not WAL)
writer.execute("INSERT INTO proxies VALUES ('10.0.0.9', 9)")
print("held", flush=True)
sys.stdin.readline()  # until the test says so, or dies
writer.execute("ROLLBACK")
"""


def _locked_db_spec(tmp_path: Path, db: Path, retry: str) -> Path:
    spec = tmp_path / "locked.yaml"
    spec.write_text(
        f'version: 1\nname: locked\nsource: {{type: sql, url: "sqlite:///{db}", '
        "busy_timeout: 0.2}\nquery: {table: proxies}\nformat: csv\n"
        f'destination: "{tmp_path / "out" / "locked.csv"}"\nretry: {retry}\n'
    )
    return spec


def _hold_lock(db: Path) -> subprocess.Popen[str]:
    """A real writer, in a process of its own, holding the database's exclusive lock until
    a line reaches its stdin."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


@pytest.mark.parametrize("read_by", ["arrow", "rows"])
def test_a_sqlite_source_locked_by_a_writer_is_retried_until_the_lock_goes(
    tmp_path: Path, db: Path, private_ledger: str, monkeypatch: pytest.MonkeyPatch, read_by: str
) -> None:
    monkeypatch.setenv("EXPORTCTL_SQLITE_ARROW", "1" if read_by == "arrow" else "0")
    spec = _locked_db_spec(tmp_path, db, "{attempts: 20, backoff: 0.2s, max_backoff: 0.3s}")
    holder = _hold_lock(db)
    ledger = Ledger(private_ledger)

    def failed_once() -> bool:
        runs = ledger.history("locked", None, None, 1)
        events = ledger.audit_events(runs[0]["id"]) if runs else []
        return any(e["event"] == "run.attempt_failed" for e in events)

    try:
        with subprocess.Popen(
            [sys.executable, "-m", "exportctl", "apply", str(spec), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as apply:
            eventually(failed_once, "a first attempt to fail on the lock", timeout=30)
            holder.communicate("release\n", timeout=10)  # the writer rolls back
            stdout, stderr = apply.communicate(timeout=60)
    finally:
        holder.kill()

    assert apply.returncode == 0, stdout + stderr
    (result,) = json.loads(stdout)
    assert result["attempts"] >= 2 and result["rows"] == 2  # the writer rolled back
    assert (tmp_path / "out" / "locked.csv").read_text().splitlines()[1:] == [
        '"10.0.0.1",8080',
        '"10.0.0.2",3128',
    ]
    events = ledger.audit_events(result["run_id"])
    failed = [json.loads(e["detail"]) for e in events if e["event"] == "run.attempt_failed"]
    assert failed and all("database is locked" in f["error"] for f in failed)


@pytest.mark.parametrize("read_by", ["arrow", "rows"])
def test_a_sqlite_source_locked_throughout_fails_when_the_attempts_run_out(
    tmp_path: Path, db: Path, private_ledger: str, monkeypatch: pytest.MonkeyPatch, read_by: str
) -> None:
    monkeypatch.setenv("EXPORTCTL_SQLITE_ARROW", "1" if read_by == "arrow" else "0")
    spec = _locked_db_spec(tmp_path, db, "{attempts: 3, backoff: 0.1s}")
    holder = _hold_lock(db)
    try:
        done = _apply(spec, "apply")
    finally:
        holder.kill()
        holder.wait()

    assert done.returncode == 1, done.stdout + done.stderr
    (result,) = json.loads(done.stdout)
    assert result["attempts"] == 3 and result["status"] == "failed"
    assert str(db) in result["error"] and "database is locked" in result["error"]
    assert "busy_timeout" in result["error"]
    assert not list(tmp_path.glob("out/*"))


def test_backoff_and_budget_are_kept_on_the_injected_clock(
    tmp_path, db, http_receiver: HttpReceiver, private_ledger
):
    """Waits of half a minute pass at once on a fake clock, and the budget counts them."""
    http_receiver.fail_next(1000, status=503)
    retry = "{attempts: 10, backoff: 30s, max_backoff: 600s, budget: 100s}"
    path = _spec(tmp_path, db, f"{http_receiver.url}/pool.csv", retry)
    spec = load_spec(path, env={"UPLOAD_TOKEN": TOKEN})
    clock = FakeClock(datetime(2025, 1, 1, tzinfo=UTC))
    ledger = Ledger(private_ledger)
    started = time.monotonic()
    result = jobs.run_spec(spec, ledger, Options(), clock.now(), Observer(), Stop(), clock)
    assert time.monotonic() - started < 20  # not a minute and a half for real
    # 30 s then 60 s (each with up to 1 s of jitter); a third wait would end past 100 s.
    assert (result.status, result.attempts) == ("failed", 3)
    assert [round(s) // 30 for s in clock.slept] == [1, 2]
    events = ledger.audit_events(result.run_id)
    waits = [
        json.loads(e["detail"])["retry_in"] for e in events if e["event"] == "run.attempt_failed"
    ]
    assert waits == [round(s, 3) for s in clock.slept]
    assert ledger.run(result.run_id)["started_at"] == datetime(2025, 1, 1, tzinfo=UTC)
