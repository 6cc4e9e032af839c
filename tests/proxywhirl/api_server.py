"""proxywhirl's REST API in a process of its own (uvicorn from proxywhirl's venv, on
loopback, with an API key), and a proxy on loopback that refuses some requests."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

SERVER = Path(__file__).with_name("serve_api.py")


@dataclass(frozen=True)
class Api:
    url: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(240):
        if process.poll() is not None:
            pytest.fail(f"proxywhirl's API exited: {log.read_text()[-3000:]}")
        try:
            requests.get(f"{url}/api/v1/health", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.25)
    pytest.fail(f"proxywhirl's API did not start: {log.read_text()[-3000:]}")


@contextmanager
def running_api(python: Path, log: Path, env: dict[str, str]) -> Iterator[Api]:
    """proxywhirl's API with authentication on, `env` added to its environment."""
    port, key = free_port(), secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "PROXYWHIRL_REQUIRE_AUTH": "true",
        "PROXYWHIRL_API_KEY": key,
        "PROXYWHIRL_RATE_LIMIT": "100000/minute",
        **env,
    }
    command = [str(python), str(SERVER), "127.0.0.1", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process, log)
        yield Api(url, key)
    finally:
        process.terminate()
        process.wait(timeout=20)


class FlakyProxy(ThreadingHTTPServer):
    """An HTTP proxy that answers every request itself: 503 to the first `failures` tries
    of each request, then 200. It counts what it answered."""

    def __init__(self, failures: int):
        super().__init__(("127.0.0.1", 0), _Answer)
        self.failures = failures
        self.answered: list[int] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Answer(BaseHTTPRequestHandler):
    server: FlakyProxy

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        with self.server.lock:
            failed = len(self.server.answered) % (self.server.failures + 1) < self.server.failures
            status = 503 if failed else 200
            self.server.answered.append(status)
        body = b"ok" if status == 200 else b"try again"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@contextmanager
def flaky_proxy(failures: int) -> Iterator[FlakyProxy]:
    proxy = FlakyProxy(failures)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
