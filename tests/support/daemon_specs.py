"""Specs with schedules, as the daemon tests give them: a quick export of a small table
(`items`, in data.db beside the specs' folder), or a query that takes a while."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def make_db(folder: Path, rows: int = 20) -> Path:
    db = folder / "data.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO items VALUES (?, ?)", [(i, f"n{i}") for i in range(rows)])
    return db


def write_scheduled_spec(
    folder: Path, name: str, *, every: str = "every 10 seconds", extra: str = ""
) -> Path:
    folder.mkdir(exist_ok=True)
    db = folder.parent / "data.db"
    if not db.exists():
        make_db(folder.parent)
    path = folder / f"{name}.yaml"
    path.write_text(
        f"version: 1\nname: {name}\ndescription: A test export.\n"
        f"source: {{type: sql, url: 'sqlite:///{db}'}}\n"
        "query: {table: items}\nformat: csv\n"
        f"destination: '../out/{name}-{{{{ run.id }}}}.csv'\n"
        f"schedule: {{every: {every}{extra}}}\n"
    )
    return path


# Long enough (about 25 s) that SIGTERM, sent some seconds in, always lands mid-export.
SLOW_SQL = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000)"
    " SELECT x, 'a line of text' AS y FROM c"
)
