"""Build a proxywhirl installation with proxywhirl's own code; runs in proxywhirl's venv.

Usage: python build_installation.py TARGET

TARGET gets the layout `exportctl demo init` writes, made by the real package:
  system.db                   the pool (SQLiteStorage: proxy_identities, proxy_statuses,
                              validation_results), credentials encrypted by proxywhirl
  cache/proxies/shard_*.jsonl L2 of the cache (JsonlCacheTier)
  cache/db/proxywhirl.db      L3 of the cache (SQLiteCacheTier: cache_entries, health_history)
  cache/l2/l2_cache.db        L2 with the SQLite backend (DiskCacheTier: l2_cache)
  logs/proxywhirl.log         loguru JSON (configure_logging(format="json"))
  logs/logfmt/proxywhirl.log  loguru logfmt (configure_logging(format="logfmt"))
  pyproject.toml              [tool.proxywhirl] written by save_config
  config/config.toml          the same settings in ~/.config/proxywhirl's shape; config/.env
  metrics/scrape-N.prom       successive scrapes of the API's /metrics; metrics.prom the last

The keys come from PROXYWHIRL_CACHE_ENCRYPTION_KEY in the environment. It imports nothing
of exportctl nor of the test suite: it must run under proxywhirl's pinned dependencies.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from loguru import logger
from proxywhirl.cache.manager import CacheManager
from proxywhirl.cache.models import CacheConfig, CacheEntry, CacheTierConfig, L2BackendType
from proxywhirl.config import CLIConfig, save_config
from proxywhirl.logging_config import FORMAT_TEMPLATES, configure_logging
from proxywhirl.models import HealthStatus, Proxy
from proxywhirl.storage import SQLiteStorage
from pydantic import SecretStr

PROXIES = 48
#: Credentials that need percent-encoding in a URL, and non-ASCII ones.
PASSWORDS = ("p@ss:w/rd 100%", "密码🔑", "plain", "sp ace")
PROTOCOLS = ("http", "https", "socks4", "socks5")
COUNTRIES = ("US", "DE", "NL", None)


def proxies() -> list[Proxy]:
    made = []
    for i in range(PROXIES):
        protocol = PROTOCOLS[i % 4]
        user = password = None
        if i % 3 == 0:
            user, password = f"user{i}", PASSWORDS[i % len(PASSWORDS)]
        # Public addresses: proxywhirl's API refuses private ones.
        host = f"[2a01:4f8::{i:x}]" if i % 7 == 0 else f"185.{i // 200}.{i % 200}.{i % 250 + 1}"
        auth = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user else ""
        made.append(
            Proxy(
                url=f"{protocol}://{auth}{host}:{8000 + i}",
                protocol=protocol,
                username=SecretStr(user) if user else None,
                password=SecretStr(password) if password else None,
                country_code=COUNTRIES[i % 4],
            )
        )
    return made


async def build_pool(target: Path, pool: list[Proxy]) -> None:
    storage = SQLiteStorage(target / "system.db")
    await storage.initialize()
    for proxy in pool:
        await storage.add_proxy(proxy)
    # Rounds of checks: some proxies always answer, some never, some sometimes.
    for round_ in range(4):
        for i, proxy in enumerate(pool):
            ok = (i + round_) % 5 != 0 if i % 6 else False
            if ok:
                await storage.record_validation(proxy.url, True, 100.0 + i * 13.25 + round_ / 3)
            else:
                await storage.record_validation(
                    proxy.url, False, None, "timeout", "Read timed out. (read timeout=10)"
                )
    await storage.close()


def build_cache(target: Path, pool: list[Proxy]) -> None:
    now = datetime.now(UTC)
    for backend, l2_dir in ((L2BackendType.JSONL, "proxies"), (L2BackendType.SQLITE, "l2")):
        manager = CacheManager(
            CacheConfig(
                l1_config=CacheTierConfig(max_entries=10),
                l2_backend=backend,
                l2_cache_dir=str(target / "cache" / l2_dir),
                l3_database_path=str(target / "cache" / "db" / "proxywhirl.db"),
                enable_background_cleanup=False,
            )
        )
        for i, proxy in enumerate(pool):
            key = CacheManager.generate_cache_key(proxy.url)
            entry = CacheEntry(
                key=key,
                proxy_url=proxy.url,
                username=proxy.username,
                password=proxy.password,
                source="fetched" if i % 2 else "user",
                fetch_time=now,
                last_accessed=now,
                ttl_seconds=3600,
                expires_at=now + timedelta(hours=1),
                health_status=HealthStatus.HEALTHY if i % 6 else HealthStatus.DEAD,
            )
            manager.put(key, entry)
    health_history(target / "cache" / "db" / "proxywhirl.db", pool, now)


def health_history(database: Path, pool: list[Proxy], now: datetime) -> None:
    """Rows in the health_history table that proxywhirl 0.3.3 creates but has no writer for."""
    rows = []
    for check in range(3):
        for i, proxy in enumerate(pool):
            # Checks run one after another, each recorded at its own time.
            at = now - timedelta(minutes=5 * (3 - check), milliseconds=-37 * i)
            healthy = i % 6 != 0
            rows.append(
                (
                    CacheManager.generate_cache_key(proxy.url),
                    at.timestamp(),
                    "healthy" if healthy else "unhealthy",
                    120.5 + i if healthy else None,
                    None if healthy else "Connection refused",
                    "https://httpbin.org/ip",
                )
            )
    with sqlite3.connect(database) as connection:
        connection.executemany(
            "INSERT INTO health_history (proxy_key, check_time, status, response_time_ms,"
            " error_message, check_url) VALUES (?,?,?,?,?,?)",
            rows,
        )
    connection.close()


def write_logs(target: Path, pool: list[Proxy]) -> None:
    """Each record to two sinks: proxywhirl's JSON handler, and its logfmt template."""
    configure_logging(format="json", level="DEBUG", sink=str(target / "logs" / "proxywhirl.log"))
    logfmt = FORMAT_TEMPLATES["logfmt"]  # what configure_logging(format="logfmt") adds
    logger.add(str(target / "logs" / "logfmt" / "proxywhirl.log"), format=logfmt, level="DEBUG")
    for i, proxy in enumerate(pool[:12]):
        bound = logger.bind(component="rotator", request_id=f"req-{i:04d}")
        if i % 4 == 0:
            bound.warning(f"Proxy {proxy.url.split('@')[-1]} timeout, rotating")
        elif i % 4 == 1:
            bound.error("Request failed: connection refused")
        else:
            bound.info(f"Selected proxy #{i} for https://httpbin.org/ip")
    logger.bind(component="storage").success("Saved pool snapshot")
    # What makes a logfmt record hard to read back: line breaks, braces, a traceback.
    odd = logger.bind(component="fetchers", request_id=None, attempt=2)
    odd.warning("Source answered {'error': 'rate limited'}\nretrying in 2 s {ok}")
    try:
        raise ValueError("bad proxy list line: 'host:port:user'")
    except ValueError:
        odd.exception("Fetch failed for https://free-proxy-list.net/")
    logger.complete()
    logger.remove()


def write_config(target: Path, pool: list[Proxy]) -> None:
    config = CLIConfig(
        rotation_strategy="weighted",
        timeout=10,
        storage_backend="sqlite",
        storage_path=target / "system.db",
        cache_l2_dir=str(target / "cache" / "proxies"),
        cache_l3_db_path=str(target / "cache" / "db" / "proxywhirl.db"),
        encrypt_credentials=False,  # save_config would want PROXYWHIRL_KEY to encrypt
    )
    save_config(config, target / "pyproject.toml")
    save_config(config, target / "config" / "config.toml")
    env = target / "config" / ".env"
    env.write_text(
        "PROXYWHIRL_CACHE_ENCRYPTION_KEY=" + os.environ["PROXYWHIRL_CACHE_ENCRYPTION_KEY"] + "\n"
        "PROXYWHIRL_STRATEGY=weighted\nPROXYWHIRL_TIMEOUT=10\n",
        encoding="utf-8",
    )
    os.chmod(env, 0o600)


def scrape_metrics(target: Path) -> None:
    from fastapi.testclient import TestClient
    from proxywhirl.api.core import app

    (target / "metrics").mkdir()
    with TestClient(app) as client:
        for number in range(3):
            client.get("/api/v1/health")
            answer = client.get("/metrics")
            answer.raise_for_status()
            (target / "metrics" / f"scrape-{number}.prom").write_bytes(answer.content)
        (target / "metrics.prom").write_bytes(answer.content)


def main() -> None:
    target = Path(sys.argv[1])
    logger.remove()  # proxywhirl logs to stderr by default; the files below are its logs
    for folder in ("logs/logfmt", "config", "cache"):
        (target / folder).mkdir(parents=True, exist_ok=True)
    pool = proxies()
    asyncio.run(build_pool(target, pool))
    build_cache(target, pool)
    write_logs(target, pool)
    write_config(target, pool)
    scrape_metrics(target)
    print(json.dumps({"proxies": len(pool)}))


if __name__ == "__main__":
    main()
