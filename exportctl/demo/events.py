"""Request and housekeeping log events, generated from the seed: one stream that
becomes both warehouse.db's request_logs and the log files."""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from exportctl.demo.times import DAY_US, END_US, LOG_DAYS, spread, sqlite_datetime


class LogEvent(NamedTuple):
    time_us: int
    level: str
    component: str
    request_id: str | None
    proxy_url: str | None
    method: str | None
    target_url: str | None
    status_code: int | None
    latency_ms: float | None
    message: str
    exception: tuple[str, str] | None

    def request_log_row(self) -> tuple[Any, ...]:
        """The event as a row of system.db's request_logs, after its id."""
        return (
            sqlite_datetime(self.time_us),
            self.level,
            self.component,
            self.request_id,
            self.proxy_url,
            self.method,
            self.target_url,
            self.status_code,
            self.latency_ms,
            self.message,
        )


_TARGETS = (
    "https://httpbin.org/ip",
    "https://api.example.com/v2/items?page=3&per_page=100",
    "https://shop.example.fr/recherche?q=crème%20brûlée,café",
    'https://example.org/search?q="proxy, rotation"',
    "https://例え.jp/商品?id=42",
    "http://legacy.example.net/cgi-bin/status.pl",
)
_METHODS = ("GET", "GET", "GET", "POST", "HEAD", "PUT")
_STATUSES = (200,) * 14 + (201, 204, 301, 404, 407, 429, 500, 502, 503) + (None,) * 2
_CONNECTION_ERRORS = (
    ("ProxyConnectionError", "Cannot connect to proxy: [Errno 111] Connection refused"),
    ("ReadTimeout", "Read timed out. (read timeout=10.0)"),
    ("ProxyError", 'Proxy answered "HTTP/1.1 502 Bad Gateway",\n\tupstream: "reset by peer"'),
    ("SSLError", "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)"),
    ("ProtocolError", "Garbled reply from proxy: b'\x01\x7f\\x00'"),
)
_HOUSEKEEPING = (
    ("fetchers", "INFO", 'Fetched 312 proxies from "free-proxy-list.net", 17 duplicates dropped'),
    ("health_monitor", "SUCCESS", "Health check round done: 1,204 healthy, 87 degraded ✅"),
    ("health_monitor", "WARNING", "Proxy pool below minimum size (min_pool_size=50)"),
    ("circuit_breaker", "WARNING", "🔥 Circuit breaker opened after 5 failures"),
    ("strategies", "DEBUG", "Selected proxy by performance-based strategy\tscore=0.93"),
    ("storage", "INFO", "Saved pool snapshot to «cache/db/proxywhirl.db»"),
    ("storage", "ERROR", "Écriture impossible : base verrouillée\nretrying in 1s"),
    ("fetchers", "WARNING", "源站返回空列表 (source returned an empty list)"),
    ("rotator", "INFO", ""),
)
_NOTES = ("",) * 5 + (" (retry 2/3)", ' — "sticky" session', "\nheaders: {'Via': '1.1 proxy'}")


def request_events(seed: int, count: int, proxies: Sequence[str]) -> Iterator[LogEvent]:
    """`count` events over the last LOG_DAYS days, in time order."""
    rng = random.Random(f"{seed}:logs")  # noqa: S311 - reproducible demo data, not secrets
    start = END_US - LOG_DAYS * DAY_US
    for index in range(count):
        at = spread(rng, index, count, start, LOG_DAYS * DAY_US)
        if rng.random() < 0.12:
            yield _housekeeping_event(rng, at)
        else:
            yield _request_event(rng, at, proxies[int(rng.random() * len(proxies))])


def _housekeeping_event(rng: random.Random, at: int) -> LogEvent:
    component, level, message = _HOUSEKEEPING[int(rng.random() * len(_HOUSEKEEPING))]
    return LogEvent(at, level, component, None, None, None, None, None, None, message, None)


def _request_event(rng: random.Random, at: int, proxy: str) -> LogEvent:
    method = _METHODS[int(rng.random() * len(_METHODS))]
    target = _TARGETS[int(rng.random() * len(_TARGETS))]
    status = _STATUSES[int(rng.random() * len(_STATUSES))]
    request_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    note = _NOTES[int(rng.random() * len(_NOTES))]
    if status is None:
        error = _CONNECTION_ERRORS[int(rng.random() * len(_CONNECTION_ERRORS))]
        latency = 10_000.0 if error[0] == "ReadTimeout" else rng.uniform(0.5, 50.0)
        message = f"{method} {target} via {proxy} failed: {error[1]}{note}"
        return LogEvent(
            at, "ERROR", "rotator", request_id, proxy, method, target, None, latency, message, error
        )
    latency = rng.lognormvariate(math.log(420.0), 0.7)
    level = "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO"
    message = f"{method} {target} via {proxy} -> {status} in {latency:.1f} ms{note}"
    return LogEvent(
        at, level, "rotator", request_id, proxy, method, target, status, latency, message, None
    )
