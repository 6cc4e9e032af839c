"""Dead runs and refused aborts on S3 (a real moto server): every incomplete upload the
spec started is removed at the start of its next run, and a reader following the
manifest through SIGKILLs at random moments (seeded) gets exactly one run's rows."""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import json
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from exportctl.ledger.store import Ledger
from tests.support.killed_runs import fork_apply, set_generation, timed_run
from tests.support.waiting import eventually

if TYPE_CHECKING:
    from tests.support.servers import S3Bucket

ROWS = 3000
SEED = 7
KILLS = 3
ACCESS_DENIED = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"

SPEC = """\
version: 1
name: {name}
source: {{type: sql, url: "sqlite:///{db}", chunk_size: 250}}
query: {{table: items}}
format: csv
destination:
  uri: "s3://{bucket}/{key}"
  split: {{rows: {split}}}
  s3: {{endpoint_url: "{endpoint}", timeout: 5}}
retry: {{attempts: 1}}
"""


@pytest.fixture
def source(tmp_path: Path) -> Path:
    db = tmp_path / "source.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, gen INTEGER, pad TEXT)")
        conn.executemany("INSERT INTO items VALUES (?, 0, 'p')", [(i,) for i in range(1, ROWS + 1)])
    return db


def _spec(tmp_path: Path, db: Path, bucket: S3Bucket, endpoint: str, key: str, split: int) -> Path:
    spec = tmp_path / "s3.yaml"
    text = SPEC.format(
        name="s3", db=db, bucket=bucket.name, key=key, split=split, endpoint=endpoint
    )
    spec.write_text(text)
    return spec


def _follow_manifest(bucket: S3Bucket, key: str) -> tuple[int, int] | None:
    """What a reader following the manifest gets: (rows, generation); fails on a mix."""
    client = bucket.client
    try:
        body = client.get_object(Bucket=bucket.name, Key=f"{key}.manifest.json")["Body"]
    except client.exceptions.NoSuchKey:
        return None
    ids: list[int] = []
    generations: set[str] = set()
    for index, part in enumerate(json.loads(body.read())["parts"]):
        part_key = urlsplit(part["uri"]).path.lstrip("/")
        raw = client.get_object(Bucket=bucket.name, Key=part_key)["Body"].read()
        assert hashlib.sha256(raw).hexdigest() == part["sha256"], part_key
        rows = list(csv.reader(io.StringIO(raw.decode())))[1 if index == 0 else 0 :]
        ids += [int(row[0]) for row in rows]
        generations |= {row[1] for row in rows}
    assert sorted(ids) == list(range(1, ROWS + 1)), "rows missing or doubled"
    assert len(generations) == 1, f"rows of several runs: {sorted(generations)}"
    return len(ids), int(generations.pop())


def _only_the_manifest_and_its_parts(bucket: S3Bucket, key: str) -> None:
    manifest = json.loads(bucket.read(f"{key}.manifest.json"))
    listed = {urlsplit(p["uri"]).path.lstrip("/") for p in manifest["parts"]}
    assert set(bucket.keys()) == listed | {f"{key}.manifest.json"}
    assert bucket.uploads() == []


def test_sigkilled_s3_split_exports_leave_one_runs_data_and_no_upload(
    tmp_path, source, s3_bucket: S3Bucket, gate: _Gate
):
    key = "exports/fixed.csv"
    spec = _spec(tmp_path, source, s3_bucket, gate.endpoint, key, split=1000)
    state = f"sqlite:///{tmp_path / 'state.db'}"
    chance = random.Random(SEED)
    whole = timed_run(spec, state)
    figures = {"kills": 0, "uploads left by a kill": 0}
    for generation in range(1, KILLS + 1):
        set_generation(source, generation)
        process = fork_apply(spec, state)
        if generation == 1:  # once for sure: while an upload is open (its completion held)
            gate.hold_completion = True
            eventually(gate.held.is_set, "the upload's completion, held", every=0.005)
        else:
            time.sleep(chance.uniform(0, whole))
        figures["kills"] += process.is_alive()
        process.kill()  # SIGKILL
        process.join(10)
        gate.hold_completion = False
        gate.release.set()
        figures["uploads left by a kill"] += bool(s3_bucket.uploads())
        assert _follow_manifest(s3_bucket, key) is not None
    set_generation(source, 0)
    timed_run(spec, state)  # its start removes what the killed runs left
    assert _follow_manifest(s3_bucket, key) == (ROWS, 0)
    _only_the_manifest_and_its_parts(s3_bucket, key)
    print(f"\nS3 SIGKILL figures (seed {SEED}): {figures}, failures: 0")
    assert figures["kills"] >= KILLS // 2 and figures["uploads left by a kill"]


class _Gate:
    """An HTTP proxy in front of the moto server that can start answering 403 to all, or
    hold an upload's completion (never forwarded) so a kill finds the upload open."""

    def __init__(self, target: str):
        self.target = urlsplit(target).netloc
        self.deny_after_create = False
        self.denying = False
        self.hold_completion = False
        self.held, self.release = threading.Event(), threading.Event()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if gate.hold_completion and self.command == "POST" and "uploadId=" in self.path:
                    gate.held.set()
                    gate.release.wait(60)
                    self.close_connection = True
                    return
                if gate.denying:
                    self.send_response(403)
                    self.send_header("Content-Length", str(len(ACCESS_DENIED)))
                    self.end_headers()
                    self.wfile.write(ACCESS_DENIED)
                    return
                connection = http.client.HTTPConnection(gate.target, timeout=10)
                connection.request(self.command, self.path, body, dict(self.headers))
                answer = connection.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if gate.deny_after_create and self.command == "POST" and "uploads" in self.path:
                    gate.denying = True  # the upload exists; from now on, 403 for all

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def gate(moto_server) -> Iterator[_Gate]:
    proxy = _Gate(moto_server.endpoint)
    yield proxy
    proxy.server.shutdown()


def test_an_upload_whose_abort_the_store_refused_is_removed_by_the_next_run(
    tmp_path, source, s3_bucket: S3Bucket, gate: _Gate
):
    """403 mid-upload, and 403 to the abort: the upload stays, as the message says, until
    the next run of the spec, even one writing to another key (a templated name)."""
    spec = _spec(tmp_path, source, s3_bucket, gate.endpoint, "exports/{{ run.id }}.csv", 100000)
    state = f"sqlite:///{tmp_path / 'state.db'}"
    gate.deny_after_create = True
    from exportctl.cli.main import main  # in process: the gate is a thread of this one

    failed = _apply_in_process(main, spec, state)
    assert failed["status"] == "failed"
    assert "AccessDenied" in failed["error"]
    assert "left for the next run" in failed["error"]
    (left,) = s3_bucket.uploads()
    gate.deny_after_create = gate.denying = False

    succeeded = _apply_in_process(main, spec, state)
    assert succeeded["status"] == "succeeded"
    assert s3_bucket.uploads() == []
    stored = s3_bucket.keys()
    assert left not in stored
    assert Ledger(state).history("s3", status="failed")


def _apply_in_process(main, spec: Path, state: str) -> dict:
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["apply", str(spec), "--state", state, "--json"])
    (done,) = json.loads(result.stdout)
    return done
