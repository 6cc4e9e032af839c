"""Every shipped spec (specs/ and examples/, unchanged) on an installation made by proxywhirl.

The installation is written by proxywhirl 0.3.3's own code (see build_installation.py).
Each spec must succeed; what it wrote is read back by an independent reader and, for the
specs that export the pool, compared row by row with what sqlite3 reads from the source.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from cryptography.fernet import Fernet

from exportctl.plan.compiler import compile_plan
from exportctl.run import runner
from exportctl.spec.load import load_spec
from tests.proxywhirl.conftest import Installation
from tests.proxywhirl.readers import exported

REPO = Path(__file__).parents[2]
DEMO_SPECS = REPO / "exportctl" / "demo" / "specs"
SHIPPED = [
    *sorted((REPO / "specs").glob("*.yaml")),
    *sorted((REPO / "examples").glob("*.yaml")),
    *sorted(DEMO_SPECS.glob("*.yaml")),  # what `demo init` writes into demo/specs/
]
#: Read a service, not the installation's files: each runs in its source's own tests
#: (a real PostgreSQL, a real Prometheus server).
ELSEWHERE = {
    "examples/postgres-env": "reads PostgreSQL",
    "examples/prometheus-metrics": "reads a Prometheus server",
    "examples/prometheus-incremental": "reads a Prometheus server",
    "examples/http-proxies": "reads a generic pool API: tests/sources/test_http_json.py",
    "examples/proxywhirl-api": "reads proxywhirl's REST API: tests/proxywhirl/test_rest_api.py",
    "examples/proxywhirl-metrics": "scrapes proxywhirl's /metrics: test_rest_api.py",
    "examples/proxywhirl-config": "reads proxywhirl's REST API: test_config_restore.py",
    "examples/sftp": "writes to an SSH server: tests/destinations/test_sftp.py runs it",
}
#: Their rows are picked by fixed dates in the demo's past; proxywhirl writes today's times.
DATED = {"examples/time-range", "examples/sql-params"}
NOW = datetime.now(UTC)
RUN_ID = NOW.strftime("%Y%m%dT%H%M%SZ") + "-tier00"


def ident(path: Path) -> str:
    return f"{'demo' if path.parent == DEMO_SPECS else path.parent.name}/{path.stem}"


def copied(inst: Installation, path: Path) -> Path:
    return inst.root / ("demo/specs" if path.parent == DEMO_SPECS else path.parent.name) / path.name


@pytest.fixture(scope="module")
def checkout(proxywhirl_installation: Installation) -> Installation:
    """specs/ and examples/ beside the installation, as they sit beside demo/ in the repo."""
    copies = {"specs": REPO / "specs", "examples": REPO / "examples"}
    copies |= {"schemas": REPO / "schemas", "demo/specs": DEMO_SPECS}
    for folder, source in copies.items():
        target = proxywhirl_installation.root / folder
        if not target.exists():
            shutil.copytree(source, target)
    return proxywhirl_installation


def rows_of(database: Path, sql: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        connection.row_factory = sqlite3.Row
        found = [dict(row) for row in connection.execute(sql)]
    connection.close()
    return found


def same(actual: Any, expected: Any) -> bool:
    """A value as an export wrote it (text in CSV, typed elsewhere) against sqlite3's."""
    if actual == expected:
        return True
    if expected is None:
        return actual == ""
    if isinstance(expected, float):
        return float(actual) == expected
    if isinstance(expected, int) and not isinstance(expected, bool):
        return actual == expected or (isinstance(actual, str) and int(actual) == expected)
    if isinstance(expected, str) and len(expected) >= 19 and expected[10] == " ":
        try:  # SQLAlchemy's SQLite DATETIME text, UTC; exports write ISO-8601 UTC
            moment = datetime.fromisoformat(expected).replace(tzinfo=UTC)
        except ValueError:
            return actual == expected
        return datetime.fromisoformat(str(actual).replace(" ", "T")) == moment
    return actual == expected


def assert_rows_equal(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(actual) == len(expected) > 0
    for got, want in zip(actual, expected, strict=True):
        assert list(got) == list(want)
        bad = {k: (got[k], want[k]) for k in want if not same(got[k], want[k])}
        assert not bad, f"{want.get('url') or want}: {bad}"


def decrypt(value: str | None, key: str) -> str | None:
    if value is None or not value.startswith("encrypted:"):
        return value
    import base64

    return Fernet(key.encode()).decrypt(base64.b64decode(value[len("encrypted:") :])).decode()


# --- what each pool spec must hold, read by sqlite3 ------------------------------------


def check_healthy_proxies(out: Any, inst: Installation) -> None:
    expected = rows_of(
        inst.demo / "system.db",
        "SELECT i.url, i.protocol, s.health_status, s.avg_response_time_ms AS latency_ms,"
        " i.country_code FROM proxy_identities i JOIN proxy_statuses s ON s.proxy_url = i.url"
        " WHERE s.health_status IN ('healthy', 'degraded') AND s.avg_response_time_ms < 800"
        " ORDER BY s.avg_response_time_ms",
    )
    assert any("@" in row["url"] for row in expected)  # proxywhirl kept credentials there
    for row in expected:
        row["url"] = without_credentials(row["url"])
    assert_rows_equal(out, expected)


def check_proxy_backup(out: Any, inst: Installation) -> None:
    expected = rows_of(
        inst.demo / "system.db",
        "SELECT i.*, s.health_status, s.last_check_at, s.consecutive_failures,"
        " s.avg_response_time_ms, s.success_rate_7d, s.updated_at FROM proxy_identities i"
        " LEFT JOIN proxy_statuses s ON s.proxy_url = i.url ORDER BY i.url",
    )
    for row in out:  # booleans: JSON true/false against SQLite's 1/0
        for name in ("is_residential", "is_datacenter"):
            row[name] = int(row[name])
    assert_rows_equal(out, expected)
    assert any(str(r["password"]).startswith("encrypted:") for r in out)  # `keep`: as stored


def check_proxy_list(out: Any, inst: Installation) -> None:
    expected = rows_of(
        inst.demo / "system.db",
        "SELECT i.protocol, i.host, i.port, i.username, i.password FROM proxy_identities i"
        " JOIN proxy_statuses s ON s.proxy_url = i.url WHERE s.health_status = 'healthy'"
        " ORDER BY i.host",
    )
    assert len(out) == len(expected) > 0
    for line, want in zip(out, expected, strict=True):
        url = urlsplit(line)
        got = (url.scheme, url.hostname, url.port, url.username, url.password)
        revealed = [decrypt(want[k], inst.key) for k in ("username", "password")]
        assert got[:3] == (want["protocol"], want["host"], want["port"]), line
        assert [None if v is None else unquote(v) for v in got[3:]] == revealed


def check_socks5_endpoints(out: Any, inst: Installation) -> None:
    expected = rows_of(
        inst.demo / "system.db",
        "SELECT host, port FROM proxy_identities WHERE protocol = 'socks5' AND username IS NULL",
    )
    endpoints = [line.rsplit(":", 1) for line in out]
    got = sorted((host.strip("[]"), int(port)) for host, port in endpoints)
    assert got == sorted((r["host"], r["port"]) for r in expected) != []


def check_config_backup(out: Any, inst: Installation) -> None:
    text = str(out)
    assert "config.toml" in text and "rotation_strategy" in text
    assert inst.key not in text  # the Fernet key in .env is masked


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def check_request_errors(out: Any, inst: Installation) -> None:
    since = (NOW - timedelta(days=7)).strftime("%Y-%m-%d %H:%M:%S.%f")
    expected = rows_of(
        inst.demo / "system.db",
        "SELECT validated_at, proxy_url, error_type, error_message, response_time_ms"
        f" FROM validation_results WHERE is_valid = 0 AND validated_at >= '{since}'"
        " ORDER BY validated_at, id",
    )
    assert any("@" in row["proxy_url"] for row in expected)  # proxywhirl kept credentials
    for row in expected:
        row["proxy_url"] = without_credentials(row["proxy_url"])
    assert_rows_equal(out, expected)


def check_health_history(out: Any, inst: Installation) -> None:
    expected = rows_of(
        inst.demo / "cache" / "db" / "proxywhirl.db",
        "SELECT * FROM health_history ORDER BY check_time, id",
    )
    assert_rows_equal(out, expected)


def check_l2_shards(out: Any, inst: Installation) -> None:
    """proxywhirl's JsonlCacheTier shards, read with json, in name order."""
    shards = sorted((inst.demo / "cache" / "proxies").glob("shard_*.jsonl"))
    records = [json.loads(line) for shard in shards for line in shard.read_text().splitlines()]
    kept = [r for r in records if r["health_status"] != "dead"]
    assert len(out) == len(kept) > 0
    for row, record in zip(out, kept, strict=True):
        assert row["proxy_url"] == record["proxy_url"] and row["key"] == record["key"]
        assert row["fetch_time"] == datetime.fromisoformat(record["fetch_time"])


def table_check(database: str, sql: str) -> Callable[[Any, Installation], None]:
    """The export holds exactly what sqlite3 reads with `sql` from `database`."""

    def check(out: Any, inst: Installation) -> None:
        assert_rows_equal(out, rows_of(inst.demo / database, sql))

    return check


CHECKS: dict[str, Callable[[Any, Installation], None]] = {
    "specs/healthy-proxies": check_healthy_proxies,
    "specs/proxy-backup": check_proxy_backup,
    "specs/proxy-list": check_proxy_list,
    "specs/socks5-endpoints": check_socks5_endpoints,
    "specs/config-backup": check_config_backup,
    "specs/request-errors": check_request_errors,
    "demo/daily-metrics": check_health_history,
    "examples/files": check_l2_shards,
    "examples/parquet": table_check("cache/db/proxywhirl.db", "SELECT * FROM health_history"),
    "examples/zstd": table_check(
        "system.db", "SELECT * FROM validation_results ORDER BY validated_at, id"
    ),
    "examples/jsonl": table_check(
        "system.db",
        "SELECT * FROM validation_results WHERE is_valid = 0 ORDER BY validated_at DESC, id DESC",
    ),
}


def test_every_spec_left_out_here_is_run_elsewhere() -> None:
    assert set(ELSEWHERE) <= {ident(p) for p in SHIPPED}  # no stale name hides a new spec


# Not skipped here but left out: under CI a skip counts as a failure.
@pytest.mark.parametrize("path", [p for p in SHIPPED if ident(p) not in ELSEWHERE], ids=ident)
def test_shipped_spec_runs_on_real_proxywhirl(
    checkout: Installation, path: Path, request: pytest.FixtureRequest
) -> None:
    name = ident(path)
    env = dict(checkout.env)
    if name == "examples/s3":
        bucket = request.getfixturevalue("s3_bucket")
        env |= {"EXPORT_BUCKET": bucket.name, "S3_ENDPOINT_URL": bucket.endpoint}
    elif name == "examples/http-upload":
        receiver = request.getfixturevalue("http_receiver")
        env |= {"UPLOAD_URL": f"{receiver.url}/proxies/http.txt", "UPLOAD_TOKEN": "t0ken"}
    spec = load_spec(copied(checkout, path), env=env)

    result = runner.run(compile_plan(spec, now=NOW, run_id=RUN_ID))

    assert result.status == "succeeded", result.error
    if name in ("examples/s3", "examples/http-upload"):
        assert result.rows > 0
        return
    out = exported(result.uri)
    if isinstance(out, list):
        assert len(out) == result.rows
    assert result.rows > 0 or name in DATED
    if name in CHECKS:
        CHECKS[name](out, checkout)
