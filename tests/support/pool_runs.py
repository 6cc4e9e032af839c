"""The demo's proxy pool as a test subject: a spec exporting it, a big one, apply in this
process or in one of its own, and the ledger read as another process would."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from exportctl.cli import main as cli
from exportctl.demo.build import init_demo

BIG = 300_000


def write_pool_spec(folder: Path, name: str, db: Path | str, **overrides: Any) -> Path:
    """A spec exporting the demo pool as JSON lines to folder/out/NAME.jsonl."""
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    spec: dict[str, Any] = {
        "version": 1,
        "name": name,
        "source": {"type": "sql", "url": url},
        "query": {"table": "proxy_identities"},
        "format": "jsonl",
        "destination": str(folder / "out" / f"{name}.jsonl"),
        **overrides,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def multiply_proxies(db: Path, copies: int) -> int:
    """Repeat every proxy `copies` times (URLs kept unique), so an export takes seconds."""
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        columns = [row[1] for row in conn.execute("PRAGMA table_info(proxy_identities)")]
        select = ", ".join("url || '#' || copy.n" if c == "url" else c for c in columns)
        conn.execute(
            f"INSERT INTO proxy_identities SELECT {select} FROM proxy_identities, "
            f"(WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {copies})"
            " SELECT n FROM c) AS copy"
        )
        conn.commit()
        return conn.execute("SELECT count(*) FROM proxy_identities").fetchone()[0]


def big_demo(factory: pytest.TempPathFactory, rows: int) -> Path:
    """A demo database whose pool holds `rows` proxies; built in a second, not in ten, and
    once per test session (every module asking for it gets the same file)."""
    root = factory.getbasetemp() / f"demo-{rows}"
    if not root.exists():
        building = factory.mktemp(f"building-demo-{rows}")
        init_demo(building, proxies=1000, metrics=10, log_lines=10)
        assert multiply_proxies(building / "system.db", rows // 1000 - 1) == rows
        building.rename(root)
    return root / "system.db"


def apply_here(*args: str) -> Result:
    """`exportctl apply`, in this process."""
    return CliRunner().invoke(cli.main, ["apply", *args], catch_exceptions=False)


def start_apply(*args: str) -> subprocess.Popen[str]:
    """`exportctl apply` in a process of its own, sharing this test's ledger; its row
    count asked at once (EXPORTCTL_COUNT_AFTER), for `status` to show a percentage."""
    return subprocess.Popen(
        [sys.executable, "-m", "exportctl", "apply", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "EXPORTCTL_COUNT_AFTER": "0"},
    )
