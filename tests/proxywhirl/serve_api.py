"""Serve proxywhirl's REST API on its own pool; runs in proxywhirl's venv.

Usage: python serve_api.py HOST PORT
  PROXYWHIRL_STORAGE_PATH (optional) names the pool's system.db;
  SERVE_API_RETRIES="PROXY_URL COUNT" (optional) has the API's rotator record COUNT
  requests' retries, each sent through the HTTP proxy at PROXY_URL.

proxywhirl 0.3.3's start-up, given PROXYWHIRL_STORAGE_PATH, hands SQLiteStorage.load()'s
dicts to ProxyWhirl.add_proxy, which takes Proxy objects: the first dict breaks every
GET /api/v1/proxies (500). And POST /api/v1/proxies is limited to 10 a minute. So this
starts the app without it and, inside the app's own lifespan (Starlette's public
`router.lifespan_context`), adds the stored pool as Proxy objects to the rotator that
`get_rotator()` (the API's own dependency) returns.

Retries: the API's own POST /api/v1/request retries without recording them (and refuses
loopback targets), and the rotator's requests would go through the pool's proxies, which
are not on this machine. So the requests go through proxywhirl's retry manager
(`rotator.retry_executor`'s public `execute_with_retry`, recording into the rotator's
`retry_metrics`, which GET /api/v1/metrics/retries/* read), through a proxy on loopback
that refuses some of them; then `aggregate_hourly()`, which the rotator's own timer runs
every 5 minutes, makes them the hourly time series. Everything else is proxywhirl's.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import httpx
import uvicorn
from proxywhirl.api import core
from proxywhirl.models import Proxy
from proxywhirl.retry import RetryExecutor, RetryPolicy
from proxywhirl.storage import SQLiteStorage
from pydantic import SecretStr

STORAGE = os.environ.pop("PROXYWHIRL_STORAGE_PATH", None)
RETRIES = os.environ.pop("SERVE_API_RETRIES", None)
serve = core.app.router.lifespan_context


async def load_pool(rotator: Any, path: str) -> None:
    storage = SQLiteStorage(path)
    for row in await storage.load():  # credentials decrypted by proxywhirl
        user, password = row["username"], row["password"]
        rotator.add_proxy(
            Proxy(
                url=row["url"],
                username=SecretStr(user) if user is not None else None,
                password=SecretStr(password) if password is not None else None,
                country_code=row["country_code"],
            )
        )
    await storage.close()


def record_retries(rotator: Any, proxy_url: str, count: int) -> None:
    """`count` GETs through the proxy, each retried by proxywhirl until it succeeds."""
    policy = RetryPolicy(max_attempts=5, base_delay=0.01, max_backoff_delay=0.05)
    executor = RetryExecutor(policy, rotator.circuit_breakers, rotator.get_retry_metrics())
    proxy = Proxy(url=proxy_url, allow_local=True)  # proxywhirl's own switch for loopback
    with httpx.Client(proxy=proxy_url, timeout=10) as client:
        for number in range(count):
            url = f"http://retries.invalid/{number}"  # answered by the proxy itself
            executor.execute_with_retry(partial(client.get, url), proxy, "GET", url)
    rotator.get_retry_metrics().aggregate_hourly()


@asynccontextmanager
async def with_stored_pool(app: Any) -> AsyncIterator[None]:
    async with serve(app):
        rotator = core.get_rotator()
        if STORAGE:
            await load_pool(rotator, STORAGE)
        if RETRIES:
            proxy_url, count = RETRIES.split()
            await asyncio.to_thread(record_retries, rotator, proxy_url, int(count))
        yield


core.app.router.lifespan_context = with_stored_pool
uvicorn.run(core.app, host=sys.argv[1], port=int(sys.argv[2]), log_level="warning")
