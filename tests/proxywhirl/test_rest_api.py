"""proxywhirl's real REST API (uvicorn from its venv, on loopback, with an API key) as a
source: the pool exported page by page through GET /api/v1/proxies with the shipped
`examples/proxywhirl-api.yaml` equals the pool exported from its database; its live
`/metrics` (`examples/proxywhirl-metrics.yaml`) equals an independent scrape read by its own
prometheus_client; and its retry time series, after proxywhirl recorded real retries through
a refusing proxy on loopback, exports as GET /api/v1/metrics/retries/timeseries answers it.

proxywhirl 0.3.3's API cannot serve a pool from its own storage (its start-up hands
SQLiteStorage.load()'s dicts to the rotator, and every GET /api/v1/proxies then fails with
a 500), and it takes only 10 POST /api/v1/proxies a minute: serve_api.py starts the app
with a start-up hook that loads the stored pool as Proxy objects (see there).
"""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.fernet import Fernet

from exportctl.plan.compiler import compile_plan
from exportctl.run import runner
from exportctl.spec.load import load_spec
from tests.proxywhirl.api_server import Api, FlakyProxy, flaky_proxy, running_api
from tests.proxywhirl.conftest import Installation
from tests.support.jsonlines import json_lines

REPO = Path(__file__).parents[2]
NOW = datetime.now(UTC)


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


#: Requests whose retries proxywhirl records at start-up, each refused this often first.
RETRIED, FAILURES = 4, 2


@pytest.fixture(scope="module")
def proxy() -> Iterator[FlakyProxy]:
    with flaky_proxy(FAILURES) as found:
        yield found


@pytest.fixture(scope="module")
def api(
    proxywhirl_python: Path,
    proxywhirl_installation: Installation,
    proxy: FlakyProxy,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Api]:
    env = {
        "PROXYWHIRL_CACHE_ENCRYPTION_KEY": proxywhirl_installation.key,
        "PROXYWHIRL_STORAGE_PATH": str(proxywhirl_installation.demo / "system.db"),
        "SERVE_API_RETRIES": f"{proxy.url} {RETRIED}",
    }
    log = tmp_path_factory.mktemp("api") / "uvicorn.log"
    with running_api(proxywhirl_python, log, env) as found:
        yield found


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
    rows = json_lines(Path(result.uri).read_text())
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


def test_the_retry_time_series_exports_as_the_api_answers_it(
    api: Api, proxy: FlakyProxy, tmp_path: Path
) -> None:
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
    answer = requests.get(endpoint, headers=api.headers, timeout=10).json()
    points = answer["data"]["data_points"]
    rows = json_lines(Path(result.uri).read_text())
    assert len(rows) == len(points) == result.rows >= 1
    for row, point in zip(rows, points, strict=True):
        assert datetime.fromisoformat(row.pop("timestamp")) == datetime.fromisoformat(
            point.pop("timestamp")
        )
        assert row == point  # counts and floats, value for value
    # What proxywhirl recorded is what the proxy saw: every request tried until it passed.
    tries = RETRIED * (FAILURES + 1)
    assert proxy.answered == ([503] * FAILURES + [200]) * RETRIED
    # proxywhirl counts a request in each hour one of its tries fell in: at an hour's turn,
    # one request may be counted in both.
    assert RETRIED <= sum(p["total_requests"] for p in points) <= RETRIED + len(points) - 1
    assert sum(p["total_retries"] for p in points) == tries
    assert sum(p["success_rate"] * p["total_retries"] for p in points) == pytest.approx(RETRIED)


#: Run in proxywhirl's venv: one scrape of /metrics, parsed by its own prometheus_client.
SCRAPE = """
import json, sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
text = urllib.request.urlopen(sys.argv[1] + "/metrics", timeout=10).read().decode()
print(json.dumps([
    [s.name, s.labels, repr(float(s.value)), f.type]
    for f in text_string_to_metric_families(text) for s in f.samples
]))
"""


def test_the_live_metrics_export_as_proxywhirl_serves_them(
    api: Api, proxywhirl_python: Path, proxywhirl_installation: Installation, tmp_path: Path
) -> None:
    (tmp_path / "examples").mkdir()
    shutil.copy(REPO / "examples" / "proxywhirl-metrics.yaml", tmp_path / "examples")
    env = {"PROXYWHIRL_API_URL": api.url, "PROXYWHIRL_API_KEY": api.key}
    requests.get(f"{api.url}/api/v1/config", headers=api.headers, timeout=10)  # a counted one
    spec = load_spec(tmp_path / "examples" / "proxywhirl-metrics.yaml", env=env)

    result = runner.run(compile_plan(spec, now=NOW, run_id="metrics-1"))

    assert result.status == "succeeded", result.error
    done = subprocess.run(
        [str(proxywhirl_python), "-c", SCRAPE, api.url], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    scraped = [s for s in json.loads(done.stdout) if not s[0].endswith("_created")]
    rows = json_lines(Path(result.uri).read_text())
    assert len(rows) == result.rows == len(scraped) > 0
    exported = [[r["name"], r["labels"], repr(float(r["value"])), r["type"]] for r in rows]
    # The same series in the same order; proxywhirl's own, value for value (the process's
    # CPU, memory and garbage collector move between two scrapes).
    assert [e[:2] + e[3:] for e in exported] == [s[:2] + s[3:] for s in scraped]
    own = [e for e in exported if e[0].startswith("proxywhirl_")]
    assert own == [s for s in scraped if s[0].startswith("proxywhirl_")]
    pool = len(stored_proxies(proxywhirl_installation))
    assert ["proxywhirl_proxies_total", {}, repr(float(pool)), "gauge"] in own
    counted = {"endpoint": "/api/v1/config", "method": "GET", "status": "200"}
    assert ["proxywhirl_requests_total", counted, "1.0", "counter"] in own
    assert api.key not in Path(result.uri).read_text()
