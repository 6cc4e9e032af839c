"""A ledger read as another process would (plain sqlite3), and the runs and pids found in it."""

from __future__ import annotations

import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path
from typing import Any

from tests.support.waiting import eventually


def ledger_file(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the ledger with plain sqlite3, as another process would; [] while it is not there."""
    try:
        with closing(sqlite3.connect(f"file:{ledger_file(url)}?mode=ro", uri=True)) as db:
            return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []


def running_run(url: str, spec: str, process: subprocess.Popen[str]) -> str:
    """The id of `spec`'s run once it has reported rows, the process still at it."""

    def probe() -> str | None:
        assert process.poll() is None, f"the export ended early: {process.communicate()}"
        sql = "SELECT id FROM runs WHERE spec = ? AND status = 'running' AND rows > 0"
        found = query(url, sql, spec)
        return found[0][0] if found else None

    return eventually(probe, f"a running run of {spec} with rows")


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid
