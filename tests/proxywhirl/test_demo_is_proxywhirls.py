"""`exportctl demo init` writes what proxywhirl 0.3.3 itself reads: its own code opens the
demo's pool, both cache tiers and settings, and decrypts every credential."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from exportctl.demo.build import DemoSummary, init_demo
from tests.conftest import demo_env

READER = Path(__file__).with_name("read_installation.py")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    return init_demo(tmp_path_factory.mktemp("demo") / "demo", proxies=400, metrics=60, seed=3)


@pytest.fixture(scope="module")
def read_by_proxywhirl(proxywhirl_python: Path, made: DemoSummary) -> dict[str, Any]:
    env = {**os.environ, **demo_env(made.target)}
    done = subprocess.run(
        [str(proxywhirl_python), str(READER), str(made.target)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def stored_pool(made: DemoSummary) -> dict[str, tuple[str | None, str | None]]:
    with sqlite3.connect(made.database) as db:
        rows = db.execute("SELECT url, username, password FROM proxy_identities").fetchall()
    db.close()
    return {url: (user, password) for url, user, password in rows}


def test_proxywhirl_loads_the_pool_and_decrypts_every_credential(
    made: DemoSummary, read_by_proxywhirl: dict[str, Any]
) -> None:
    stored = stored_pool(made)
    pool = {row["url"]: row for row in read_by_proxywhirl["pool"]}

    assert pool.keys() == stored.keys() and len(pool) == made.proxies
    encrypted = [url for url, (user, _) in stored.items() if user is not None]
    assert len(encrypted) > 20
    for url in encrypted:  # proxywhirl answers None for a credential it cannot decrypt
        assert pool[url]["username"] is not None and pool[url]["password"] is not None, url
    for url in stored.keys() - set(encrypted):
        assert pool[url]["username"] is None


@pytest.mark.parametrize("tier", ["l3", "l2"])
def test_proxywhirl_reads_both_cache_tiers_with_the_pools_credentials(
    made: DemoSummary, read_by_proxywhirl: dict[str, Any], tier: str
) -> None:
    pool = {row["url"]: row for row in read_by_proxywhirl["pool"]}
    entries = read_by_proxywhirl[tier]

    assert len(entries) == made.cache_entries > 0
    with_credentials = 0
    for entry in entries:
        proxy = pool[entry["proxy_url"]]
        assert (entry["username"], entry["password"]) == (proxy["username"], proxy["password"])
        assert entry["health_status"] == proxy["health_status"]
        with_credentials += entry["username"] is not None
    assert with_credentials > 0


def test_proxywhirl_loads_the_settings_and_the_health_history_is_its_table(
    made: DemoSummary, read_by_proxywhirl: dict[str, Any]
) -> None:
    settings = read_by_proxywhirl["settings"]
    assert settings["storage_backend"] == "sqlite"
    assert settings["cache_l3_db_path"] == "cache/db/proxywhirl.db"
    # proxywhirl opened the L3 database: its CREATE TABLE IF NOT EXISTS found ours as its own.
    with sqlite3.connect(made.target / "cache" / "db" / "proxywhirl.db") as db:
        checks = db.execute("SELECT count(*), min(typeof(check_time)) FROM health_history")
        assert checks.fetchone() == (made.health_checks, "real")
    db.close()
