"""The warehouse's metric_samples: proxywhirl's Prometheus series as an analytics
pipeline stores them (long format, labels as JSON), over the last 30 days."""

from __future__ import annotations

import json
import math
import random
from bisect import bisect
from collections.abc import Iterator, Sequence
from typing import Any

from exportctl.demo.pool_data import HEALTH, pick
from exportctl.demo.times import END_US, WINDOW_US, spread, sqlite_datetime

Row = tuple[Any, ...]

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
        labels, value = _metric_sample(rng, kind, pick(rng, proxy_ids), counters, pool_size)
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
        status = pick(rng, _REQUEST_STATUSES)
        total = counters.get((proxy_id, status), 0) + 1 + int(rng.random() * 40)
        counters[proxy_id, status] = total
        return {"proxy_id": proxy_id, "status": status}, float(total)
    if kind == _DURATION:
        return {"proxy_id": proxy_id}, 0.4 * math.exp(0.7 * rng.gauss())
    if kind == 2:
        health = pick(rng, HEALTH)
        return {"proxy_id": proxy_id, "status": health}, float(health in ("healthy", "degraded"))
    if kind == 3:
        return {"pool": pick(rng, _POOLS)}, float(int(pool_size * (0.6 + rng.random() / 5)))
    return {"proxy_id": proxy_id}, float(pick(rng, (0, 0, 0, 0, 1, 2)))  # closed, open, half
