"""Real servers for tests: moto's S3 in a subprocess, a TCP relay to cut it off, an HTTP receiver.

Register the fixtures with `pytest_plugins = ["tests.support.servers"]`. Nothing here
mocks a library: the code under test talks over loopback sockets, so
connection refused, reset and timeouts are the real ones.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import boto3
import pytest

LOOPBACK = "127.0.0.1"

#: Dummy credentials: boto3 signs with them, moto accepts anything.
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


# --- moto ------------------------------------------------------------------------------


class MotoServer:
    """moto's standalone S3 server as a real process on a free loopback port."""

    def __init__(self) -> None:
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        # The server's output, for the error should it not start; open as long as we are.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 30.0) -> Self:
        """Start it and wait until it answers; a port taken meanwhile gets another try."""
        for _ in range(3):
            self.port = free_port()
            command = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self.port)]
            self.process = subprocess.Popen(
                command, stdout=self._log, stderr=self._log, preexec_fn=_die_with_parent
            )
            if self._wait_answering(timeout):
                return self
        self._log.seek(0)
        output = self._log.read()[-2000:].decode(errors="replace")
        raise RuntimeError(f"moto server did not start:\n{output}")

    def _wait_answering(self, timeout: float) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                    return True
            except urllib.error.HTTPError:
                return True  # any HTTP answer means it is serving
            except OSError:
                time.sleep(0.05)
        self.stop()
        return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def reset(self) -> None:
        """Forget every bucket and upload."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


#: prctl, looked up before any fork: the child should run as little Python as possible.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """In the child: SIGKILL when the test process dies, however it dies (Linux only).

    A crashed or killed test run would otherwise leave moto running for good. Strictly,
    it is the starting thread's death that counts: start servers from the main thread.
    """
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


# --- relay -----------------------------------------------------------------------------


class Relay:
    """A TCP relay on its own loopback port in front of `target`, to take a server away.

    `down()` stops listening and cuts every open connection (clients see connection
    refused or reset) while the server behind keeps its state; `up()` listens on the
    same port again. `stall()` keeps accepting but forwards nothing until `unstall()`.
    `cut_next(n)` resets the next n connections as they arrive: an outage counted in
    connections rather than seconds, for tests that must not race a clock.
    """

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._flowing = threading.Event()
        self._flowing.set()
        #: Bumped by down(): pumps of an older generation stop.
        self._generation = 0
        self._to_cut = 0
        #: Connections reset by cut_next() so far.
        self.cut = 0

    @classmethod
    def to(cls, endpoint: str) -> Relay:
        """A relay in front of an `http://host:port` endpoint, not started."""
        parts = urlsplit(endpoint)
        assert parts.hostname and parts.port
        return cls((parts.hostname, parts.port))

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def is_up(self) -> bool:
        return self._listener is not None

    def start(self) -> Self:
        self.up()
        return self

    def up(self) -> None:
        """Listen (again, on the same port)."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((LOOPBACK, self.port))
            listener.listen(64)
            listener.settimeout(0.05)  # so the accept loop notices down() promptly
            self.port = listener.getsockname()[1]
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Stop listening and cut every connection, with a reset where possible."""
        with self._lock:
            listener, self._listener = self._listener, None
            self._generation += 1
            connections, self._open = self._open, set()
        if listener is not None:
            listener.close()
        for sock in connections:
            _cut(sock)

    def cut_next(self, n: int = 1) -> None:
        """Accept the next `n` connections and reset them at once."""
        with self._lock:
            self._to_cut += n

    def stall(self) -> None:
        """Accept and read, but forward nothing: a server that hangs."""
        self._flowing.clear()

    def unstall(self) -> None:
        self._flowing.set()

    def stop(self) -> None:
        self.unstall()
        self.down()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                if self._listener is not listener:
                    return
                continue
            except OSError:
                return  # closed by down()
            client.settimeout(None)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with self._lock:
            cutting = self._to_cut > 0
            if cutting:
                self._to_cut -= 1
                self.cut += 1
        if cutting:
            _cut(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
        except OSError:
            _cut(client)
            return
        with self._lock:
            generation = self._generation
            if self._listener is None:  # went down while we connected
                _cut(client)
                _cut(upstream)
                return
            self._open.update((client, upstream))
        directions = [2]  # pumps still running for this connection
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(
                target=self._pump, args=(source, sink, generation, directions), daemon=True
            ).start()

    def _pump(
        self, source: socket.socket, sink: socket.socket, generation: int, directions: list[int]
    ) -> None:
        """Forward `source` to `sink`. Its end is passed on as an end (FIN), as a real
        network would: a reset here would make the peer drop what it has not read yet
        (a response the server sent whole, then closed). Only an outage resets."""
        ended = False
        try:
            while data := source.recv(1 << 16):
                while not self._flowing.wait(0.05):  # stalled: hold the bytes
                    if self._generation != generation:
                        return
                sink.sendall(data)
            ended = True
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            with self._lock:
                directions[0] -= 1
                done = directions[0] == 0
                if done or not ended:
                    self._open.discard(source)
                    self._open.discard(sink)
            if not ended:  # cut: the other direction ends too
                _cut(source)
                _cut(sink)
            elif done:
                source.close()
                sink.close()


def _cut(sock: socket.socket) -> None:
    """Close with a reset (SO_LINGER 0), waking any thread blocked on the socket."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


# --- HTTP receiver ---------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One request as the receiver got it."""

    method: str
    #: Path with its query string.
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """A header's value, whatever the case of its name."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@dataclass(frozen=True)
class _Fault:
    status: int | None  # None: hang
    body: bytes = b""
    location: str | None = None


class HttpReceiver:
    """A threaded HTTP server on a free loopback port that records and stores uploads.

    PUT and POST store the body under the path (query ignored); GET returns it;
    DELETE removes it (404 when missing). Faults can be programmed; every request is
    recorded in `requests`, including failed and hung ones.
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.stored: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._faults: deque[_Fault] = deque()
        self._rejecting: _Fault | None = None
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> Self:
        server = ThreadingHTTPServer((LOOPBACK, 0), _Handler)
        server.daemon_threads = True
        server.receiver = self  # type: ignore[attr-defined]
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving; hung requests get their connection closed."""
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def fail_next(self, n: int = 1, status: int = 503, body: bytes = b"") -> None:
        """Answer the next `n` requests with `status` (and `body`)."""
        with self._lock:
            self._faults.extend(_Fault(status, body) for _ in range(n))

    def hang_next(self, n: int = 1) -> None:
        """Read the next `n` requests, then never answer (until the receiver stops)."""
        with self._lock:
            self._faults.extend(_Fault(None) for _ in range(n))

    def reject(self, status: int = 403, body: bytes = b"") -> None:
        """Answer every request with `status` from now on (after queued faults)."""
        with self._lock:
            self._rejecting = _Fault(status, body)

    def redirect(self, location: str, status: int = 307) -> None:
        """Answer every request with a redirect to `location` from now on."""
        with self._lock:
            self._rejecting = _Fault(status, b"", location)

    def accept(self) -> None:
        """Forget queued faults and rejection: serve normally again."""
        with self._lock:
            self._faults.clear()
            self._rejecting = None

    def received(self, method: str | None = None) -> list[Request]:
        """The requests so far, optionally only those with `method`."""
        with self._lock:
            return [r for r in self.requests if method is None or r.method == method]

    def _record(self, request: Request) -> _Fault | None:
        with self._lock:
            self.requests.append(request)
            if self._faults:
                return self._faults.popleft()
            return self._rejecting

    def _serve(self, request: Request) -> tuple[int, bytes]:
        """Status and body of a normal answer."""
        key = urlsplit(request.path).path
        with self._lock:
            if request.method in ("PUT", "POST"):
                self.stored[key] = request.body
                return 200, b""
            if request.method == "DELETE":
                return (204, b"") if self.stored.pop(key, None) is not None else (404, b"")
            if key in self.stored:
                return 200, self.stored[key]
            return 404, b""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # keep test output clean

    def _handle(self) -> None:
        receiver: HttpReceiver = self.server.receiver
        request = Request(self.command, self.path, dict(self.headers.items()), self._body())
        fault = receiver._record(request)
        if fault is not None and fault.status is None:
            receiver._closing.wait()
            self.close_connection = True
            return
        status, body = (fault.status, fault.body) if fault else receiver._serve(request)
        assert status is not None
        self.send_response(status)
        if fault is not None and fault.location:
            self.send_header("Location", fault.location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


# --- fixtures --------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Bucket:
    """A fresh bucket on the test's moto server, with a client to check it independently."""

    name: str
    endpoint: str
    client: Any

    def uri(self, key: str) -> str:
        return f"s3://{self.name}/{key}"

    def keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.name)
        return [o["Key"] for o in listing.get("Contents", [])]

    def read(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())

    def uploads(self) -> list[str]:
        """Keys of the incomplete multipart uploads."""
        listing = self.client.list_multipart_uploads(Bucket=self.name)
        return [u["Key"] for u in listing.get("Uploads", [])]


def s3_client(endpoint: str) -> Any:
    """A plain boto3 client for checks, independent of the code under test."""
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return session.client("s3", endpoint_url=endpoint)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto S3 server process for the session (per xdist worker)."""
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> dict[str, str]:
    """Dummy AWS credentials and region; the user's own profiles and config are out of reach."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    env = {
        **AWS_TEST_ENV,
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config-none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials-none"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def s3_bucket(
    moto_server: MotoServer, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> S3Bucket:
    """A fresh bucket; AWS_ENDPOINT_URL points at moto, so no test can reach real AWS."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    client = s3_client(moto_server.endpoint)
    name = f"test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return S3Bucket(name, moto_server.endpoint, client)


@pytest.fixture
def s3_relay(moto_server: MotoServer) -> Iterator[Relay]:
    """A relay in front of the moto server; use its endpoint to take S3 down and up."""
    relay = Relay.to(moto_server.endpoint).start()
    yield relay
    relay.stop()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver
