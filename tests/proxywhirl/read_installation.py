"""Read an installation with proxywhirl's own code; runs in proxywhirl's venv.

Usage: python read_installation.py ROOT. Prints one JSON document: the pool as
SQLiteStorage.load() gives it (credentials decrypted), the L3 and L2 cache entries as
proxywhirl's tiers read them (credentials decrypted), and the settings CLIConfig loads
from pyproject.toml. Keys come from PROXYWHIRL_CACHE_ENCRYPTION_KEY and
PROXYWHIRL_CACHE_KEY_PREVIOUS, as proxywhirl reads them.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from loguru import logger
from proxywhirl.cache.crypto import CredentialEncryptor
from proxywhirl.cache.models import CacheTierConfig
from proxywhirl.cache.tiers import JsonlCacheTier, SQLiteCacheTier, TierType
from proxywhirl.config import load_config
from proxywhirl.storage import SQLiteStorage


def secret(value: Any) -> str | None:
    return None if value is None else value.get_secret_value()


async def pool(root: Path) -> list[dict[str, Any]]:
    storage = SQLiteStorage(root / "system.db")
    rows = await storage.load()
    await storage.close()
    keep = ("url", "username", "password", "health_status", "avg_response_time_ms")
    return [{k: row[k] for k in keep} for row in rows]


def cache(tier: Any) -> list[dict[str, Any]]:
    entries = []
    for key in sorted(tier.keys()):
        entry = tier.get(key)
        entries.append(
            {
                "key": key,
                "proxy_url": entry.proxy_url,
                "username": secret(entry.username),
                "password": secret(entry.password),
                "health_status": entry.health_status.value,
            }
        )
    return entries


def main() -> None:
    logger.remove()
    root = Path(sys.argv[1])
    encryptor = CredentialEncryptor()
    config = CacheTierConfig()
    l3 = SQLiteCacheTier(config, TierType.L3_SQLITE, root / "cache/db/proxywhirl.db", encryptor)
    l2 = JsonlCacheTier(config, TierType.L2_FILE, root / "cache/proxies", encryptor=encryptor)
    settings = load_config(root / "pyproject.toml").model_dump(mode="json")
    document = {
        "pool": asyncio.run(pool(root)),
        "l3": cache(l3),
        "l2": cache(l2),
        "settings": settings,
    }
    print(json.dumps(document))


if __name__ == "__main__":
    main()
