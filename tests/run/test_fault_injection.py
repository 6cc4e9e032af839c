"""Fault injection against real servers: S3 going down, an HTTP server hanging, SIGKILL.

The exports run as real `exportctl apply` processes. S3 is moto's server behind a TCP
relay: taking the relay down is, to the client, the server going away, while moto keeps
its state for the checks (no object, no incomplete multipart upload).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from exportctl.demo.build import init_demo
from exportctl.ledger.store import Ledger
from tests.support.servers import HttpReceiver, Relay, S3Bucket

PROXIES = 60_000  # about 13 MB of JSON lines: three 5 MiB parts
KEY = "exports/pool.jsonl"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faults")
    init_demo(root / "demo", proxies=PROXIES, metrics=10, log_lines=10)
    return root / "demo" / "system.db"


@pytest.fixture(scope="module")
def reference(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The export as written to a local file: what every destination must hold."""
    folder = tmp_path_factory.mktemp("reference")
    spec = folder / "pool.yaml"
    spec.write_text(_spec(demo_db, f'"{folder}/pool.jsonl"'))
    done = _apply(spec, env={**os.environ, "EXPORTCTL_STATE": f"sqlite:///{folder}/state.db"})
    assert done.returncode == 0, done.stderr
    data = (folder / "pool.jsonl").read_bytes()
    assert len(data) > 2 * 5 * 2**20  # enough for a multipart upload of several parts
    return data


def _spec(db: Path, destination: str, extra: str = "", name: str = "pool") -> str:
    return (
        f"version: 1\nname: {name}\n"
        f'source: {{type: sql, url: "sqlite:///{db}", chunk_size: 5000}}\n'
        "query: {table: proxy_identities}\nformat: jsonl\n"
        f"destination: {destination}\n{extra}"
    )


def _s3_destination(bucket: S3Bucket, endpoint: str, key: str = KEY) -> str:
    options = f'{{endpoint_url: "{endpoint}", part_size: 5MiB, timeout: 2}}'
    return f'{{uri: "{bucket.uri(key)}", s3: {options}}}'


def _apply(spec: Path, *extra: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "exportctl", "apply", str(spec), "--json", *extra],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def _only_result(done: subprocess.CompletedProcess[str]) -> dict:
    (result,) = json.loads(done.stdout)
    return result


def _write(tmp_path: Path, text: str, name: str = "pool.yaml") -> Path:
    spec = tmp_path / name
    spec.write_text(text)
    return spec


def _after(seconds: float, action) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(seconds), action()), daemon=True)
    thread.start()
    return thread


def _down_once_uploading(bucket: S3Bucket, relay: Relay, timeout: float = 60) -> None:
    """Take S3 down as soon as the first part of a multipart upload has arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for upload in bucket.client.list_multipart_uploads(Bucket=bucket.name).get("Uploads", []):
            parts = bucket.client.list_parts(
                Bucket=bucket.name, Key=upload["Key"], UploadId=upload["UploadId"]
            )
            if parts.get("Parts"):
                relay.down()
                return
        time.sleep(0.02)
    raise AssertionError("no multipart upload got under way")


def _up_after_a_failed_attempt(relay: Relay, timeout: float = 60) -> None:
    """Bring S3 back once the ledger shows that an attempt failed for its absence."""
    ledger = Ledger(os.environ["EXPORTCTL_STATE"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # the ledger may not exist yet
            if any(e["event"] == "run.attempt_failed" for e in ledger.audit_events()):
                break
        time.sleep(0.05)
    relay.up()


def _attempt_failures(run_id: str) -> list[dict]:
    ledger = Ledger(os.environ["EXPORTCTL_STATE"])
    return [e for e in ledger.audit_events(run_id) if e["event"] == "run.attempt_failed"]


# --- S3 down, with retries left and with none ---------------------------------------------


def test_s3_down_before_the_upload_then_back_completes_with_retries(
    tmp_path, demo_db, reference, s3_bucket, s3_relay
):
    s3_relay.down()
    _after(0, lambda: _up_after_a_failed_attempt(s3_relay))
    retry = "retry: {attempts: 6, backoff: 0.5s, max_backoff: 2s}\n"
    spec = _write(tmp_path, _spec(demo_db, _s3_destination(s3_bucket, s3_relay.endpoint), retry))
    done = _apply(spec)
    assert done.returncode == 0, done.stdout + done.stderr
    result = _only_result(done)
    assert result["attempts"] >= 2
    assert s3_bucket.read(KEY) == reference
    assert s3_bucket.uploads() == []
    failures = _attempt_failures(result["run_id"])
    assert len(failures) == result["attempts"] - 1
    verified = subprocess.run(
        [sys.executable, "-m", "exportctl", "verify", result["run_id"]], capture_output=True
    )
    assert verified.returncode == 0, verified.stdout


def test_s3_down_during_the_upload_then_back_completes_with_retries(
    tmp_path, demo_db, reference, s3_bucket, s3_relay
):
    retry = "retry: {attempts: 6, backoff: 0.5s, max_backoff: 2s}\n"
    spec = _write(tmp_path, _spec(demo_db, _s3_destination(s3_bucket, s3_relay.endpoint), retry))

    def outage() -> None:
        _down_once_uploading(s3_bucket, s3_relay)
        _up_after_a_failed_attempt(s3_relay)

    watcher = threading.Thread(target=outage, daemon=True)
    watcher.start()
    done = _apply(spec)
    watcher.join(timeout=5)
    assert done.returncode == 0, done.stdout + done.stderr
    result = _only_result(done)
    assert result["attempts"] >= 2
    assert s3_bucket.read(KEY) == reference
    assert s3_bucket.uploads() == []  # the interrupted upload was aborted


def test_s3_down_during_the_upload_with_no_retries_fails_cleanly_and_alerts(
    tmp_path, demo_db, s3_bucket, s3_relay, http_receiver: HttpReceiver
):
    extra = (
        "retry: {attempts: 1}\n"
        f'alerts: {{webhook: {{url: "{http_receiver.url}/hooks/T000/SECRET"}}}}\n'
    )
    spec = _write(tmp_path, _spec(demo_db, _s3_destination(s3_bucket, s3_relay.endpoint), extra))

    def outage() -> None:
        _down_once_uploading(s3_bucket, s3_relay)
        time.sleep(1.0)
        s3_relay.up()

    watcher = threading.Thread(target=outage, daemon=True)
    watcher.start()
    done = _apply(spec)
    watcher.join(timeout=5)
    assert done.returncode == 1, done.stdout + done.stderr
    result = _only_result(done)
    assert result["status"] == "failed" and result["attempts"] == 1
    assert s3_bucket.keys() == []
    assert s3_bucket.uploads() == []
    (alert,) = http_receiver.received("POST")
    body = json.loads(alert.body)
    assert body["status"] == "failed" and body["run_id"] == result["run_id"]
    assert body["error"] == result["error"]


# --- an HTTP destination that hangs ---------------------------------------------------------


def test_http_destination_that_hangs_times_out_and_the_retry_lands_it(
    tmp_path, demo_db, reference, http_receiver: HttpReceiver
):
    http_receiver.hang_next(1)
    destination = f'{{uri: "{http_receiver.url}/upload/pool.jsonl", http: {{timeout: 0.5}}}}'
    retry = "retry: {attempts: 3, backoff: 0.1s}\n"
    spec = _write(tmp_path, _spec(demo_db, destination, retry))
    started = time.monotonic()
    done = _apply(spec)
    assert done.returncode == 0, done.stdout + done.stderr
    assert time.monotonic() - started < 60
    result = _only_result(done)
    assert result["attempts"] == 2
    (failure,) = _attempt_failures(result["run_id"])
    assert "timed out" in failure["detail"]
    uploads = [r for r in http_receiver.received("PUT") if r.path == "/upload/pool.jsonl"]
    assert uploads[-1].body == reference


def test_http_destination_answering_4xx_is_not_retried(tmp_path, demo_db, http_receiver):
    http_receiver.reject(403)
    destination = f'"{http_receiver.url}/upload/pool.jsonl"'
    spec = _write(tmp_path, _spec(demo_db, destination, "retry: {attempts: 5, backoff: 0.1s}\n"))
    done = _apply(spec)
    assert done.returncode == 1
    result = _only_result(done)
    assert result["attempts"] == 1 and "403" in result["error"]
    assert len(http_receiver.received("PUT")) == 1


# --- SIGKILL at random points -------------------------------------------------------------


def _kill_at_random_points(spec: Path, kills: int, seed: int, check) -> list[float]:
    """Start the export `kills` times, SIGKILL it at a random moment, check after each."""
    started = time.monotonic()
    done = _apply(spec)
    assert done.returncode == 0, done.stderr
    full = time.monotonic() - started
    check()
    rng = random.Random(seed)
    moments = sorted(rng.uniform(0.05, full * 1.05) for _ in range(kills))
    for moment in moments:
        process = subprocess.Popen(
            [sys.executable, "-m", "exportctl", "apply", str(spec)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(moment)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        check()
    return moments


def test_sigkill_at_random_points_never_leaves_a_partial_local_file(tmp_path, demo_db, reference):
    out = tmp_path / "out"
    spec = _write(tmp_path, _spec(demo_db, f'"{out}/pool.jsonl"'))

    def check() -> None:
        names = sorted(p.name for p in out.iterdir())
        assert set(names) <= {"pool.jsonl", "pool.jsonl.manifest.json"}, names
        if "pool.jsonl" in names:
            assert (out / "pool.jsonl").read_bytes() == reference

    moments = _kill_at_random_points(spec, kills=16, seed=6, check=check)
    assert len(moments) == 16


def test_sigkill_at_random_points_never_leaves_a_partial_s3_object(
    tmp_path, demo_db, reference, s3_bucket
):
    spec = _write(tmp_path, _spec(demo_db, _s3_destination(s3_bucket, s3_bucket.endpoint)))

    def check() -> None:
        keys = s3_bucket.keys()
        assert set(keys) <= {KEY, KEY + ".manifest.json"}, keys
        if KEY in keys:
            assert s3_bucket.read(KEY) == reference

    _kill_at_random_points(spec, kills=16, seed=7, check=check)
    # Uploads a killed process could not abort are aborted by the next run's recovery.
    done = _apply(spec)
    assert done.returncode == 0, done.stderr
    assert s3_bucket.uploads() == []
    assert s3_bucket.read(KEY) == reference


# --- many exports to one prefix at once ---------------------------------------------------


def test_concurrent_exports_to_one_prefix_each_end_complete(
    tmp_path, demo_db, reference, s3_bucket
):
    specs = tmp_path / "specs"
    specs.mkdir()
    for index in range(4):
        key = f"exports/pool-{index}.jsonl"
        s3 = _spec(demo_db, _s3_destination(s3_bucket, s3_bucket.endpoint, key), name=f"s3-{index}")
        _write(specs, s3, f"s3-{index}.yaml")
        local = _spec(demo_db, f'"{tmp_path}/out/pool-{index}.jsonl"', name=f"local-{index}")
        _write(specs, local, f"local-{index}.yaml")
    done = _apply(specs, "--jobs", "8")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(json.loads(done.stdout)) == 8
    for index in range(4):
        assert s3_bucket.read(f"exports/pool-{index}.jsonl") == reference
        assert (tmp_path / "out" / f"pool-{index}.jsonl").read_bytes() == reference
    assert s3_bucket.uploads() == []
