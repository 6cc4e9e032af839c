"""proxywhirl's real REST API (uvicorn from its venv, on loopback, with an API key) as a
source: the pool exported page by page through GET /api/v1/proxies with the shipped
`examples/proxywhirl-api.yaml` equals the pool exported from its database.

proxywhirl 0.3.3's API cannot serve a pool from its own storage (its start-up hands
SQLiteStorage.load()'s dicts to the rotator, and every GET /api/v1/proxies then fails with
a 500), and it takes only 10 POST /api/v1/proxies a minute: serve_api.py starts the app
with a start-up hook that loads the stored pool as Proxy objects (see there).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.fernet import Fernet

from exportctl import runner
from exportctl.plan import compile_plan
from exportctl.spec.load import load_spec
from tests.proxywhirl.conftest import Installation

REPO = Path(__file__).parents[2]
SERVER = Path(__file__).with_name("serve_api.py")
NOW = datetime.now(UTC)


@dataclass(frozen=True)
class Api:
    url: str
    key: str


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


def stored_proxies(inst: Installation) -> list[tuple[str, str | None, str | None]]:
    fernet = Fernet(inst.key.encode())

    def reveal(value: str | None) -> str | None:
        if value is None:
            return None
        return fernet.decrypt(base64.b64decode(value.removeprefix("encrypted:"))).decode()

    with sqlite3.connect(inst.demo / "system.db") as db:
        rows = db.execute("SELECT url, username, password FROM proxy_identities ORDER BY url")
        found = [(url, reveal(user), reveal(password)) for url, user, password in rows]
    db.close()
    return found


@pytest.fixture(scope="module")
def api(
    proxywhirl_python: Path, proxywhirl_installation: Installation, tmp_path_factory
) -> Iterator[Api]:
    port, key = free_port(), secrets.token_urlsafe(24)
    log = tmp_path_factory.mktemp("api") / "uvicorn.log"
    env = {
        **os.environ,
        "PROXYWHIRL_REQUIRE_AUTH": "true",
        "PROXYWHIRL_API_KEY": key,
        "PROXYWHIRL_RATE_LIMIT": "100000/minute",
        "PROXYWHIRL_CACHE_ENCRYPTION_KEY": proxywhirl_installation.key,
    }
    env["PROXYWHIRL_STORAGE_PATH"] = str(proxywhirl_installation.demo / "system.db")
    command = [str(proxywhirl_python), str(SERVER), "127.0.0.1", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process, log)
        yield Api(url, key)
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_the_api_wants_its_key(api: Api) -> None:
    assert requests.get(f"{api.url}/api/v1/proxies", timeout=10).status_code == 401


def test_the_pool_through_the_api_equals_the_pool_in_the_database(
    api: Api, proxywhirl_installation: Installation, tmp_path: Path
) -> None:
    (tmp_path / "examples").mkdir()
    shutil.copy(REPO / "examples" / "proxywhirl-api.yaml", tmp_path / "examples")
    env = {"PROXYWHIRL_API_URL": api.url, "PROXYWHIRL_API_KEY": api.key}
    spec = load_spec(tmp_path / "examples" / "proxywhirl-api.yaml", env=env)

    result = runner.run(compile_plan(spec, now=NOW, run_id="api-1"))

    assert result.status == "succeeded", result.error
    rows = [json.loads(line) for line in Path(result.uri).read_text().splitlines()]
    stored = stored_proxies(proxywhirl_installation)
    assert len(rows) == result.rows == len(stored) > 20  # more than one page of 20
    assert api.key not in Path(result.uri).read_text()

    def endpoint(url: str) -> tuple[str, str | None, int | None]:
        parts = urlsplit(url)
        return parts.scheme, parts.hostname, parts.port

    from_api = sorted((endpoint(r["url"]), r["protocol"]) for r in rows)
    from_db = sorted((endpoint(url), urlsplit(url).scheme) for url, _, _ in stored)
    assert from_api == from_db
    assert all("@" not in r["url"] for r in rows)  # credentials stripped by the spec
    assert all(isinstance(json.loads(r["stats"]), dict) for r in rows)


def test_the_retry_time_series_exports_as_the_api_answers_it(api: Api, tmp_path: Path) -> None:
    endpoint = f"{api.url}/api/v1/metrics/retries/timeseries"
    spec = tmp_path / "retries.yaml"
    spec.write_text(
        "version: 1\nname: retries\nsource:\n  type: http_json\n"
        f"  url: {endpoint}\n  records: data.data_points\n"
        "  headers: {X-API-Key: '${PROXYWHIRL_API_KEY}'}\n"
        "  columns: [timestamp, total_requests, total_retries, success_rate, avg_latency]\n"
        "  timestamps: [timestamp]\n"
        f"format: jsonl\ndestination: {tmp_path}/retries.jsonl\n"
    )

    result = runner.run(
        compile_plan(load_spec(spec, env={"PROXYWHIRL_API_KEY": api.key}), now=NOW, run_id="r")
    )

    assert result.status == "succeeded", result.error
    answer = requests.get(endpoint, headers={"X-API-Key": api.key}, timeout=10).json()
    points = answer["data"]["data_points"]  # none until requests go through the rotator
    lines = Path(result.uri).read_text().splitlines()
    assert len(lines) == len(points) == result.rows
