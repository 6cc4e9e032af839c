"""S3 and S3-compatible stores: an object appears only once complete.

The bytes go up as a multipart upload (our own writer, `s3_multipart`). S3 shows
the object only when the upload is completed, after the last part, so a reader never
sees part of it and a failed re-run leaves the previous object as it was. Any
failure aborts the upload; should even the abort not reach the store (or be
refused), the parts stay, invisible but billed, until the next run of the spec
aborts them (`remove_leftovers`, called at the start of every run).

Retrying is the caller's job: boto3 gets two attempts and our timeouts.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any, BinaryIO, ClassVar, cast

import boto3
import botocore.exceptions as bx
from botocore.config import Config
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_chain, wait_fixed

from exportctl.destinations.base import CountingWriter, Sink, WrittenFile
from exportctl.destinations.s3_multipart import MultipartWriter
from exportctl.destinations.s3_options import S3Options
from exportctl.destinations.uris import is_part_of, written_for
from exportctl.errors import RunError, TransientError, scrub

#: Pauses between tries to abort an upload: enough for a blip, too short to stall a run.
ABORT_PAUSES = (0.5, 1.0, 2.0)
#: Timeout for each abort request: a hanging store must not hold the run for minutes.
ABORT_TIMEOUT = 5.0

#: Error codes worth a retry whatever their status (S3 sends RequestTimeout as a 400).
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",
        # The upload was aborted elsewhere (a lifecycle rule, a cleanup): a new one may pass.
        "NoSuchUpload",
    }
)

#: How each client call reads in a message: "<doing> s3://b/k failed: ...".
_DOING = {
    "create_multipart_upload": "starting the upload to",
    "upload_part": "uploading to",
    "complete_multipart_upload": "completing the upload to",
    "put_object": "uploading to",
    "abort_multipart_upload": "aborting the upload to",
    "get_object": "reading",
    "delete_object": "deleting",
    "list_multipart_uploads": "listing incomplete uploads for",
    "list_objects_v2": "listing the parts of",
}


class S3Destination:
    """Writes `s3://bucket/key` URIs."""

    schemes: ClassVar[tuple[str, ...]] = ("s3",)
    options_key: ClassVar[str | None] = "s3"
    Options: ClassVar[type[S3Options]] = S3Options

    def __init__(
        self, options: S3Options | None = None, *, sleep: Callable[[float], None] = time.sleep
    ):
        self.options = options or S3Options()
        #: Waits between abort tries; tests pass their own.
        self.sleep = sleep

    @contextmanager
    def open(self, uri: str) -> Iterator[Sink]:
        """A sink whose object is committed when the block exits cleanly, and never otherwise."""
        bucket, key = _split(uri)
        client = self._client(uri)
        settings = self._object_settings()
        writer = MultipartWriter(client, bucket, key, self.options.part_size, settings)
        upload = _Upload(writer)
        try:
            yield upload
            writer.complete()  # uploads the last part and completes: the object appears
        except BaseException as error:
            self._discard(writer, bucket, key, uri, error)
            raise
        digest = upload.counter.digest.hexdigest()
        upload.written = WrittenFile(uri, upload.counter.bytes, digest)

    @contextmanager
    def read(self, uri: str) -> Iterator[BinaryIO]:
        bucket, key = _split(uri)
        client = self._client(uri)
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            yield cast(BinaryIO, io.BufferedReader(_Body(body, client), 1 << 20))
        finally:
            body.close()

    def delete(self, uri: str) -> None:
        bucket, key = _split(uri)
        self._client(uri).delete_object(Bucket=bucket, Key=key)  # a missing key is no error

    def remove_leftovers(self, uri: str) -> None:
        """Abort the incomplete multipart uploads of `uri` and of its parts, no others."""
        bucket, key = _split(uri)
        client = self._client(uri)
        query: dict[str, Any] = {"Bucket": bucket, "Prefix": _stem_prefix(key)}
        ours = written_for(key)
        while True:
            page = client.list_multipart_uploads(**query)
            for upload in page.get("Uploads", []):
                if ours(upload["Key"]):
                    _abort(client, bucket, upload["Key"], upload["UploadId"])
            if not page.get("IsTruncated"):
                return
            query["KeyMarker"] = page.get("NextKeyMarker")
            query["UploadIdMarker"] = page.get("NextUploadIdMarker")

    def stored_parts(self, uri: str) -> list[str]:
        bucket, key = _split(uri)
        client = self._client(uri)
        part = is_part_of(key)
        query: dict[str, Any] = {"Bucket": bucket, "Prefix": _stem_prefix(key)}
        found: list[str] = []
        while True:
            page = client.list_objects_v2(**query)
            found += [f"s3://{bucket}/{o['Key']}" for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return sorted(name for name in found if part(name.split("/", 3)[3]))
            query["ContinuationToken"] = page["NextContinuationToken"]

    def _discard(
        self, writer: MultipartWriter, bucket: str, key: str, uri: str, error: BaseException
    ) -> None:
        """Abort the writer's upload, a few times if the store is unreachable."""
        upload_id = writer.upload_id
        try:
            if upload_id is not None:
                client = self._client(uri, timeout=min(self.options.timeout, ABORT_TIMEOUT))
                retrying = Retrying(
                    stop=stop_after_attempt(len(ABORT_PAUSES) + 1),
                    wait=wait_chain(*(wait_fixed(p) for p in ABORT_PAUSES)),
                    retry=retry_if_exception_type(TransientError),
                    sleep=self.sleep,
                    reraise=True,
                )
                for attempt in retrying:
                    with attempt:
                        _abort(client, bucket, key, upload_id)
        except RunError as failure:
            _mention(
                error,
                "the incomplete upload is left for the next run of this spec to remove "
                f"({failure})",
            )
        finally:
            writer.forget()  # nothing may complete it now, not even a finalizer

    def _client(self, where: str, timeout: float | None = None) -> _Client:
        """A fresh client: credentials only from the standard chain (environment, profile)."""
        options = self.options
        seconds = timeout or options.timeout
        config = Config(
            connect_timeout=seconds,
            read_timeout=seconds,
            # Two tries in all (one quick retry); the caller's policy does the patient retrying.
            retries={"total_max_attempts": 2, "mode": "standard"},
        )
        try:
            session = boto3.session.Session(profile_name=options.profile)
            client = session.client(
                "s3", endpoint_url=options.endpoint_url, region_name=options.region, config=config
            )
        except (bx.BotoCoreError, ValueError) as exc:  # unknown profile, malformed endpoint
            raise RunError(f"cannot set up S3 access for {scrub(where)}: {exc}") from exc
        return _Client(client, scrub(where), seconds)

    def _object_settings(self) -> dict[str, str]:
        """Encryption and storage class, as create_multipart_upload and put_object take them."""
        options = self.options
        settings = {
            "ServerSideEncryption": options.server_side_encryption,
            "SSEKMSKeyId": options.kms_key_id,
            "StorageClass": options.storage_class,
        }
        return {name: value for name, value in settings.items() if value}


class _Upload:
    """The open sink: bytes go through the counter to our multipart writer."""

    def __init__(self, writer: MultipartWriter):
        self.counter = CountingWriter(cast(BinaryIO, writer))
        self.stream = cast(BinaryIO, self.counter)
        self.written: WrittenFile | None = None


class _Client:
    """A boto3 S3 client whose calls raise our errors, worded for the destination `where`."""

    def __init__(self, raw: Any, where: str, timeout: float):
        self.raw, self.where, self.timeout = raw, where, timeout

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.raw, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except (bx.BotoCoreError, bx.ClientError) as exc:
                raise self.error(exc, _DOING.get(name, name.replace("_", " "))) from exc

        return call

    def error(self, exc: Exception, doing: str) -> RunError:
        kind, reason = _classify(exc, self.raw.meta.endpoint_url, self.timeout)
        return kind(f"{doing} {self.where} failed: {reason}")


class _Body(io.RawIOBase):
    """An object's body as a raw stream whose network errors are ours."""

    def __init__(self, body: Any, client: _Client):
        self.body, self.client = body, client

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self.body.read(len(buffer))
        except bx.BotoCoreError as exc:
            raise self.client.error(exc, "reading") from exc
        buffer[: len(data)] = data
        return len(data)


def _classify(exc: Exception, endpoint: str, timeout: float) -> tuple[type[RunError], str]:
    """Transient or not, and why, in words with no secret in them."""
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = str(error.get("Code") or status)
        message = error.get("Message") or _phrase(status)
        transient = code in TRANSIENT_CODES or status >= 500 or status == 429
        return (TransientError if transient else RunError), f"{code}: {message}"
    if isinstance(exc, bx.ConnectTimeoutError | bx.ReadTimeoutError):
        return TransientError, f"timed out, no answer from {endpoint} within {timeout:g} s"
    if isinstance(exc, bx.SSLError) and "certificate" in str(exc).lower():
        return RunError, f"the TLS certificate of {endpoint} is not trusted"
    if isinstance(exc, bx.ConnectionError):
        return TransientError, f"could not connect to {endpoint}"
    if isinstance(exc, bx.HTTPClientError | bx.IncompleteReadError):
        return TransientError, f"the connection to {endpoint} broke off"
    if isinstance(exc, bx.NoCredentialsError):
        return RunError, (
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or name a profile (AWS_PROFILE or `destination.s3.profile`)"
        )
    return RunError, scrub(str(exc))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _abort(client: _Client, bucket: str, key: str, upload_id: str) -> None:
    """Abort one upload; one already gone is fine."""
    try:
        client.raw.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except bx.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
            raise client.error(exc, "aborting the upload to") from exc
    except bx.BotoCoreError as exc:
        raise client.error(exc, "aborting the upload to") from exc


def _mention(error: BaseException, note: str) -> None:
    """Add `note` to the message of one of our errors, or as a note to any other."""
    if isinstance(error, RunError) and len(error.args) == 1:
        error.args = (f"{error.args[0]}; {note}",)
    else:
        error.add_note(note)


def _stem_prefix(key: str) -> str:
    """What every key written for `key` starts with: its folder and the name to its first dot."""
    folder, slash, name = key.rpartition("/")
    return folder + slash + name.split(".")[0]


def _split(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b.csv` → (`bucket`, `a/b.csv`)."""
    bucket, _, key = uri.split("://", 1)[1].partition("/")
    if "@" in bucket:
        raise RunError(
            f"{scrub(uri)}: credentials do not belong in the URI; "
            "exportctl takes them from the AWS environment or a profile"
        )
    if not bucket or not key:
        raise RunError(f"{scrub(uri)} names no object: write it as s3://bucket/path/file.csv")
    return bucket, key
