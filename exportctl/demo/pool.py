"""The demo's proxy pool, made a chunk at a time: each proxy's identity (credentials
sealed as proxywhirl stores them), status, newest checks, and what logs and caches see.

The same seed gives the same pool, whichever process makes which chunk.
"""

from __future__ import annotations

import ipaddress
import math
import random
from bisect import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from exportctl.crypto import fernet_token, stored
from exportctl.demo.cache import Cached
from exportctl.demo.pool_data import (
    ALPHANUMERIC,
    CHECK_ERRORS,
    FIRST_OCTETS,
    HEALTH,
    HEALTH_CUMULATIVE,
    IPV6_PREFIXES,
    LATENCY_MEDIANS_MS,
    NETWORKS,
    ODD_ISP_NAMES,
    PASSWORD_TWISTS,
    PLACES,
    PORTS,
    PROTOCOL_CUMULATIVE,
    PROTOCOLS,
    SOURCES,
    SUCCESS_RATES,
    USER_PREFIXES,
    pick,
)
from exportctl.demo.settings import cache_keys
from exportctl.demo.times import DAY_US, END_US, WINDOW_US, sqlite_datetime

Row = tuple[Any, ...]

MAX_PROXIES = 1 << 24  # hosts are unique by construction up to this many
CHECK_INTERVAL_US = 300_000_000  # health_check.interval_seconds = 300
VALIDATION_CAP = 250_000  # keeps validation_results modest for huge pools
SAMPLED_PROXIES = 256  # the proxies that metrics and logs mention
CHUNK = 20_000  # proxies per random stream and per insert batch; fixed, so output is too


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
        protocol = PROTOCOLS[bisect(PROTOCOL_CUMULATIVE, rng.random())]
        host, port = self.endpoint(index, protocol)
        user, password = self.credentials()
        url = proxy_url(protocol, host, port, None, None)  # proxywhirl's URLs carry none
        if index < SAMPLED_PROXIES:
            self.chunk.metric_ids.append(url)
            masked = url.replace("://", "://***:***@", 1)  # as proxywhirl's log redaction
            self.chunk.log_urls.append(url if user is None else masked)
        source, list_url = pick(rng, SOURCES)
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
            prefix = pick(rng, IPV6_PREFIXES) << 96 | rng.getrandbits(32) << 64
            host = str(ipaddress.IPv6Address(prefix | rng.getrandbits(40) << 24 | unique))
        else:
            host = f"{pick(rng, FIRST_OCTETS)}.{unique >> 16}.{unique >> 8 & 255}.{unique & 255}"
        if rng.random() < 0.7:
            return host, pick(rng, PORTS[protocol])
        return host, 1024 + int(rng.random() * 64512)

    def credentials(self) -> tuple[str | None, str | None]:
        rng = self.rng
        if rng.random() >= 0.2:
            return None, None
        user = f"{pick(rng, USER_PREFIXES)}{rng.getrandbits(20):x}"
        password = "".join(rng.choices(ALPHANUMERIC, k=12))
        if rng.random() < 0.4:
            password = password[:6] + pick(rng, PASSWORD_TWISTS) + password[6:]
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
        code, country, region, city, latitude, longitude = pick(rng, PLACES)
        if share < 0.17:  # located to the country only
            return code, country, None, None, None, None
        latitude += (rng.random() - 0.5) / 5
        longitude += (rng.random() - 0.5) / 5
        return code, country, region, city, latitude, longitude

    def network(self) -> Row:
        rng = self.rng
        if rng.random() < 0.08:
            return None, None, None, None
        asn, isp_name, datacenter = pick(rng, NETWORKS)
        if rng.random() < 0.05:
            isp_name = pick(rng, ODD_ISP_NAMES)
        return asn, isp_name, not datacenter, datacenter

    def health(self, url: str, discovered: int, found: str) -> None:
        """The proxy_statuses row, and the newest checks behind it."""
        rng = self.rng
        health = HEALTH[bisect(HEALTH_CUMULATIVE, rng.random())]
        if health == "unknown":  # never checked yet
            self.chunk.statuses.append(
                (url, health, None, None, None, 0, 0, 0, 0, None, None, found)
            )
            return
        checks = 1 + int(rng.random() ** 3 * 2000)
        low, high = SUCCESS_RATES.get(health, (0.0, 0.1))
        winning = health == "healthy" or (health == "degraded" and rng.random() < 0.5)
        successes = int(checks * (low + rng.random() * (high - low)))
        successes = min(max(successes, int(winning)), checks - (not winning))
        streak = min(successes if winning else checks - successes, 1 + int(rng.random() * 12))
        last_check = discovered + int(rng.random() * (END_US - discovered))
        checked = sqlite_datetime(last_check)
        before = sqlite_datetime(max(discovered, last_check - streak * CHECK_INTERVAL_US))
        last_success = checked if winning else before if successes else None
        last_failure = (before if successes < checks else None) if winning else checked
        median = LATENCY_MEDIANS_MS[health]
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
                error_type, message, response_ms = pick(rng, CHECK_ERRORS)
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
