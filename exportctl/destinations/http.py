"""HTTP(S) upload: the finished file in one PUT or POST.

The bytes are spooled to an unnamed local temporary file in TMPDIR (freed by
the kernel even on SIGKILL) and sent only once complete, with a Content-Length,
as presigned S3 URLs require. The server thus gets the whole file or no request.

Messages name the URL without its query string or credentials: a presigned
URL's signature is a secret, and so are header values. For the same reason the
library's exception, whose text holds the full URL, is not chained.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, BinaryIO, ClassVar, cast
from urllib.parse import urlsplit

import requests
import urllib3

from exportctl.destinations.base import CountingWriter, Sink, WrittenFile
from exportctl.destinations.http_options import HttpOptions
from exportctl.net.http import network_error, status_error

#: Content-Type by the file name's last extension, when the spec names none.
CONTENT_TYPES = {
    ".csv": "text/csv",
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".txt": "text/plain",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".gz": "application/gzip",
    ".zst": "application/zstd",
    ".zip": "application/zip",
    ".parquet": "application/vnd.apache.parquet",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class HttpDestination:
    """Uploads to `http://` and `https://` URLs."""

    schemes: ClassVar[tuple[str, ...]] = ("http", "https")
    options_key: ClassVar[str | None] = "http"
    Options: ClassVar[type[HttpOptions]] = HttpOptions

    def __init__(self, options: HttpOptions | None = None):
        self.options = options or HttpOptions()

    @contextmanager
    def open(self, uri: str) -> Iterator[Sink]:
        """A sink whose file is uploaded when the block exits cleanly, and never otherwise."""
        with tempfile.TemporaryFile(prefix="exportctl-") as spool:
            sink = _Spool(spool)
            yield sink
            spool.flush()
            spool.seek(0)
            self._upload(uri, spool, sink.counter.bytes)
            digest = sink.counter.digest.hexdigest()
            sink.written = WrittenFile(uri, sink.counter.bytes, digest)

    @contextmanager
    def read(self, uri: str) -> Iterator[BinaryIO]:
        """The body of a GET, streamed, as the server stores it (no content decoding)."""
        response = self._send("GET", uri, "reading", stream=True)
        try:
            yield cast(BinaryIO, response.raw)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise network_error(exc, "reading", uri, self.options.timeout) from None
        finally:
            response.close()

    def delete(self, uri: str) -> None:
        self._send("DELETE", uri, "deleting", missing_ok=True).close()

    def remove_leftovers(self, uri: str) -> None:
        """Nothing: the spool has no name, and the server got no request unless complete."""

    def stored_parts(self, uri: str) -> list[str]:
        """None known: an HTTP endpoint has no listing (the ledger's record is all there is)."""
        return []

    def _upload(self, uri: str, spool: IO[bytes], size: int) -> None:
        headers = {
            **self._headers(),
            "Content-Type": self._content_type(uri),
            "Content-Length": str(size),
        }
        # An empty file object would make requests send a chunked body; b"" keeps a length.
        body = spool if size else b""
        self._send(self.options.method, uri, "uploading to", headers, data=body).close()

    def _send(
        self,
        method: str,
        uri: str,
        doing: str,
        headers: dict[str, str] | None = None,
        *,
        missing_ok: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        """One request; a non-2xx answer is raised as our error."""
        timeout = self.options.timeout
        try:
            response = requests.request(
                method,
                uri,
                headers=self._headers() if headers is None else headers,
                timeout=(timeout, timeout),
                # A redirect would carry the body and the spec's token headers to another host.
                allow_redirects=False,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise network_error(exc, doing, uri, timeout) from None
        status = response.status_code
        if 200 <= status < 300 or (missing_ok and status in (404, 410)):
            return response
        with response:
            raise status_error(response, doing, uri)

    def _headers(self) -> dict[str, str]:
        """The spec's headers, but those the upload itself decides."""
        own = ("content-type", "content-length", "transfer-encoding")
        return {k: v for k, v in self.options.headers if k.lower() not in own}

    def _content_type(self, uri: str) -> str:
        """The spec's, a Content-Type header's, else one for the file name."""
        if self.options.content_type:
            return self.options.content_type
        for name, value in self.options.headers:
            if name.lower() == "content-type":
                return value
        name = urlsplit(uri).path.rpartition("/")[2].lower()
        extension = name[name.rfind(".") :] if "." in name else ""
        return CONTENT_TYPES.get(extension, DEFAULT_CONTENT_TYPE)


class _Spool:
    """The open sink: bytes go through the counter to the local spool file."""

    def __init__(self, spool: IO[bytes]):
        self.counter = CountingWriter(cast(BinaryIO, spool))
        self.stream = cast(BinaryIO, self.counter)
        self.written: WrittenFile | None = None
