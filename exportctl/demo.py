"""`exportctl demo init`: a small, deterministic copy of a proxywhirl installation's data.

Laid out as proxywhirl 0.3.3 leaves an installation: system.db (SQLiteStorage's
proxy_identities, proxy_statuses, validation_results), cache/ (L2 JSONL shards, L3
cache_entries and health_history), logs/ (loguru JSON, and logfmt in logs/logfmt/),
config/, pyproject.toml ([tool.proxywhirl]) and /metrics scrapes (metrics/, metrics.prom).
warehouse.db is NOT proxywhirl's: long-format metric_samples and request_logs tables, as
an analytics pipeline might fill them, for the examples of reshaping and time ranges.

It holds what real proxywhirl data holds and exporters trip over: credentials that
need percent-encoding, IPv6 hosts, NULLs beside empty strings, control characters,
and floats that need all 17 significant digits to survive a round trip.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import random
import sqlite3
from bisect import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from exportctl.credentials import fernet_token, stored
from exportctl.demo_cache import Cached, clear_scrapes, write_cache, write_scrapes
from exportctl.demo_files import (
    DAY_US,
    END_US,
    cache_keys,
    request_events,
    spread,
    sqlite_datetime,
    write_config,
    write_logs,
    write_pyproject,
)
from exportctl.errors import UsageError
from exportctl.spec import editor_schema

Row = tuple[Any, ...]

MAX_PROXIES = 1 << 24  # hosts are unique by construction up to this many
WINDOW_US = 30 * DAY_US
CHECK_INTERVAL_US = 300_000_000  # health_check.interval_seconds = 300
VALIDATION_CAP = 250_000  # keeps validation_results modest for huge pools
SAMPLED_PROXIES = 256  # the proxies that metrics and logs mention
CHUNK = 20_000  # proxies per random stream and per insert batch; fixed, so output is too
DEMO_ENTRIES = (
    *("system.db", "warehouse.db", "cache", "logs", "config", "pyproject.toml", "metrics"),
    *("metrics.prom", "specs", "schemas"),
)


@dataclass(frozen=True)
class DemoSummary:
    """What `init_demo` wrote, and how much of it."""

    target: Path
    database: Path
    log_files: tuple[Path, ...]
    config_files: tuple[Path, ...]
    spec_files: tuple[Path, ...]
    proxies: int
    validation_results: int
    metric_samples: int
    request_logs: int
    log_lines: int
    health_checks: int = 0
    cache_entries: int = 0
    #: The same records as `log_files`, in proxywhirl's logfmt template.
    logfmt_file: Path | None = None


def init_demo(
    target: Path,
    *,
    proxies: int = 2000,
    metrics: int = 20000,
    log_lines: int = 5000,
    seed: int = 7,
    force: bool = False,
) -> DemoSummary:
    """Write system.db, logs/, config/, specs/ and schemas/ into `target`; same seed, same bytes."""
    _check_arguments(target, proxies, metrics, log_lines, force)
    target.mkdir(parents=True, exist_ok=True)
    # The demo's own ledger: `apply DIR/specs` and commands run in DIR find it.
    (target / ".exportctl").mkdir(mode=0o700, exist_ok=True)
    facts = _write_database(target, seed, proxies, metrics, log_lines)
    checks = write_cache(target / "cache", seed, facts.cached, metrics, END_US)
    clear_scrapes(target)
    write_scrapes(target, seed, proxies, facts.healthy, END_US)
    write_pyproject(target)
    logs = write_logs(target / "logs", request_events(seed, log_lines, facts.log_urls))
    return DemoSummary(
        target=target,
        database=target / "system.db",
        log_files=logs[:-1],
        config_files=write_config(target / "config", seed),
        spec_files=_copy_specs(target / "specs", target / "schemas"),
        proxies=proxies,
        validation_results=facts.validations,
        metric_samples=metrics,
        request_logs=log_lines,
        log_lines=log_lines,
        health_checks=checks,
        cache_entries=len(facts.cached),
        logfmt_file=logs[-1],
    )


def _check_arguments(target: Path, proxies: int, metrics: int, lines: int, force: bool) -> None:
    if not 1 <= proxies <= MAX_PROXIES:
        raise UsageError(f"--proxies must be between 1 and {MAX_PROXIES:,}, not {proxies:,}")
    if metrics < 0 or lines < 0:
        raise UsageError("--metrics and --log-lines cannot be negative")
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise UsageError(
            f"{target} is not empty. Choose an empty or new folder, or pass --force to "
            f"overwrite the demo's own files there ({', '.join(DEMO_ENTRIES)}); "
            "nothing else in it is touched."
        )


def _copy_specs(specs_dir: Path, schemas_dir: Path) -> tuple[Path, ...]:
    """The demo's specs, and beside them the editor schema their first line points at."""
    schemas_dir.mkdir(parents=True, exist_ok=True)
    (schemas_dir / editor_schema.FILE_NAME).write_text(editor_schema.text(), encoding="utf-8")
    specs_dir.mkdir(parents=True, exist_ok=True)
    packaged = resources.files("exportctl").joinpath("demo_specs")
    written = []
    for spec in sorted(packaged.iterdir(), key=lambda p: p.name):
        if spec.name.endswith(".yaml"):
            copy = specs_dir / spec.name
            copy.write_bytes(spec.read_bytes())
            written.append(copy)
    return tuple(written)


# --- system.db ---------------------------------------------------------------------

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


def _write_database(
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


# --- making the pool in chunks ---------------------------------------------------------


@dataclass
class PoolChunk:
    """Rows for a run of consecutive proxies, ready for executemany."""

    identities: list[Row] = field(default_factory=list)
    statuses: list[Row] = field(default_factory=list)
    validations: list[Row] = field(default_factory=list)
    metric_ids: list[str] = field(default_factory=list)  # credential-free, as metrics label
    log_urls: list[str] = field(default_factory=list)  # credentials masked, as proxywhirl logs
    cached: list[Cached] = field(default_factory=list)  # what the cache tiers hold


def pool_chunks(seed: int, count: int) -> Iterator[PoolChunk]:
    """The whole pool in order, a chunk at a time so memory stays flat."""
    for start in range(0, count, CHUNK):
        yield make_chunk(seed, count, start, min(start + CHUNK, count))


def make_chunk(seed: int, count: int, start: int, stop: int) -> PoolChunk:
    """Proxies start..stop-1 of a pool of `count`; the same wherever and whenever made."""
    maker = _ProxyMaker(seed, count, start)
    # Each chunk's share of the validation cap, so the shares add up to the cap exactly.
    maker.budget = VALIDATION_CAP * stop // count - VALIDATION_CAP * start // count
    for index in range(start, stop):
        maker.proxy(index)
    return maker.chunk


# --- one proxy at a time ------------------------------------------------------------

_PROTOCOLS = ("http", "https", "socks4", "socks5")
_PROTOCOL_CUMULATIVE = (0.45, 0.65, 0.75)
_PORTS = {
    "http": (80, 8080, 3128, 8000, 8888, 999, 8118),
    "https": (443, 8443, 3129, 8080),
    "socks4": (1080, 4145, 4153, 5678),
    "socks5": (1080, 1081, 9050, 7890, 10808),
}
_FIRST_OCTETS = (5, 31, 37, 45, 46, 51, 62, 78, 91, 103, 138, 154, 176, 185, 194, 212, 217)
_IPV6_PREFIXES = (0x2A0104F8, 0x200119F0, 0x2604A880, 0x24008500, 0x2A03B0C0)
_USER_PREFIXES = ("user", "customer-acme-zone-resi-", "brd-customer-hl_", "émile.", "ops@corp-")
_PASSWORD_TWISTS = (
    ":",
    "@",
    "%",
    "/",
    " ",
    "%40",
    "é",
    "ü",
    "密码",
    "🔑",
    ":@/% ",
    "p@ss:w/rd 100%",
)
_ALPHANUMERIC = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_PLACES = (  # country code, country, region, city, latitude, longitude
    ("US", "United States", "District of Columbia", "Washington, D.C.", 38.9, -77.04),
    ("US", "United States", "California", "Los Angeles", 34.05, -118.24),
    ("US", "United States", "New York", "New York", 40.71, -74.01),
    ("DE", "Germany", "Hessen", "Frankfurt am Main", 50.11, 8.68),
    ("DE", "Germany", "Bayern", "Nürnberg", 49.45, 11.08),
    ("BR", "Brazil", "São Paulo", "São Paulo", -23.55, -46.63),
    ("JP", "Japan", "東京都", "東京", 35.68, 139.69),
    ("CN", "China", "广东省", "深圳", 22.54, 114.06),
    ("RU", "Russia", "Москва", "Москва", 55.75, 37.62),
    ("KR", "South Korea", "서울특별시", "서울", 37.57, 126.98),
    ("AE", "United Arab Emirates", "Dubai", "دبي", 25.2, 55.27),
    ("FR", "France", "Île-de-France", "Paris", 48.86, 2.35),
    ("NL", "Netherlands", "Noord-Brabant", "'s-Hertogenbosch", 51.69, 5.3),
    ("CH", "Switzerland", "Zürich", "Zürich", 47.37, 8.54),
    ("PL", "Poland", "Małopolskie", "Kraków", 50.06, 19.94),
    ("VN", "Vietnam", "Hồ Chí Minh", "Thành phố Hồ Chí Minh", 10.82, 106.63),
    ("IN", "India", "Maharashtra", "Mumbai", 19.08, 72.88),
    ("GB", "United Kingdom", "England", "London", 51.51, -0.13),
    ("SG", "Singapore", "", "Singapore", 1.35, 103.82),
    ("IS", "Iceland", "Höfuðborgarsvæðið", "Reykjavík", 64.15, -21.94),
)
_NETWORKS = (  # asn, isp_name, is_datacenter
    (24940, "Hetzner Online GmbH", True),
    (14061, "DigitalOcean, LLC", True),
    (16509, "Amazon.com, Inc.", True),
    (16276, "OVH SAS", True),
    (20473, "The Constant Company, LLC", True),
    (45090, "Shenzhen Tencent Computer Systems Company Limited", True),
    (4134, "China Telecom 中国电信", False),
    (7922, "Comcast Cable Communications, LLC", False),
    (3320, "Deutsche Telekom AG", False),
    (12389, 'PJSC "Rostelecom"', False),
    (28573, "Claro NXT Telecomunicações Ltda", False),
    (9829, "National Internet Backbone", False),
)
_ODD_ISP_NAMES = (
    "",
    "Line One Networks\nLine Two Division",
    "Carrier\r\nWith CRLF",
    "Tab\tSeparated Transit",
    "Ctrl\x01Byte Telecom",
    "Delete\x7fNet",
    '"Quoted" Hosting, Ltd.',
    "🚀 Rocket Proxies 🛰️",
    "Back\\slash ISP",
)
_SOURCES = (  # name, list URL ({p}: protocol; None: added by hand)
    ("proxyscrape", "https://api.proxyscrape.com/v2/?request=getproxies&protocol={p}&country=all"),
    ("github:TheSpeedX", "https://raw.githubusercontent.com/TheSpeedX/PROXY-List/master/{p}.txt"),
    ("free-proxy-list", "https://free-proxy-list.net/"),
    ("geonode", "https://proxylist.geonode.com/api/proxy-list?limit=500&protocols={p}"),
    ("user", None),
)
_HEALTH = ("healthy", "degraded", "unhealthy", "dead", "unknown")
_HEALTH_CUMULATIVE = (0.55, 0.70, 0.80, 0.90)
_SUCCESS_RATES = {"healthy": (0.85, 1.0), "degraded": (0.5, 0.85), "unhealthy": (0.1, 0.5)}
_LATENCY_MEDIANS_MS = {"healthy": 350.0, "degraded": 900.0, "unhealthy": 2200.0, "dead": 6000.0}
_CHECK_ERRORS = (  # error_type, error_message, response_time_ms
    ("timeout", "Read timed out. (read timeout=10)", 10_000.0),
    ("connection_refused", "[Errno 111] Connection refused", None),
    ("proxy_auth_required", 'Proxy returned 407 "Proxy Authentication Required"', 41.5),
    ("ssl_error", "SSL: CERTIFICATE_VERIFY_FAILED, self-signed certificate in chain", 212.25),
    ("invalid_response", "Expected JSON, got:\n<html>\n\t<title>Blocked</title>\n</html>", 88.0),
    ("invalid_response", "Garbage from upstream: \x01\x02\x7f", 0.1 + 0.2),
    ("connection_reset", "Connexion réinitialisée par le correspondant", 1 / 3),
    ("socks_error", "SOCKS5 握手失败 (0x05) 😵", None),
    ("unknown", "", None),
)


def _pick(rng: random.Random, options: Sequence[Any]) -> Any:
    # Indexing by rng.random() is several times faster than rng.choice.
    return options[int(rng.random() * len(options))]


class _ProxyMaker:
    """Appends one proxy's rows at a time to a chunk. URLs are unique because hosts are."""

    def __init__(self, seed: int, count: int, start: int):
        # Own stream per chunk, so a chunk is the same whichever process makes it.
        self.rng = random.Random(f"{seed}:proxies:{start}")  # noqa: S311 - demo data
        self.salt = random.Random(f"{seed}:hosts").getrandbits(24)  # noqa: S311
        self.history_share = min(1.0, VALIDATION_CAP / (2 * count))
        self.budget = 0
        self.chunk = PoolChunk()
        # A stream of its own, so encrypting leaves every other value as it was.
        self.sealing = random.Random(f"{seed}:credentials:{start}")  # noqa: S311
        self.keys = cache_keys(seed)

    def proxy(self, index: int) -> None:
        rng = self.rng
        discovered = END_US - WINDOW_US + int(rng.random() * (WINDOW_US - DAY_US))
        protocol = _PROTOCOLS[bisect(_PROTOCOL_CUMULATIVE, rng.random())]
        host, port = self.endpoint(index, protocol)
        user, password = self.credentials()
        url = proxy_url(protocol, host, port, None, None)  # proxywhirl's URLs carry none
        if index < SAMPLED_PROXIES:
            self.chunk.metric_ids.append(url)
            masked = url.replace("://", "://***:***@", 1)  # as proxywhirl's log redaction
            self.chunk.log_urls.append(url if user is None else masked)
        source, list_url = _pick(rng, _SOURCES)
        list_url = list_url and list_url.replace("{p}", protocol)
        found = sqlite_datetime(discovered)
        sealed = self.sealed(user, password, discovered)
        identity = (url, protocol, host, port, *sealed, *self.geo(), *self.network())
        self.chunk.identities.append((*identity, source, list_url, found))
        self.health(url, discovered, found)
        if index < SAMPLED_PROXIES:
            health = self.chunk.statuses[-1][1]
            username, password = sealed
            self.chunk.cached.append(Cached(url, username, password, health, discovered))

    def endpoint(self, index: int, protocol: str) -> tuple[str, int]:
        rng = self.rng
        # Multiplying by an odd constant permutes 24-bit numbers: distinct, yet scattered.
        unique = ((index + self.salt) * 0x9E3779) & 0xFFFFFF
        if rng.random() < 0.1:
            prefix = _pick(rng, _IPV6_PREFIXES) << 96 | rng.getrandbits(32) << 64
            host = str(ipaddress.IPv6Address(prefix | rng.getrandbits(40) << 24 | unique))
        else:
            host = f"{_pick(rng, _FIRST_OCTETS)}.{unique >> 16}.{unique >> 8 & 255}.{unique & 255}"
        if rng.random() < 0.7:
            return host, _pick(rng, _PORTS[protocol])
        return host, 1024 + int(rng.random() * 64512)

    def credentials(self) -> tuple[str | None, str | None]:
        rng = self.rng
        if rng.random() >= 0.2:
            return None, None
        user = f"{_pick(rng, _USER_PREFIXES)}{rng.getrandbits(20):x}"
        password = "".join(rng.choices(_ALPHANUMERIC, k=12))
        if rng.random() < 0.4:
            password = password[:6] + _pick(rng, _PASSWORD_TWISTS) + password[6:]
        return user, password

    def sealed(self, user: str | None, password: str | None, at_us: int) -> Row:
        """Username and password as proxywhirl stores them: `encrypted:` Fernet tokens.

        A third under the previous key, as a pool part-way through a key rotation is.
        """
        if user is None:
            return None, None
        rng = self.sealing
        key = self.keys[1] if rng.random() < 1 / 3 else self.keys[0]
        at = at_us // 1_000_000
        return tuple(
            stored(fernet_token(key, (v or "").encode(), timestamp=at, iv=rng.randbytes(16)))
            for v in (user, password)
        )

    def geo(self) -> Row:
        rng = self.rng
        share = rng.random()
        if share < 0.12:
            return (None,) * 6
        code, country, region, city, latitude, longitude = _pick(rng, _PLACES)
        if share < 0.17:  # located to the country only
            return code, country, None, None, None, None
        latitude += (rng.random() - 0.5) / 5
        longitude += (rng.random() - 0.5) / 5
        return code, country, region, city, latitude, longitude

    def network(self) -> Row:
        rng = self.rng
        if rng.random() < 0.08:
            return None, None, None, None
        asn, isp_name, datacenter = _pick(rng, _NETWORKS)
        if rng.random() < 0.05:
            isp_name = _pick(rng, _ODD_ISP_NAMES)
        return asn, isp_name, not datacenter, datacenter

    def health(self, url: str, discovered: int, found: str) -> None:
        """The proxy_statuses row, and the newest checks behind it."""
        rng = self.rng
        health = _HEALTH[bisect(_HEALTH_CUMULATIVE, rng.random())]
        if health == "unknown":  # never checked yet
            self.chunk.statuses.append(
                (url, health, None, None, None, 0, 0, 0, 0, None, None, found)
            )
            return
        checks = 1 + int(rng.random() ** 3 * 2000)
        low, high = _SUCCESS_RATES.get(health, (0.0, 0.1))
        winning = health == "healthy" or (health == "degraded" and rng.random() < 0.5)
        successes = int(checks * (low + rng.random() * (high - low)))
        successes = min(max(successes, int(winning)), checks - (not winning))
        streak = min(successes if winning else checks - successes, 1 + int(rng.random() * 12))
        last_check = discovered + int(rng.random() * (END_US - discovered))
        checked = sqlite_datetime(last_check)
        before = sqlite_datetime(max(discovered, last_check - streak * CHECK_INTERVAL_US))
        last_success = checked if winning else before if successes else None
        last_failure = (before if successes < checks else None) if winning else checked
        median = _LATENCY_MEDIANS_MS[health]
        latency = median * math.exp(0.5 * rng.gauss()) if successes else None
        self.chunk.statuses.append(
            (url, health, last_success, last_failure, checked, streak if winning else 0)
            + (0 if winning else streak, checks, successes, latency, successes / checks, checked)
        )
        if rng.random() < self.history_share:
            self.history(url, last_check, min(checks, 1 + int(rng.random() * 3)), streak, winning)

    def history(self, url: str, last_check: int, wanted: int, streak: int, winning: bool) -> None:
        rng = self.rng
        wanted = min(wanted, self.budget)
        self.budget -= wanted
        for age in reversed(range(wanted)):  # oldest first, as they were recorded
            at = sqlite_datetime(last_check - age * CHECK_INTERVAL_US)
            if winning if age < streak else rng.random() < 0.5:
                row = (url, at, True, 400.0 * math.exp(0.6 * rng.gauss()), None, None)
            else:
                error_type, message, response_ms = _pick(rng, _CHECK_ERRORS)
                row = (url, at, False, response_ms, error_type, message)
            self.chunk.validations.append(row)


def proxy_url(protocol: str, host: str, port: int, user: str | None, password: str | None) -> str:
    """A proxy's URL: credentials percent-encoded, IPv6 bracketed.

    proxywhirl keys a proxy by its URL without credentials (they are stored encrypted).
    """
    bracketed = f"[{host}]" if ":" in host else host
    if user is None:
        return f"{protocol}://{bracketed}:{port}"
    credentials = f"{quote(user, safe='')}:{quote(password or '', safe='')}"
    return f"{protocol}://{credentials}@{bracketed}:{port}"


# --- metric samples ---------------------------------------------------------------

_METRICS = (  # name, type
    ("proxywhirl_requests_total", "counter"),
    ("proxywhirl_request_duration_seconds", "histogram"),
    ("proxywhirl_proxy_health_status", "gauge"),
    ("proxywhirl_active_proxies", "gauge"),
    ("proxywhirl_circuit_breaker_state", "gauge"),
)
_METRIC_CUMULATIVE = (0.4, 0.7, 0.8, 0.9)
_REQUEST_STATUSES = ("200", "200", "200", "200", "407", "429", "502", "503", "timeout")
_POOLS = ("default", "residential", "datacenter", 'café "premium"', "geo:日本, tokyo")
# Values a careless float format mangles: 17 significant digits, and the extremes.
_EDGE_FLOATS = (0.1 + 0.2, 1 / 3, 5e-324, 1.7976931348623157e308)
_DURATION = 1


def metric_rows(seed: int, count: int, proxy_ids: Sequence[str], pool_size: int) -> Iterator[Row]:
    """`count` samples over the last 30 days, in time order."""
    rng = random.Random(f"{seed}:metrics")  # noqa: S311 - reproducible demo data
    counters: dict[tuple[str, str], int] = {}
    # Evenly spaced, so every edge value is present whatever the count.
    edges = {count * (k + 1) // (len(_EDGE_FLOATS) + 1): v for k, v in enumerate(_EDGE_FLOATS)}
    for index in range(count):
        at = sqlite_datetime(spread(rng, index, count, END_US - WINDOW_US, WINDOW_US))
        kind = _DURATION if index in edges else bisect(_METRIC_CUMULATIVE, rng.random())
        labels, value = _metric_sample(rng, kind, _pick(rng, proxy_ids), counters, pool_size)
        name, metric_type = _METRICS[kind]
        labels_json = json.dumps(labels, ensure_ascii=False)
        yield at, name, metric_type, labels_json, edges.get(index, value)


def _metric_sample(
    rng: random.Random,
    kind: int,
    proxy_id: str,
    counters: dict[tuple[str, str], int],
    pool_size: int,
) -> tuple[dict[str, str], float]:
    if kind == 0:  # a counter only ever goes up
        status = _pick(rng, _REQUEST_STATUSES)
        total = counters.get((proxy_id, status), 0) + 1 + int(rng.random() * 40)
        counters[proxy_id, status] = total
        return {"proxy_id": proxy_id, "status": status}, float(total)
    if kind == _DURATION:
        return {"proxy_id": proxy_id}, 0.4 * math.exp(0.7 * rng.gauss())
    if kind == 2:
        health = _pick(rng, _HEALTH)
        return {"proxy_id": proxy_id, "status": health}, float(health in ("healthy", "degraded"))
    if kind == 3:
        return {"pool": _pick(rng, _POOLS)}, float(int(pool_size * (0.6 + rng.random() / 5)))
    return {"proxy_id": proxy_id}, float(_pick(rng, (0, 0, 0, 0, 1, 2)))  # closed, open, half
