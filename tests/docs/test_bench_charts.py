"""bench/charts.py finds, in docs/benchmarks.md as the bench scripts write it, its tables."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.paths import REPO

ROOT = REPO
spec = importlib.util.spec_from_file_location("bench_charts", ROOT / "bench" / "charts.py")
assert spec and spec.loader
charts = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = charts  # dataclasses look their module up there
spec.loader.exec_module(charts)

# Each chart's table (by the heading it follows) and the columns it reads as numbers.
NEEDED = {
    "Exports at scale": ("seconds", "rows/s", "peak RSS MiB"),
    "Codecs": ("MiB/s", "% smaller"),
    "Daemon: start lateness, SQLite": ("p50 s", "p90 s", "p99 s", "max s"),
    "Daemon: start lateness, PostgreSQL": ("p50 s", "p90 s", "p99 s", "max s"),
}


@pytest.mark.parametrize("heading", NEEDED)
def test_the_page_holds_each_charted_table_with_numbers(heading: str) -> None:
    found = charts.tables((ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8"))
    table = charts.table_under(found, heading)
    assert table.rows
    for row in table.rows:
        for column in NEEDED[heading]:
            assert charts.number(row[column]) is not None, (heading, column, row)


def test_numbers_read_as_the_tables_write_them() -> None:
    assert charts.number("1,166,667") == 1166667
    assert charts.number("70.9%") == 70.9
    assert charts.number("2.99×") == 2.99
    assert charts.number("–") is None


def test_every_chart_the_page_shows_is_committed() -> None:
    page = (ROOT / "docs" / "benchmark-charts.md").read_text(encoding="utf-8")
    charted = ("exports-seconds", "exports-rows-per-second", "exports-memory", "codecs")
    for name in (*charted, "daemon-lateness"):
        assert f"img/bench-{name}.png" in page
        assert (ROOT / "docs" / "img" / f"bench-{name}.png").stat().st_size > 0
