"""`plan` opens no source unless `--count` asks it how many rows the export would hold."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from exportctl.cli.describe import NOT_COUNTED
from exportctl.cli.main import main

SPEC = """\
version: 1
name: pool
source: {{type: sql, url: "{url}"}}
query: {{table: proxies, where: {{field: port, lt: 1000}}}}
format: csv
destination: out.csv
"""


def plan(spec: Path, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["plan", str(spec), "--json", *args])
    assert result.exit_code == 0, result.output
    (described,) = json.loads(result.stdout)
    return described


def write_spec(folder: Path, url: str) -> Path:
    spec = folder / "pool.yaml"
    spec.write_text(SPEC.format(url=url))
    return spec


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    """A SQLite pool of 7 proxies, 4 of them on a port under 1000."""
    path = tmp_path / "pool.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE proxies (url TEXT, port INTEGER)")
        ports = [80, 443, 8080, 999, 3128, 1, 1080]
        db.executemany("INSERT INTO proxies VALUES (?, ?)", [(f"p{p}", p) for p in ports])
    db.close()
    return path


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///{missing}",  # opening it, even read-only, would fail
        "postgresql+psycopg://exporter@127.0.0.1:1/proxywhirl",  # nothing listens on port 1
    ],
    ids=["sqlite-file-missing", "postgresql-port-closed"],
)
def test_without_count_plan_opens_no_source(tmp_path: Path, url: str) -> None:
    missing = tmp_path / "no-such.db"
    spec = write_spec(tmp_path, url.format(missing=missing))

    described = plan(spec)
    counted = plan(spec, "--count")

    assert "FROM proxies" in described["source"]["sql"]  # described from the spec alone
    assert described["estimated_rows"] is None
    assert described["estimated_rows_note"] == NOT_COUNTED
    # Asked to count, the same source is opened, and cannot be.
    assert counted["estimated_rows"] is None
    assert counted["estimated_rows_note"].startswith("unknown: ")
    assert not missing.exists()


def test_count_asks_the_source_for_the_rows_the_export_would_hold(
    tmp_path: Path, pool: Path
) -> None:
    spec = write_spec(tmp_path, f"sqlite:///{pool}")

    counted = plan(spec, "--count")

    assert counted["estimated_rows"] == 4
    assert "estimated_rows_note" not in counted
    assert plan(spec, "--no-count")["estimated_rows"] is None
    assert not (tmp_path / "out.csv").exists()


def test_a_source_that_counts_only_by_reading_says_so(tmp_path: Path) -> None:
    (tmp_path / "pool.jsonl").write_text('{"port": 80}\n{"port": 8080}\n')
    spec = tmp_path / "files.yaml"
    spec.write_text(
        "version: 1\nname: files\nsource: {type: files, path: pool.jsonl}\n"
        "format: csv\ndestination: out.csv\n"
    )

    counted = plan(spec, "--count")

    assert counted["estimated_rows"] is None
    assert counted["estimated_rows_note"] == (
        "not counted: a `files` source counts only by reading every row"
    )


def test_human_plan_shows_the_count_it_was_asked_for(tmp_path: Path, pool: Path) -> None:
    spec = write_spec(tmp_path, f"sqlite:///{pool}")

    shown = CliRunner().invoke(main, ["plan", str(spec), "--count"])
    not_counted = CliRunner().invoke(main, ["plan", str(spec)])

    assert shown.exit_code == not_counted.exit_code == 0
    assert "estimated_rows: 4" in shown.stdout
    assert f"estimated_rows_note: {NOT_COUNTED}" in not_counted.stdout
