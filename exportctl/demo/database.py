"""system.db (proxywhirl's SQLiteStorage tables) and warehouse.db (an analytics
pipeline's metric_samples and request_logs), filled in one pass and renamed into place."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from exportctl.demo.cache import Cached
from exportctl.demo.events import request_events
from exportctl.demo.metrics import metric_rows
from exportctl.demo.pool import pool_chunks

SCHEMA = """
CREATE TABLE proxy_identities (
    url VARCHAR NOT NULL PRIMARY KEY, protocol VARCHAR NOT NULL, host VARCHAR NOT NULL,
    port INTEGER NOT NULL, username VARCHAR, password VARCHAR,
    country_code VARCHAR, country_name VARCHAR, region VARCHAR, city VARCHAR,
    latitude FLOAT, longitude FLOAT, asn INTEGER, isp_name VARCHAR,
    is_residential BOOLEAN, is_datacenter BOOLEAN, source VARCHAR, source_url TEXT,
    discovered_at DATETIME NOT NULL
);
CREATE TABLE proxy_statuses (
    proxy_url VARCHAR NOT NULL PRIMARY KEY REFERENCES proxy_identities (url),
    health_status VARCHAR NOT NULL,
    last_success_at DATETIME, last_failure_at DATETIME, last_check_at DATETIME,
    consecutive_successes INTEGER NOT NULL, consecutive_failures INTEGER NOT NULL,
    total_checks INTEGER NOT NULL, total_successes INTEGER NOT NULL,
    avg_response_time_ms FLOAT, success_rate_7d FLOAT, updated_at DATETIME NOT NULL
);
CREATE TABLE validation_results (
    id INTEGER PRIMARY KEY, proxy_url VARCHAR NOT NULL REFERENCES proxy_identities (url),
    validated_at DATETIME NOT NULL, is_valid BOOLEAN NOT NULL, response_time_ms FLOAT,
    error_type VARCHAR, error_message TEXT
);
"""
#: Not proxywhirl's: a warehouse's tables, in warehouse.db.
WAREHOUSE_SCHEMA = """
CREATE TABLE metric_samples (
    id INTEGER PRIMARY KEY, timestamp DATETIME NOT NULL, name VARCHAR NOT NULL,
    type VARCHAR NOT NULL, labels TEXT NOT NULL, value FLOAT NOT NULL
);
CREATE TABLE request_logs (
    id INTEGER PRIMARY KEY, timestamp DATETIME NOT NULL, level VARCHAR NOT NULL,
    component VARCHAR NOT NULL, request_id VARCHAR, proxy_url VARCHAR, method VARCHAR,
    target_url TEXT, status_code INTEGER, latency_ms FLOAT, message TEXT NOT NULL
);
"""
INSERT_IDENTITY = "INSERT INTO proxy_identities VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
INSERT_STATUS = "INSERT INTO proxy_statuses VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
INSERT_VALIDATION = (
    "INSERT INTO validation_results (proxy_url, validated_at, is_valid, response_time_ms,"
    " error_type, error_message) VALUES (?,?,?,?,?,?)"
)
INSERT_METRIC = (
    "INSERT INTO warehouse.metric_samples (timestamp, name, type, labels, value) VALUES (?,?,?,?,?)"
)
INSERT_REQUEST_LOG = (
    "INSERT INTO warehouse.request_logs (timestamp, level, component, request_id, proxy_url,"
    " method, target_url, status_code, latency_ms, message) VALUES (?,?,?,?,?,?,?,?,?,?)"
)


@dataclass(frozen=True)
class DatabaseFacts:
    """What the other demo files need from the database writer."""

    validations: int
    log_urls: list[str]
    cached: list[Cached]
    healthy: int


def write_database(
    target: Path, seed: int, proxies: int, metrics: int, lines: int
) -> DatabaseFacts:
    """Build under temporary names and rename, so neither file is ever half-written."""
    # Same folder, so the rename is atomic; sqlite creates the file, so the umask applies.
    names = ("system.db", "warehouse.db")
    temporary = [target / f".{name}.{os.getpid()}.tmp" for name in names]
    for path in temporary:
        path.unlink(missing_ok=True)
    try:
        connection = sqlite3.connect(temporary[0], isolation_level=None)
        try:
            connection.execute("ATTACH DATABASE ? AS warehouse", (str(temporary[1]),))
            facts = _fill(connection, seed, proxies, metrics, lines)
        finally:
            connection.close()
        for path, name in zip(temporary, names, strict=True):
            os.replace(path, target / name)
    except BaseException:
        for path in temporary:
            path.unlink(missing_ok=True)
        raise
    return facts


def _fill(
    connection: sqlite3.Connection, seed: int, proxies: int, metrics: int, lines: int
) -> DatabaseFacts:
    # A throwaway file loaded once: no journal, no fsync, one transaction. A big page
    # cache only slows inserts down here.
    for schema in ("main", "warehouse"):
        connection.execute(f"PRAGMA {schema}.journal_mode=OFF")
        connection.execute(f"PRAGMA {schema}.synchronous=OFF")
    connection.execute("PRAGMA cache_size=-32768")
    connection.executescript(SCHEMA)
    connection.executescript(WAREHOUSE_SCHEMA.replace("CREATE TABLE ", "CREATE TABLE warehouse."))
    connection.execute("BEGIN")
    validations, metric_ids, log_urls, cached, healthy = 0, [], [], [], 0
    for chunk in pool_chunks(seed, proxies):
        connection.executemany(INSERT_IDENTITY, chunk.identities)
        connection.executemany(INSERT_STATUS, chunk.statuses)
        connection.executemany(INSERT_VALIDATION, chunk.validations)
        validations += len(chunk.validations)
        metric_ids += chunk.metric_ids
        log_urls += chunk.log_urls
        cached += chunk.cached
        healthy += sum(status[1] == "healthy" for status in chunk.statuses)
    # executemany consumes generators lazily, so memory stays flat here too.
    connection.executemany(INSERT_METRIC, metric_rows(seed, metrics, metric_ids, proxies))
    events = request_events(seed, lines, log_urls)
    connection.executemany(INSERT_REQUEST_LOG, (event.request_log_row() for event in events))
    connection.execute("COMMIT")
    return DatabaseFacts(validations, log_urls, cached, healthy)
