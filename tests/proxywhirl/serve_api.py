"""Serve proxywhirl's REST API on its own pool; runs in proxywhirl's venv.

Usage: python serve_api.py HOST PORT  (PROXYWHIRL_STORAGE_PATH names system.db)

proxywhirl 0.3.3's start-up, given PROXYWHIRL_STORAGE_PATH, hands SQLiteStorage.load()'s
dicts to ProxyWhirl.add_proxy, which takes Proxy objects: the first dict breaks every
GET /api/v1/proxies (500). And POST /api/v1/proxies is limited to 10 a minute. So this
starts the app without it and, inside the app's own lifespan (Starlette's public
`router.lifespan_context`), adds the stored pool as Proxy objects to the rotator that
`get_rotator()` (the API's own dependency) returns. Everything else is proxywhirl's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from proxywhirl.api import core
from proxywhirl.models import Proxy
from proxywhirl.storage import SQLiteStorage
from pydantic import SecretStr

STORAGE = os.environ.pop("PROXYWHIRL_STORAGE_PATH")
serve = core.app.router.lifespan_context


@asynccontextmanager
async def with_stored_pool(app: Any) -> AsyncIterator[None]:
    async with serve(app):
        storage = SQLiteStorage(STORAGE)
        rotator = core.get_rotator()
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
        yield


core.app.router.lifespan_context = with_stored_pool
uvicorn.run(core.app, host=sys.argv[1], port=int(sys.argv[2]), log_level="warning")
