"""S3 uploads against a real moto server: the whole object or none, and no upload left behind."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from exportctl.destinations.s3 import S3Destination
from exportctl.destinations.s3_options import MIN_PART_SIZE, S3Options
from exportctl.errors import Interrupted, RunError, TransientError
from exportctl.jobs.recorded import recorded
from exportctl.ledger.runs import RunRecord
from exportctl.ledger.store import Ledger
from exportctl.spec.load import load_specs
from tests.support.cli import applied, run_cli
from tests.support.servers import free_port

if TYPE_CHECKING:
    from tests.support.servers import HttpReceiver, Relay, S3Bucket

PART = MIN_PART_SIZE
SECRET = "s3cr3t-never-in-a-message"


@pytest.fixture(autouse=True)
def distinctive_secret(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret key no message may contain (moto accepts any)."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)


def s3(endpoint: str, **options: object) -> S3Destination:
    """The destination with the smallest parts, so a few MiB make a multipart upload."""
    return S3Destination(S3Options(endpoint_url=endpoint, part_size=PART, **options))  # type: ignore[arg-type]


def write(destination: S3Destination, uri: str, payload: bytes, block: int = 1 << 20) -> None:
    with destination.open(uri) as sink:
        for start in range(0, len(payload), block):
            sink.stream.write(payload[start : start + block])


def assert_clean_message(error: BaseException) -> None:
    assert SECRET not in str(error)
    assert "X-Amz-Signature" not in str(error)


@pytest.mark.parametrize("size", [1, 3 * PART - 1], ids=["one-part", "three-parts"])
def test_round_trip_matches_bytes_and_digest(s3_bucket: S3Bucket, size: int):
    payload = os.urandom(size)
    uri = s3_bucket.uri("exports/pool.csv.gz")
    destination = s3(s3_bucket.endpoint)
    with destination.open(uri) as sink:
        sink.stream.write(payload[:100])
        sink.stream.write(payload[100:])
        assert sink.written is None
        assert s3_bucket.keys() == []  # nothing visible before the block ends
    digest = hashlib.sha256(payload).hexdigest()
    assert sink.written is not None
    assert (sink.written.uri, sink.written.bytes, sink.written.sha256) == (uri, size, digest)
    assert s3_bucket.read("exports/pool.csv.gz") == payload  # an independent client agrees
    with destination.read(uri) as stream:
        assert stream.read() == payload
    assert s3_bucket.uploads() == []


def test_an_empty_export_is_an_empty_object(s3_bucket: S3Bucket):
    uri = s3_bucket.uri("empty.csv")
    with s3(s3_bucket.endpoint).open(uri) as sink:
        pass
    assert sink.written is not None
    assert sink.written.bytes == 0
    assert sink.written.sha256 == hashlib.sha256(b"").hexdigest()
    assert s3_bucket.keys() == ["empty.csv"]
    assert s3_bucket.read("empty.csv") == b""
    with s3(s3_bucket.endpoint).read(uri) as stream:
        assert stream.read() == b""


@pytest.mark.parametrize("size", [0, PART + 1], ids=["empty", "multipart"])
def test_encryption_and_storage_class_reach_the_object(s3_bucket: S3Bucket, size: int):
    destination = s3(
        s3_bucket.endpoint, server_side_encryption="AES256", storage_class="STANDARD_IA"
    )
    write(destination, s3_bucket.uri("enc.bin"), os.urandom(size))
    head = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key="enc.bin")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["StorageClass"] == "STANDARD_IA"
    assert head["ContentLength"] == size


def test_a_kms_key_reaches_the_object(s3_bucket: S3Bucket):
    destination = s3(s3_bucket.endpoint, server_side_encryption="aws:kms", kms_key_id="alias/exp")
    write(destination, s3_bucket.uri("kms.bin"), b"secret rows")
    head = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key="kms.bin")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith("alias/exp")


@pytest.mark.parametrize(
    "error",
    [ValueError("encoder failed"), KeyboardInterrupt(), Interrupted(signal.SIGTERM)],
    ids=["exception", "ctrl-c", "sigterm"],
)
def test_a_failure_inside_the_block_leaves_no_object_and_no_upload(
    s3_bucket: S3Bucket, error: BaseException
):
    uri = s3_bucket.uri("out.csv")
    with pytest.raises(type(error)), s3(s3_bucket.endpoint).open(uri) as sink:
        sink.stream.write(os.urandom(PART + 10))  # one part already uploaded
        raise error
    assert s3_bucket.keys() == []
    assert s3_bucket.uploads() == []


def test_a_failed_rerun_keeps_the_previous_object(s3_bucket: S3Bucket):
    uri = s3_bucket.uri("daily.csv")
    destination = s3(s3_bucket.endpoint)
    write(destination, uri, b"yesterday")
    with pytest.raises(ZeroDivisionError), destination.open(uri) as sink:
        sink.stream.write(os.urandom(2 * PART))
        _ = 1 / 0
    assert s3_bucket.read("daily.csv") == b"yesterday"
    write(destination, uri, b"today")
    assert s3_bucket.read("daily.csv") == b"today"
    assert s3_bucket.uploads() == []


def test_an_unreachable_store_is_transient_and_fails_fast(s3_bucket: S3Bucket, s3_relay: Relay):
    s3_relay.down()
    uri = s3_bucket.uri("out.csv")
    started = time.monotonic()
    with pytest.raises(TransientError) as caught, s3(s3_relay.endpoint).open(uri):
        pass
    # a library's own retry loop (smart_open's slept 10 s between 6 tries) must not run
    assert time.monotonic() - started < 5
    assert "s3://" + s3_bucket.name + "/out.csv" in str(caught.value)
    assert s3_relay.endpoint in str(caught.value)
    assert_clean_message(caught.value)
    s3_relay.up()
    assert s3_bucket.keys() == []
    assert s3_bucket.uploads() == []


def test_reset_connections_are_transient_and_boto3_tries_twice(
    s3_bucket: S3Bucket, s3_relay: Relay
):
    s3_relay.cut_next(2)
    uri = s3_bucket.uri("reset.csv")
    with pytest.raises(TransientError) as caught, s3(s3_relay.endpoint).open(uri):
        pass
    assert s3_relay.cut == 2
    assert_clean_message(caught.value)
    write(s3(s3_relay.endpoint), uri, b"once the network is back")  # the caller's retry
    assert s3_bucket.read("reset.csv") == b"once the network is back"


def test_a_store_going_down_mid_upload_is_aborted_once_it_is_back(
    s3_bucket: S3Bucket, s3_relay: Relay
):
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the store comes back while the abort waits
        waits.append(seconds)
        s3_relay.up()

    destination = S3Destination(
        S3Options(endpoint_url=s3_relay.endpoint, part_size=PART), sleep=sleep
    )
    with pytest.raises(TransientError) as caught, destination.open(s3_bucket.uri("x.bin")) as sink:
        sink.stream.write(os.urandom(2 * PART))  # two parts uploaded
        s3_relay.down()
        sink.stream.write(os.urandom(PART))  # the third cannot be
    assert waits == [0.5]  # one failed abort, then a successful one
    assert "left for the next run" not in str(caught.value)
    assert_clean_message(caught.value)
    assert s3_bucket.keys() == []
    assert s3_bucket.uploads() == []


def test_an_abort_that_cannot_reach_the_store_leaves_it_to_remove_leftovers(
    s3_bucket: S3Bucket, s3_relay: Relay
):
    waits: list[float] = []
    destination = S3Destination(
        S3Options(endpoint_url=s3_relay.endpoint, part_size=PART), sleep=waits.append
    )
    uri = s3_bucket.uri("x.bin")
    with pytest.raises(TransientError) as caught, destination.open(uri) as sink:
        sink.stream.write(os.urandom(PART))
        s3_relay.down()
        sink.stream.write(os.urandom(PART))
    assert waits == [0.5, 1.0, 2.0]
    assert "left for the next run of this spec to remove" in str(caught.value)
    assert_clean_message(caught.value)
    s3_relay.up()
    # Garbage collection calls close() on the writer (io.IOBase's finalizer): that must
    # never complete the upload with the parts sent.
    sink.stream.target.close()  # type: ignore[attr-defined]
    assert s3_bucket.keys() == []
    assert s3_bucket.uploads() == ["x.bin"]
    destination.remove_leftovers(uri)
    assert s3_bucket.uploads() == []
    assert s3_bucket.keys() == []


def test_a_hanging_store_times_out_as_transient(s3_bucket: S3Bucket, s3_relay: Relay):
    s3_relay.stall()
    started = time.monotonic()
    destination = s3(s3_relay.endpoint, timeout=0.3)
    with (
        pytest.raises(TransientError, match=r"timed out, no answer from .* within 0\.3 s"),
        destination.open(s3_bucket.uri("slow.bin")),
    ):
        pass
    assert time.monotonic() - started < 5
    s3_relay.unstall()


def test_a_missing_bucket_is_not_transient(s3_bucket: S3Bucket):
    uri = f"s3://{s3_bucket.name}-missing/out.csv"
    with pytest.raises(RunError) as caught, s3(s3_bucket.endpoint).open(uri):
        pass
    assert not isinstance(caught.value, TransientError)
    assert "NoSuchBucket" in str(caught.value)
    assert f"{s3_bucket.name}-missing/out.csv" in str(caught.value)
    assert_clean_message(caught.value)


def test_missing_credentials_say_where_they_come_from(
    s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    destination = s3(s3_bucket.endpoint)
    with (
        pytest.raises(RunError, match="no AWS credentials found") as caught,
        destination.open(s3_bucket.uri("out.csv")),
    ):
        pass
    assert not isinstance(caught.value, TransientError)


S3_ERROR = "<Error><Code>{}</Code><Message>as the store says</Message></Error>"


@pytest.mark.parametrize(
    ("status", "code", "transient"),
    [
        (503, "SlowDown", True),
        (500, "InternalError", True),
        (400, "RequestTimeout", True),
        (403, "AccessDenied", False),
        (403, "InvalidAccessKeyId", False),
    ],
)
def test_store_errors_are_classified(
    http_receiver: HttpReceiver, status: int, code: str, transient: bool
):
    http_receiver.reject(status, S3_ERROR.format(code).encode())
    with pytest.raises(RunError) as caught, s3(http_receiver.url).open("s3://bucket/out.csv"):
        pass
    assert isinstance(caught.value, TransientError) is transient
    assert f"{code}: as the store says" in str(caught.value)
    # boto3 tries twice what may pass, once what cannot; the caller's policy does the rest
    assert len(http_receiver.requests) == (2 if transient else 1)
    assert_clean_message(caught.value)


def test_remove_leftovers_aborts_the_uploads_of_the_file_and_its_parts_only(
    s3_bucket: S3Bucket,
):
    ours = ["exp/pool.csv.gz", "exp/pool.part-00001.csv.gz", "exp/pool.part-00012.csv.gz"]
    others = [
        "exp/pool.json",
        "exp/pool-old.csv.gz",
        "exp/pool.part-00001.json",
        "exp/poolside.part-00001.csv.gz",
        "exp/pool.csv.gz.bak",
        "other/pool.csv.gz",
    ]
    for key in ours + others:
        s3_bucket.client.create_multipart_upload(Bucket=s3_bucket.name, Key=key)
    s3(s3_bucket.endpoint).remove_leftovers(s3_bucket.uri("exp/pool.csv.gz"))
    assert sorted(s3_bucket.uploads()) == sorted(others)


def test_remove_leftovers_keeps_committed_objects(s3_bucket: S3Bucket):
    destination = s3(s3_bucket.endpoint)
    write(destination, s3_bucket.uri("pool.csv"), b"kept")
    destination.remove_leftovers(s3_bucket.uri("pool.csv"))
    assert s3_bucket.read("pool.csv") == b"kept"


def test_delete_removes_the_object_and_a_missing_one_is_fine(s3_bucket: S3Bucket):
    destination = s3(s3_bucket.endpoint)
    uri = s3_bucket.uri("old.csv")
    write(destination, uri, b"old")
    destination.delete(uri)
    assert s3_bucket.keys() == []
    destination.delete(uri)


def test_reading_a_missing_object_is_a_run_error(s3_bucket: S3Bucket):
    destination = s3(s3_bucket.endpoint)
    with (
        pytest.raises(RunError, match="NoSuchKey") as caught,
        destination.read(s3_bucket.uri("nothing.csv")),
    ):
        pass
    assert not isinstance(caught.value, TransientError)


def test_the_endpoint_comes_from_the_environment_when_not_in_the_spec(s3_bucket: S3Bucket):
    # s3_bucket sets AWS_ENDPOINT_URL to moto; S3Options() names no endpoint
    write(S3Destination(), s3_bucket.uri("env.csv"), b"via AWS_ENDPOINT_URL")
    assert s3_bucket.read("env.csv") == b"via AWS_ENDPOINT_URL"


@pytest.mark.parametrize("uri", ["s3://bucket", "s3://bucket/", "s3://key:secret@bucket/k"])
def test_uris_without_an_object_or_with_credentials_are_refused(uri: str):
    with pytest.raises(RunError) as caught, S3Destination().open(uri):
        pass
    assert "secret" not in str(caught.value)


# --- every command reaches the spec's own endpoint ----------------------------------------


@pytest.fixture
def elsewhere(s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A folder for specs and the ledger; the environment's endpoint leads nowhere, so only
    the spec's `endpoint_url` reaches the store."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("EXPORTCTL_STATE", f"sqlite:///{tmp_path / 'state.db'}")
    db = tmp_path / "pool.db"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE proxies (host TEXT, port INTEGER)")
        conn.executemany("INSERT INTO proxies VALUES (?, ?)", [("10.0.0.1", 80), ("::1", 3128)])
    return tmp_path


def s3_spec(folder: Path, bucket: S3Bucket, **more: Any) -> Path:
    spec = {
        "version": 1,
        "name": "pool",
        "source": {"type": "sql", "url": f"sqlite:///{folder / 'pool.db'}"},
        "query": {"table": "proxies"},
        "format": "csv",
        "destination": {
            "uri": bucket.uri("pool/{{ run.id }}.csv"),
            "s3": {"endpoint_url": bucket.endpoint, "timeout": 5},
        },
        **more,
    }
    path = folder / "pool.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_verify_reads_from_the_endpoint_the_run_wrote_to_without_the_spec(
    elsewhere: Path, s3_bucket: S3Bucket
) -> None:
    spec = s3_spec(elsewhere, s3_bucket)
    run_id = applied(spec)["run_id"]
    spec.unlink()  # the ledger alone says where the store is

    code, checks, _ = run_cli("verify", run_id)

    assert code == 0, checks
    assert {c["role"] for c in checks} == {"data", "manifest"} and all(c["ok"] for c in checks)
    data = next(c for c in checks if c["role"] == "data")
    key = data["uri"].split("/", 3)[3]
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=key, Body=b"changed")
    code, checks, _ = run_cli("verify", run_id)
    assert code == 1
    assert "sha256 differs" in next(c for c in checks if c["role"] == "data")["problem"]
    assert SECRET.encode() not in (elsewhere / "state.db").read_bytes()


def test_retention_and_prune_delete_at_the_specs_endpoint(
    elsewhere: Path, s3_bucket: S3Bucket
) -> None:
    spec = s3_spec(elsewhere, s3_bucket)
    first, second = applied(spec), applied(spec)
    assert len(s3_bucket.keys()) == 4  # two runs, each a file and its manifest

    s3_spec(elsewhere, s3_bucket, retention={"keep_last": 1})
    code, pruned, _ = run_cli("prune", str(spec))
    assert code == 0 and len(pruned) == 2 and all(p["deleted"] for p in pruned), pruned
    assert sorted(s3_bucket.keys()) == sorted(
        f["uri"].split("/", 3)[3]
        for f in Ledger(state_url(elsewhere)).run(second["run_id"])["files"]
    )

    third = applied(spec)  # retention after a run deletes the second run's files
    kept = Ledger(state_url(elsewhere)).run(third["run_id"])["files"]
    assert sorted(s3_bucket.keys()) == sorted(f["uri"].split("/", 3)[3] for f in kept)
    assert first["run_id"] not in "".join(s3_bucket.keys())


def state_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'state.db'}"


def test_recovery_removes_a_dead_runs_upload_at_its_endpoint_without_its_spec(
    elsewhere: Path, s3_bucket: S3Bucket
) -> None:
    # A run of a spec no longer around, killed mid-upload: its process gone, its upload left.
    uri = s3_bucket.uri("gone/export.csv")
    s3_bucket.client.create_multipart_upload(Bucket=s3_bucket.name, Key="gone/export.csv")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    gone = s3_spec(elsewhere, s3_bucket)  # how the dead run was started, as `apply` records it
    Ledger(state_url(elsewhere)).start_run(
        RunRecord(
            id="20260101T000000Z-deadbeef0000",
            spec="gone",
            spec_sha256="0" * 64,
            trigger="manual",
            destination=uri,
            started_at=datetime.now(UTC),
            pid=int(dead.stdout),
            destination_options=recorded(uri, load_specs([gone])[0][0].destination.options),
        )
    )
    assert s3_bucket.uploads() == ["gone/export.csv"]
    gone.unlink()

    other = elsewhere / "other.yaml"
    other.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "other",
                "source": {"type": "sql", "url": f"sqlite:///{elsewhere / 'pool.db'}"},
                "query": {"table": "proxies"},
                "format": "csv",
                "destination": str(elsewhere / "out" / "other.csv"),
            }
        )
    )
    applied(other)  # recovers the dead run first

    assert (
        Ledger(state_url(elsewhere)).run("20260101T000000Z-deadbeef0000")["status"] == "interrupted"
    )
    assert s3_bucket.uploads() == []


def test_what_a_run_records_of_its_destination_holds_no_secret() -> None:
    from exportctl.destinations.http_options import HttpOptions

    headers = (("Authorization", f"Bearer {SECRET}"),)
    assert recorded("https://host/x.csv", HttpOptions(headers=headers)) is None
    options = S3Options(endpoint_url=f"http://user:{SECRET}@host:9000", region="eu-west-1")
    text = recorded("s3://b/k.csv", options)
    assert text is not None and SECRET not in text and "endpoint_url" not in text
    assert json.loads(text)["region"] == "eu-west-1"
    assert recorded("s3://b/k.csv", None) is None  # the environment's, as the run had
