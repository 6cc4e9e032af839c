"""HTTP uploads against a real local server: one complete request, or none."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from exportctl.destinations.http import HttpDestination
from exportctl.destinations.http_options import HttpOptions
from exportctl.errors import RunError, TransientError
from tests.support.servers import free_port

if TYPE_CHECKING:
    from tests.support.servers import HttpReceiver

TOKEN = "Bearer tok-never-in-a-message"
SIGNATURE = "X-Amz-Signature=deadbeefsecret"
HEADERS = (("Authorization", TOKEN), ("X-Export-Run", "run-42"))


@pytest.fixture(autouse=True)
def private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The spool goes here, so a test can see that nothing is left."""
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    return spool


def http(**options: object) -> HttpDestination:
    return HttpDestination(HttpOptions(headers=HEADERS, **options))  # type: ignore[arg-type]


def assert_clean_message(error: BaseException) -> None:
    for secret in (TOKEN, "tok-never", SIGNATURE, "deadbeef", "run-42"):
        assert secret not in str(error)


def test_put_uploads_the_whole_file_in_one_request(
    http_receiver: HttpReceiver, private_tempdir: Path
):
    payload = os.urandom(3 << 20)
    uri = f"{http_receiver.url}/exports/pool.csv.gz?{SIGNATURE}"
    destination = http()
    with destination.open(uri) as sink:
        sink.stream.write(payload[:10])
        sink.stream.write(payload[10:])
        assert http_receiver.requests == []  # nothing sent before the block ends
        assert list(private_tempdir.iterdir()) == []  # the spool has no name
    [request] = http_receiver.requests
    assert (request.method, request.path) == ("PUT", f"/exports/pool.csv.gz?{SIGNATURE}")
    assert request.body == payload
    assert request.header("Authorization") == TOKEN
    assert request.header("X-Export-Run") == "run-42"
    assert request.header("Content-Type") == "application/gzip"
    assert request.header("Content-Length") == str(len(payload))
    assert request.header("Transfer-Encoding") is None
    assert sink.written is not None
    digest = hashlib.sha256(payload).hexdigest()
    assert (sink.written.uri, sink.written.bytes, sink.written.sha256) == (
        uri,
        len(payload),
        digest,
    )
    with destination.read(uri) as stream:
        assert stream.read() == payload
    assert http_receiver.requests[-1].header("Authorization") == TOKEN
    assert list(private_tempdir.iterdir()) == []


def test_post_with_the_spec_content_type(http_receiver: HttpReceiver):
    uri = f"{http_receiver.url}/ingest/pool.csv"
    with http(method="POST", content_type="text/csv; charset=utf-8").open(uri) as sink:
        sink.stream.write(b"url\r\nhttp://1.2.3.4:80\r\n")
    [request] = http_receiver.requests
    assert request.method == "POST"
    assert request.header("Content-Type") == "text/csv; charset=utf-8"
    assert http_receiver.stored["/ingest/pool.csv"] == b"url\r\nhttp://1.2.3.4:80\r\n"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("a.csv", "text/csv"),
        ("a.json", "application/json"),
        ("a.jsonl", "application/x-ndjson"),
        ("a.csv.gz", "application/gzip"),
        ("a.jsonl.zst", "application/zstd"),
        ("a.csv.zip", "application/zip"),
        ("a.parquet", "application/vnd.apache.parquet"),
        ("A.CSV", "text/csv"),
        ("a.bin", "application/octet-stream"),
        ("noextension", "application/octet-stream"),
    ],
)
def test_content_type_follows_the_file_name(
    http_receiver: HttpReceiver, name: str, content_type: str
):
    with HttpDestination().open(f"{http_receiver.url}/x/{name}?sig=1.csv") as sink:
        sink.stream.write(b"x")
    assert http_receiver.requests[0].header("Content-Type") == content_type


def test_a_content_type_header_in_the_spec_is_sent_once(http_receiver: HttpReceiver):
    options = HttpOptions(headers=(("content-type", "text/tab-separated-values"),))
    with HttpDestination(options).open(f"{http_receiver.url}/a.csv") as sink:
        sink.stream.write(b"x")
    [request] = http_receiver.requests
    sent = [k for k in request.headers if k.lower() == "content-type"]
    assert sent == ["Content-Type"]
    assert request.header("Content-Type") == "text/tab-separated-values"


def test_an_empty_file_is_sent_with_a_length_of_zero(http_receiver: HttpReceiver):
    with http().open(f"{http_receiver.url}/empty.csv") as sink:
        pass
    [request] = http_receiver.requests
    assert request.body == b""
    assert request.header("Content-Length") == "0"
    assert request.header("Transfer-Encoding") is None
    assert sink.written is not None
    assert sink.written.sha256 == hashlib.sha256(b"").hexdigest()


def test_a_failure_inside_the_block_sends_nothing_and_leaves_no_spool(
    http_receiver: HttpReceiver, private_tempdir: Path
):
    with pytest.raises(KeyboardInterrupt), http().open(f"{http_receiver.url}/a.csv") as sink:
        sink.stream.write(b"half")
        raise KeyboardInterrupt
    assert sink.written is None
    assert http_receiver.requests == []
    assert list(private_tempdir.iterdir()) == []


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_server_trouble_is_transient(http_receiver: HttpReceiver, status: int):
    http_receiver.fail_next(1, status)
    uri = f"{http_receiver.url}/exports/a.csv?{SIGNATURE}"
    with pytest.raises(TransientError) as caught, http().open(uri) as sink:
        sink.stream.write(b"rows")
    assert f"HTTP {status}" in str(caught.value)
    assert f"{http_receiver.url}/exports/a.csv?…" in str(caught.value)
    assert_clean_message(caught.value)
    assert sink.written is None
    assert len(http_receiver.requests) == 1  # no hidden retries: the caller decides


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_a_refusal_is_not_transient(http_receiver: HttpReceiver, status: int):
    body = b"<Error><Code>SignatureDoesNotMatch</Code><StringToSign>x</StringToSign></Error>"
    http_receiver.reject(status, body)
    uri = f"{http_receiver.url}/a.csv?{SIGNATURE}"
    with pytest.raises(RunError) as caught, http().open(uri) as sink:
        sink.stream.write(b"rows")
    assert not isinstance(caught.value, TransientError)
    assert f"HTTP {status}" in str(caught.value)
    assert "(SignatureDoesNotMatch)" in str(caught.value)
    assert "StringToSign" not in str(caught.value)
    assert_clean_message(caught.value)


def test_a_hanging_server_times_out_as_transient(http_receiver: HttpReceiver):
    http_receiver.hang_next(1)
    started = time.monotonic()
    with (
        pytest.raises(TransientError, match=r"timed out, no answer within 0\.5 s") as caught,
        http(timeout=0.5).open(f"{http_receiver.url}/a.csv?{SIGNATURE}") as sink,
    ):
        sink.stream.write(b"rows")
    assert time.monotonic() - started < 3
    assert_clean_message(caught.value)
    assert http_receiver.requests[0].body == b"rows"  # it did get there, but no answer came


def test_a_refused_connection_is_transient():
    uri = f"http://127.0.0.1:{free_port()}/a.csv?{SIGNATURE}"
    with (
        pytest.raises(TransientError, match="connection refused") as caught,
        http().open(uri) as sink,
    ):
        sink.stream.write(b"rows")
    assert_clean_message(caught.value)


def test_delete_sends_delete_and_a_missing_file_is_fine(http_receiver: HttpReceiver):
    destination = http()
    uri = f"{http_receiver.url}/old.csv"
    with destination.open(uri) as sink:
        sink.stream.write(b"old")
    destination.delete(uri)
    assert http_receiver.stored == {}
    destination.delete(uri)  # answered 404
    assert [r.method for r in http_receiver.requests] == ["PUT", "DELETE", "DELETE"]
    assert http_receiver.requests[1].header("Authorization") == TOKEN
    http_receiver.reject(403)
    with pytest.raises(RunError, match="HTTP 403"):
        destination.delete(uri)


def test_reading_a_missing_file_is_a_run_error(http_receiver: HttpReceiver):
    with (
        pytest.raises(RunError, match="HTTP 404") as caught,
        http().read(f"{http_receiver.url}/missing.csv"),
    ):
        pass
    assert not isinstance(caught.value, TransientError)


def test_remove_leftovers_has_nothing_to_do(http_receiver: HttpReceiver):
    http().remove_leftovers(f"{http_receiver.url}/a.csv")
    assert http_receiver.requests == []
