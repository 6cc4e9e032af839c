"""The demo's proxy cache and /metrics scrapes, in proxywhirl 0.3.3's own layouts.

- L3 (`cache/db/proxywhirl.db`, SQLiteCacheTier): `cache_entries`, credentials as the raw
  Fernet token in a BLOB, times as epoch seconds; `health_history`, one row per health
  check with an epoch `check_time`. The DDL is proxywhirl's, verbatim.
- L2 (`cache/proxies/shard_NN.jsonl`, JsonlCacheTier): one JSON object per entry, in
  shard md5(key) % 16, credentials as the hex of the Fernet token, times ISO-8601.
- `metrics/scrape-*.prom`: successive scrapes of the API's `/metrics` (prometheus_client's
  text format), and `metrics.prom`, the newest.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import random
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from exportctl.crypto import PREFIX

CACHE_ENTRIES = """CREATE TABLE IF NOT EXISTS cache_entries (
    key TEXT PRIMARY KEY, proxy_url TEXT NOT NULL, username_encrypted BLOB,
    password_encrypted BLOB, source TEXT NOT NULL, fetch_time REAL NOT NULL,
    last_accessed REAL NOT NULL, access_count INTEGER DEFAULT 0, ttl_seconds INTEGER NOT NULL,
    expires_at REAL NOT NULL, health_status TEXT DEFAULT 'unknown',
    failure_count INTEGER DEFAULT 0, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    last_health_check REAL, consecutive_health_failures INTEGER DEFAULT 0,
    consecutive_health_successes INTEGER DEFAULT 0, recovery_attempt INTEGER DEFAULT 0,
    next_check_time REAL, last_health_error TEXT, total_health_checks INTEGER DEFAULT 0,
    total_health_check_failures INTEGER DEFAULT 0, evicted_from_l1 INTEGER DEFAULT 0)"""
HEALTH_HISTORY = """CREATE TABLE IF NOT EXISTS health_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, proxy_key TEXT NOT NULL, check_time REAL NOT NULL,
    status TEXT NOT NULL, response_time_ms REAL, error_message TEXT, check_url TEXT NOT NULL,
    FOREIGN KEY (proxy_key) REFERENCES cache_entries(key) ON DELETE CASCADE)"""
TTL_SECONDS = 3600
SHARDS = 16
_CHECK_URLS = ("https://httpbin.org/ip", "https://www.google.com/generate_204")
_CHECK_ERRORS = ("Connection refused", "Read timed out", "407 Proxy Authentication Required")
# Response times a careless float format mangles.
_EDGE_FLOATS = (0.1 + 0.2, 1 / 3, 5e-324, 1.7976931348623157e308)


class Cached(NamedTuple):
    """A proxy as the cache holds it; credentials as system.db stores them."""

    url: str
    username: str | None
    password: str | None
    health: str
    fetched_us: int


def cache_key(url: str) -> str:
    """CacheManager.generate_cache_key: the first 16 hex digits of the URL's SHA-256."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def _token(stored: str | None) -> bytes | None:
    """The Fernet token inside a system.db credential (`encrypted:` + base64 of it)."""
    return None if stored is None else base64.b64decode(stored[len(PREFIX) :])


def write_cache(
    target: Path, seed: int, entries: Sequence[Cached], checks: int, end_us: int
) -> int:
    """L3 and L2 for `entries`, and `checks` health checks; returns how many were written."""
    (target / "db").mkdir(parents=True, exist_ok=True)
    database = target / "db" / "proxywhirl.db"
    database.unlink(missing_ok=True)
    with sqlite3.connect(database) as connection:
        connection.execute(CACHE_ENTRIES)
        connection.execute(HEALTH_HISTORY)
        connection.executemany(
            "INSERT INTO cache_entries (key, proxy_url, username_encrypted, password_encrypted,"
            " source, fetch_time, last_accessed, access_count, ttl_seconds, expires_at,"
            " health_status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [_l3_row(entry, index) for index, entry in enumerate(entries)],
        )
        history = _health_history(seed, entries, checks, end_us) if entries else []
        connection.executemany(
            "INSERT INTO health_history (proxy_key, check_time, status, response_time_ms,"
            " error_message, check_url) VALUES (?,?,?,?,?,?)",
            history,
        )
    connection.close()
    _write_shards(target / "proxies", entries)
    return len(history)


def _l3_row(entry: Cached, index: int) -> tuple[object, ...]:
    fetched = entry.fetched_us / 1e6
    return (
        cache_key(entry.url), entry.url, _token(entry.username), _token(entry.password),
        "user" if index % 5 == 0 else "fetched", fetched, fetched, index % 7, TTL_SECONDS,
        fetched + TTL_SECONDS, entry.health, fetched, fetched,
    )  # fmt: skip


def _health_history(
    seed: int, entries: Sequence[Cached], count: int, end_us: int
) -> list[tuple[object, ...]]:
    """`count` checks over the last day, oldest first, with epoch `check_time`."""
    rng = random.Random(f"{seed}:health-history")  # noqa: S311 - reproducible demo data
    edges = {count * (k + 1) // (len(_EDGE_FLOATS) + 1): v for k, v in enumerate(_EDGE_FLOATS)}
    rows: list[tuple[object, ...]] = []
    for index in range(count):
        entry = entries[int(rng.random() * len(entries))]
        at = (end_us - 86_400_000_000 + index * 86_400_000_000 // max(count, 1)) / 1e6
        ok = rng.random() < (0.9 if entry.health == "healthy" else 0.3)
        response = 350.0 * math.exp(0.5 * rng.gauss()) if ok else None
        error = None if ok else _CHECK_ERRORS[int(rng.random() * len(_CHECK_ERRORS))]
        url = _CHECK_URLS[index % 2]
        status = "healthy" if ok else "unhealthy"
        rows.append((cache_key(entry.url), at, status, edges.get(index, response), error, url))
    return rows


def _iso(us: float) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat()


def _write_shards(folder: Path, entries: Sequence[Cached]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("shard_*.jsonl"):
        old.unlink()
    shards: dict[int, list[str]] = {}
    for entry in entries:
        key = cache_key(entry.url)
        shard = int(hashlib.md5(key.encode(), usedforsecurity=False).hexdigest(), 16) % SHARDS
        record: dict[str, object] = {
            "key": key, "proxy_url": entry.url, "source": "fetched",
            "fetch_time": _iso(entry.fetched_us), "last_accessed": _iso(entry.fetched_us),
            "access_count": 0, "ttl_seconds": TTL_SECONDS,
            "expires_at": _iso(entry.fetched_us + TTL_SECONDS * 1e6),
            "health_status": entry.health, "failure_count": 0, "evicted_from_l1": True,
            "last_health_check": None, "consecutive_health_failures": 0,
            "consecutive_health_successes": 0, "recovery_attempt": 0, "next_check_time": None,
            "last_health_error": None, "total_health_checks": 0,
            "total_health_check_failures": 0,
        }  # fmt: skip
        for name in ("username", "password"):
            token = _token(getattr(entry, name))
            if token is not None:
                record[f"{name}_encrypted"] = token.hex()
        shards.setdefault(shard, []).append(json.dumps(record) + "\n")
    for shard, lines in sorted(shards.items()):
        (folder / f"shard_{shard:02d}.jsonl").write_text("".join(lines), encoding="utf-8")


# --- /metrics scrapes ------------------------------------------------------------------

SCRAPES = 4
_ENDPOINTS = ("/api/v1/proxies", "/api/v1/request", "/api/v1/health", "/metrics")
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def write_scrapes(target: Path, seed: int, pool: int, healthy: int, end_us: int) -> Path:
    """A series of /metrics scrapes a minute apart in `metrics/`, the newest as metrics.prom."""
    rng = random.Random(f"{seed}:scrapes")  # noqa: S311 - reproducible demo data
    folder = target / "metrics"
    folder.mkdir(parents=True, exist_ok=True)
    counts = {endpoint: 0 for endpoint in _ENDPOINTS}
    text = ""
    for number in range(SCRAPES):
        for endpoint in _ENDPOINTS:
            counts[endpoint] += 1 + int(rng.random() * 50)
        text = _scrape(counts, pool, healthy, rng)
        at = datetime.fromtimestamp((end_us - (SCRAPES - number) * 60_000_000) / 1e6, UTC)
        (folder / f"scrape-{at:%Y%m%dT%H%M%SZ}.prom").write_text(text, encoding="utf-8")
    latest = target / "metrics.prom"
    latest.write_text(text, encoding="utf-8")
    return latest


def _scrape(counts: dict[str, int], pool: int, healthy: int, rng: random.Random) -> str:
    lines = [
        "# HELP proxywhirl_requests_total Total number of HTTP requests",
        "# TYPE proxywhirl_requests_total counter",
    ]
    for endpoint, count in counts.items():
        labels = f'endpoint="{endpoint}",method="GET",status="200"'
        lines.append(f"proxywhirl_requests_total{{{labels}}} {float(count)!r}")
    lines += [
        "# HELP proxywhirl_request_duration_seconds HTTP request duration in seconds",
        "# TYPE proxywhirl_request_duration_seconds histogram",
    ]
    total = sum(counts.values())
    for bound in _BUCKETS:
        below = int(total * min(1.0, bound * 4))
        lines.append(f'proxywhirl_request_duration_seconds_bucket{{le="{bound}"}} {below}.0')
    lines.append(f'proxywhirl_request_duration_seconds_bucket{{le="+Inf"}} {total}.0')
    lines.append(f"proxywhirl_request_duration_seconds_count {total}.0")
    lines.append(f"proxywhirl_request_duration_seconds_sum {total * rng.random() / 3!r}")
    for name, value, help_text in (
        ("proxywhirl_proxies_total", pool, "Total number of proxies in the pool"),
        ("proxywhirl_proxies_healthy", healthy, "Number of healthy proxies in the pool"),
    ):
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value}.0"]
    return "\n".join(lines) + "\n"


def clear_scrapes(target: Path) -> None:
    """Old scrapes go when the demo is made again."""
    for old in (target / "metrics").glob("scrape-*.prom"):
        os.unlink(old)
