"""`plan` on a partitioned spec: the ranges are computed at run time, and shown only when
`--count` may ask the source for its key's bounds."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import jsonschema
from click.testing import CliRunner

from exportctl.cli.main import main
from tests.paths import REPO

SPEC = """\
version: 1
name: cut
source: {{type: sql, url: "sqlite:///{db}"}}
query: {{table: items}}
format: csv
destination: out/items.csv
engine: {{partitions: {{by: id, count: 4}}}}
"""


def _plan(tmp_path: Path, *flags: str) -> dict[str, Any]:
    db = tmp_path / "items.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER, name TEXT)")
        conn.execute("DELETE FROM items")
        conn.executemany("INSERT INTO items VALUES (?, ?)", [(i, "x") for i in range(1, 101)])
    spec = tmp_path / "cut.yaml"
    spec.write_text(SPEC.format(db=db))
    result = CliRunner().invoke(main, ["plan", *flags, str(spec), "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    schema = json.loads((REPO / "schemas" / "cli" / "plan.json").read_text())
    jsonschema.validate(shown, schema)
    (plan,) = shown
    return dict(plan["engine"])


def test_plan_says_the_ranges_are_computed_at_run_time(tmp_path: Path) -> None:
    engine = _plan(tmp_path)
    assert engine == {
        "type": "local",
        "partitions": {"by": "id", "count": 4},
        "ranges": "computed at run time from the key's bounds (plan --count asks the source)",
    }


def test_plan_count_shows_the_ranges_from_the_sources_bounds(tmp_path: Path) -> None:
    engine = _plan(tmp_path, "--count")
    assert engine["ranges"] == [
        "id IS NULL",
        "id < 26",
        "26 <= id < 51",
        "51 <= id < 76",
        "76 <= id",
    ]
