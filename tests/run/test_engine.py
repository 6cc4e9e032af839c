"""The engine seam: a plan's partitions, each through the pipeline, their parts committed
under one manifest. These tests cut plans by hand (rows by `id`; test_partitioned.py has
the spec's `engine.partitions`) and read what was written back with readers of their own
(csv, pyarrow, duckdb).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportctl.clock import FakeClock
from exportctl.model import And, Compare, Filter
from exportctl.plan.compiler import ExportPlan, Part, compile_plan
from exportctl.plan.partitions import Partition, partitions_of
from exportctl.run import runner
from exportctl.run.engine import LocalEngine
from exportctl.run.result import Observer, RunResult
from exportctl.spec.load import load_spec

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
ROWS = 120
SPEC = """\
version: 1
name: parts
source: {{type: sql, url: "sqlite:///{db}", chunk_size: 7}}
query: {{table: items, order_by: [id]}}
format: {fmt}
destination: {destination}
"""


def _rows() -> list[tuple[int, str, float]]:
    """Names a CSV writer must quote (commas, quotes, newlines) and one that is not ASCII."""
    names = ["plain", "a,comma", 'a "quote"', "two\nlines", "naïve ☃"]
    return [(i, f"{names[i % len(names)]} {i}", i * 1.25) for i in range(1, ROWS + 1)]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("engine") / "items.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, amount REAL)")
        conn.executemany("INSERT INTO items VALUES (?, ?, ?)", _rows())
    return path


def _plan(folder: Path, db: Path, fmt: str, destination: str) -> ExportPlan:
    spec = folder / "parts.yaml"
    spec.write_text(SPEC.format(db=db, fmt=fmt, destination=destination))
    return compile_plan(load_spec(spec, env={}), now=NOW, run_id="20261207T120000Z-0123456789ab")


def _narrowed(plan: ExportPlan, index: int, where: Filter) -> Partition:
    query = plan.request.query
    narrowed = where if query.where is None else And((query.where, where))
    return Partition(index, replace(plan.request, query=replace(query, where=narrowed)))


def _halves(plan: ExportPlan, cut: int) -> list[Partition]:
    """Rows with `id <= cut`, then the rest: either may be empty."""
    return [
        _narrowed(plan, 0, Compare("id", "le", cut)),
        _narrowed(plan, 1, Compare("id", "gt", cut)),
    ]


def _files(folder: Path) -> set[str]:
    """Every file under `out/`, temporary ones included."""
    return {p.name for p in (folder / "out").rglob("*") if p.is_file()}


def _committed(result: RunResult, role: str) -> list[Path]:
    return [Path(uri) for uri, kind, _, _ in result.files if kind == role]


def test_a_plan_without_partitions_is_one(tmp_path: Path, db: Path) -> None:
    plan = _plan(tmp_path, db, "csv", "out/items.csv")
    assert partitions_of(plan) == [Partition(0, plan.request, plan.replay)]


def test_two_partitions_make_parts_under_one_manifest_read_back_exactly(
    tmp_path: Path, db: Path
) -> None:
    plan = _plan(tmp_path, db, "parquet", "out/items.parquet")
    result = runner.run(plan, clock=FakeClock(NOW), partitions=_halves(plan, 50))
    assert result.status == "succeeded", result.error
    parts = _committed(result, "part")
    assert [p.name for p in parts] == [
        "items.20261207T120000Z-0123456789ab.part-00001.parquet",
        "items.20261207T120000Z-0123456789ab.part-00002.parquet",
    ]
    assert [pq.read_table(p).num_rows for p in parts] == [50, ROWS - 50]
    read = duckdb.sql(
        f"SELECT id, name, amount FROM read_parquet({[str(p) for p in parts]}) ORDER BY id"
    ).fetchall()
    assert read == _rows()
    (manifest,) = _committed(result, "manifest")
    listed = json.loads(manifest.read_text())
    assert [Path(p["uri"]) for p in listed["parts"]] == parts
    assert [p["rows"] for p in listed["parts"]] == [50, ROWS - 50]
    assert listed["rows"] == result.rows == ROWS
    for entry in listed["parts"]:
        assert hashlib.sha256(Path(entry["uri"]).read_bytes()).hexdigest() == entry["sha256"]
    assert _files(tmp_path) == {p.name for p in parts} | {manifest.name}  # nothing temporary


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(-1, ROWS + 1))
def test_csv_parts_concatenated_are_every_row_once_wherever_the_cut(db: Path, cut: int) -> None:
    """A header once, in the first part, which is there even if empty (the header alone);
    a later partition that is empty adds no file."""
    with tempfile.TemporaryDirectory() as folder:
        plan = _plan(Path(folder), db, "csv", "out/items.csv")
        result = runner.run(plan, clock=FakeClock(NOW), partitions=_halves(plan, cut))
        assert result.status == "succeeded", result.error
        parts = _committed(result, "part")
        assert len(parts) == (2 if cut < ROWS else 1)
        text = b"".join(p.read_bytes() for p in parts).decode()
        read = list(csv.reader(io.StringIO(text, newline="")))
        assert read[0] == ["id", "name", "amount"]
        assert [(int(i), n, float(a)) for i, n, a in read[1:]] == _rows()
        assert result.rows == ROWS


def test_a_failing_partition_leaves_nothing_of_the_others(tmp_path: Path, db: Path) -> None:
    """The first partition's committed part is deleted: no export is half there."""
    plan = _plan(tmp_path, db, "jsonl", "out/items.jsonl")
    broken = _narrowed(plan, 1, Compare("no_such_column", "gt", 0))
    first = _halves(plan, 60)[0]
    result = runner.run(plan, clock=FakeClock(NOW), partitions=[first, broken])
    assert result.status == "failed"
    assert "no_such_column" in (result.error or "")
    assert result.rows == 60  # written before the failure, then discarded
    assert _files(tmp_path) == set()


class Recording(Observer):
    wants_total = True

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def restart(self) -> None:
        self.events.append(("restart", None))

    def total(self, rows: int | None) -> None:
        self.events.append(("total", rows))

    def advance(self, rows: int) -> None:
        self.events.append(("advance", rows))

    def committed(self, part: Part) -> None:
        self.events.append(("committed", part.rows))


def test_the_observer_hears_one_attempt_and_the_partitions_summed(tmp_path: Path, db: Path) -> None:
    plan = _plan(tmp_path, db, "jsonl", "out/items.jsonl")
    observer = Recording()
    result = runner.run(plan, observer, FakeClock(NOW), LocalEngine(), _halves(plan, 30))
    assert result.status == "succeeded", result.error
    kinds = [kind for kind, _ in observer.events]
    assert kinds.count("restart") == 1 and kinds[0] == "restart"
    assert [rows for kind, rows in observer.events if kind == "total"] == [ROWS]
    assert sum(rows for kind, rows in observer.events if kind == "advance") == ROWS  # type: ignore[misc]
    assert [rows for kind, rows in observer.events if kind == "committed"] == [30, ROWS - 30]
    lines = [json.loads(line) for p in _committed(result, "part") for line in p.open()]
    assert [(r["id"], r["name"], r["amount"]) for r in lines] == _rows()


def test_the_clock_stamps_the_result(tmp_path: Path, db: Path) -> None:
    """No wall clock is read: the result's times are the injected clock's."""
    plan = _plan(tmp_path, db, "csv", "out/items.csv")
    result = runner.run(plan, clock=FakeClock(NOW))
    assert result.started_at == result.finished_at == NOW.isoformat()
    assert result.seconds == 0.0
    (data,) = _committed(result, "data")
    assert data.name == "items.csv"


class Watching(Recording):
    """Comes to want the row count only after `after` rows (a run watched mid-way)."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    @property
    def wants_total(self) -> bool:  # type: ignore[override]
        return sum(n for kind, n in self.events if kind == "advance") > self.after  # type: ignore[misc]


class NotWatching(Recording):
    wants_total = False


def test_the_count_is_asked_when_the_observer_comes_to_want_it(tmp_path: Path, db: Path) -> None:
    """Whenever it comes to want it (in the first partition, in the second, or never),
    the observer hears the partitions' total once: counted, or the rows read."""
    plan = _plan(tmp_path, db, "jsonl", "out/items.jsonl")
    early, late, idle = Watching(0), Watching(40), NotWatching()
    for observer in (early, late, idle):
        result = runner.run(plan, observer, FakeClock(NOW), LocalEngine(), _halves(plan, 30))
        assert result.status == "succeeded", result.error
        assert [rows for kind, rows in observer.events if kind == "total"] == [ROWS]
    kinds = [kind for kind, _ in early.events]
    assert kinds.index("total") > kinds.index("advance")  # asked only once it was wanted
    last_advance = max(i for i, (kind, _) in enumerate(idle.events) if kind == "advance")
    assert idle.events.index(("total", ROWS)) > last_advance  # no count: the rows read
