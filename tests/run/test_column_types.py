"""A column's type never depends on where a chunk boundary falls (issue 14 §2).

A SQLite column without a declared type holds whatever each row stored. The property
test draws such a column, exports it whole through the real pipeline in every format
at several chunk sizes, and reads each file back with an independent reader: the
outcome is the same at every chunk size (the same bytes; for Parquet the same schema
and values), and either the values come back exactly in the one type the rule gives
(integers; integers and reals as floats; text; NULL throughout as text), or the run
fails naming the column and nothing is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportctl.clock import FakeClock
from exportctl.plan.compiler import compile_plan
from exportctl.run import runner
from exportctl.run.result import RunResult
from exportctl.sources.sql import sqlite_arrow
from exportctl.spec.load import load_spec

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
FORMATS = ("csv", "jsonl", "json", "yaml", "parquet")
CHUNK_SIZES = (1, 2, 100)

ints = st.one_of(st.integers(-5, 5), st.integers(-(2**63), 2**63 - 1))
floats = st.floats(allow_nan=False)  # SQLite stores NaN as NULL
texts = st.one_of(
    st.sampled_from(["5", "2.5", "null", "true", "x", "1e3", " "]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=5),
)
nulls = st.lists(st.none(), min_size=1, max_size=4)


@st.composite
def columns(draw: st.DrawFn) -> list[Any]:
    """Runs of NULLs and values of one kind, or of several (a mixed column)."""
    kinds = draw(st.sampled_from([[ints], [floats], [texts], [ints, floats], [ints, texts]]))
    runs = draw(st.lists(st.one_of(nulls, st.lists(st.one_of(*kinds), max_size=4)), max_size=4))
    return [value for run in runs for value in run]


#: A field's declared `type`, the Python type it reads, and the kinds of values it takes.
DECLARED_READS = {"string": (str, {str}), "integer": (int, {int}), "float": (float, {int, float})}


def expected_type(values: list[Any], declared: str | None = None) -> type | None:
    """The rule: the one type the column's values share (or its declared type reads;
    validation skips the rows of another kind), or None where the run must fail."""
    kinds = {type(v) for v in values if v is not None}
    exact = all(abs(v) <= 2**53 for v in values if type(v) is int)
    if declared is not None:
        kind = DECLARED_READS[declared][0]
        return kind if kind is not float or exact else None
    if kinds <= {int, float} and float in kinds:
        return float if exact else None
    return kinds.pop() if len(kinds) == 1 else (str if not kinds else None)


@contextmanager
def arrow_path(on: bool) -> Iterator[None]:
    before = os.environ.get(sqlite_arrow.SWITCH)
    os.environ[sqlite_arrow.SWITCH] = "1" if on else "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ[sqlite_arrow.SWITCH]
        else:
            os.environ[sqlite_arrow.SWITCH] = before


def export(
    folder: Path, fmt: str, chunk_size: int, query: dict[str, Any], declared: str | None = None
) -> RunResult:
    spec = folder / f"spec-{chunk_size}.yaml"
    doc: dict[str, Any] = {
        "version": 1,
        "name": "typed",
        "source": {"type": "sql", "url": "sqlite:///t.db", "chunk_size": chunk_size},
        "query": {**query, "order_by": ["k"]},
        "format": fmt,
        "destination": f"out-{chunk_size}/t.{fmt}",
    }
    if declared is not None:  # rows of another kind are invalid: skipped
        doc["fields"] = ["k", {"name": "v", "type": declared}]
        doc["validation"] = {"on_invalid": "skip"}
    spec.write_text(json.dumps(doc))
    plan = compile_plan(load_spec(spec), now=NOW, run_id=f"r{chunk_size}")
    return runner.run(plan, clock=FakeClock(NOW))


def read_back(data: bytes, fmt: str) -> tuple[list[Any], str | None]:
    """The column `v` as an independent reader reads it, and its Parquet type."""
    if fmt == "parquet":
        table = pq.read_table(io.BytesIO(data))
        return table.column("v").to_pylist(), str(table.schema.field("v").type)
    if fmt == "csv":
        return [row["v"] for row in csv.DictReader(io.StringIO(data.decode(), newline=""))], None
    if fmt == "jsonl":
        return [json.loads(line)["v"] for line in data.decode().splitlines()], None
    rows = json.loads(data) if fmt == "json" else yaml.safe_load(data)
    return [row["v"] for row in rows or []], None


def same_value(got: Any, want: Any, kind: type, fmt: str) -> bool:
    if want is None:
        return got in (None, "") if fmt == "csv" else got is None
    if fmt == "csv":  # text: compare as the reader would parse the declared kind
        return (kind(got) == want) if kind is not float else float(got) == float(want)
    if kind is float:
        if fmt in ("json", "jsonl") and isinstance(got, str):  # ±Infinity as text
            return float(got) == float(want)
        same_sign = math.copysign(1, got) == math.copysign(1, want)
        return type(got) is float and got == float(want) and same_sign
    return type(got) is kind and got == want


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    values=columns(),
    fmt=st.sampled_from(FORMATS),
    raw_sql=st.booleans(),
    fast=st.booleans(),
    declared=st.one_of(st.none(), st.sampled_from(sorted(DECLARED_READS))),
)
def test_a_columns_type_does_not_depend_on_the_chunk_size(
    values: list[Any], fmt: str, raw_sql: bool, fast: bool, declared: str | None
) -> None:
    with tempfile.TemporaryDirectory() as name, arrow_path(fast):
        folder = Path(name)
        with sqlite3.connect(folder / "t.db") as db:
            db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v)")  # v: no declared type
            db.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(values)))
        db.close()
        query = {"sql": "SELECT k, v FROM t"} if raw_sql else {"table": "t"}
        outcomes = []
        for size in CHUNK_SIZES:
            result = export(folder, fmt, size, query, declared)
            written = folder / f"out-{size}" / f"t.{fmt}"
            if result.status != "succeeded":
                assert result.error is not None and "`v`" in result.error, result.error
                assert not written.exists()
                outcomes.append(("failed", result.error))
                continue
            got, arrow_type = read_back(written.read_bytes(), fmt)
            data = None if fmt == "parquet" else written.read_bytes()  # row groups differ
            outcomes.append(("succeeded", got, arrow_type, data))
        assert all(o == outcomes[0] for o in outcomes), outcomes
        kind = expected_type(values, declared)
        if declared is not None:  # the rows validation keeps
            takes = DECLARED_READS[declared][1]
            values = [v for v in values if v is None or type(v) in takes]
        if kind is None:
            assert outcomes[0][0] == "failed", (values, outcomes[0])
            return
        assert outcomes[0][0] == "succeeded", outcomes[0]
        got, arrow_type = outcomes[0][1], outcomes[0][2]
        assert len(got) == len(values)
        assert all(same_value(g, w, kind, fmt) for g, w in zip(got, values, strict=True)), got
        if fmt == "parquet":
            wanted = {int: pa.int64(), float: pa.float64(), str: pa.string()}[kind]
            assert arrow_type == str(wanted)


@pytest.mark.parametrize("chunk_size", [1, 2, 4])
def test_nulls_then_numbers_are_numbers_in_parquet(tmp_path: Path, chunk_size: int) -> None:
    """The issue's smallest case: [NULL, NULL, 5, 6] with a chunk of two was text."""
    with sqlite3.connect(tmp_path / "t.db") as db:
        db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v)")
        db.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate([None, None, 5, 6])))
    db.close()
    result = export(tmp_path, "parquet", chunk_size, {"sql": "SELECT k, v FROM t"})
    assert result.status == "succeeded", result.error
    table = pq.read_table(tmp_path / f"out-{chunk_size}" / "t.parquet")
    assert table.schema.field("v").type == pa.int64()
    assert table.column("v").to_pylist() == [None, None, 5, 6]


def make_untyped(path: Path, rows: list[tuple[Any, ...]]) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE u (k INTEGER PRIMARY KEY, f, b, ts, n)")  # none typed
        db.executemany("INSERT INTO u VALUES (?, ?, ?, ?, ?)", rows)
    db.close()


def export_fields(
    folder: Path, fields: list[Any], chunk_size: int, fmt: str, on_invalid: str = "fail"
) -> RunResult:
    doc = {
        "version": 1,
        "name": "declared",
        "source": {"type": "sql", "url": "sqlite:///u.db", "chunk_size": chunk_size},
        "query": {"sql": "SELECT * FROM u", "order_by": ["k"]},
        "fields": fields,
        "format": fmt,
        "destination": f"out-{chunk_size}.{fmt}",
        "validation": {"on_invalid": on_invalid},
    }
    (folder / "spec.yaml").write_text(json.dumps(doc))
    plan = compile_plan(load_spec(folder / "spec.yaml"), now=NOW, run_id=f"d{chunk_size}")
    return runner.run(plan, clock=FakeClock(NOW))


DECLARED = [
    "k",
    {"name": "f", "type": "float"},
    {"name": "b", "type": "boolean"},
    {"name": "ts", "type": "timestamp"},
    {"name": "n", "type": "integer"},
]


@pytest.mark.parametrize("chunk_size", [1, 100])
def test_a_declared_type_reads_an_untyped_column(tmp_path: Path, chunk_size: int) -> None:
    """`fields: [{name, type}]` types what the database cannot: ints and reals as floats,
    0/1 as booleans, stored text as UTC timestamps, NULL throughout as integers."""
    make_untyped(
        tmp_path / "u.db",
        [
            (0, None, None, None, None),
            (1, 1, 0, "2024-01-02 03:04:05.000006", None),
            (2, 2.5, 1, None, None),
        ],
    )
    result = export_fields(tmp_path, DECLARED, chunk_size, "parquet")
    assert result.status == "succeeded", result.error
    table = pq.read_table(tmp_path / f"out-{chunk_size}.parquet")
    utc = pa.timestamp("us", tz="UTC")
    assert [f.type for f in table.schema] == [pa.int64(), pa.float64(), pa.bool_(), utc, pa.int64()]
    assert table.column("f").to_pylist() == [None, 1.0, 2.5]
    assert table.column("b").to_pylist() == [None, False, True]
    stamp = dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    assert table.column("ts").to_pylist() == [None, stamp, None]


@pytest.mark.parametrize("chunk_size", [1, 100])
@pytest.mark.parametrize(
    ("column", "value", "declared", "why"),
    [
        ("f", "x", "float", "f: 'x' is not a number"),
        ("n", "7", "integer", "n: '7' is not an integer"),
        ("b", 2.5, "boolean", "column `b` is declared `boolean` but holds real values"),
        ("ts", 5, "timestamp", "column `ts` is declared `timestamp` but holds integer values"),
    ],
)
def test_a_value_its_declared_type_cannot_read_fails_before_writing(
    tmp_path: Path, chunk_size: int, column: str, value: Any, declared: str, why: str
) -> None:
    """A value of another kind in a `string`, `integer` or `number` column is an invalid
    row (the `type` check); one a boolean, timestamp or date column cannot read fails the
    source. Either way, at every chunk size, nothing is written."""
    row = dict.fromkeys(("f", "b", "ts", "n"))
    make_untyped(
        tmp_path / "u.db", [(0, None, None, None, None), (1, *{**row, column: value}.values())]
    )
    fields = ["k", {"name": column, "type": declared}]
    result = export_fields(tmp_path, fields, chunk_size, "jsonl")
    assert result.status == "failed"
    assert why in (result.error or ""), result.error
    assert not (tmp_path / f"out-{chunk_size}.jsonl").exists()


@pytest.mark.parametrize("chunk_size", [1, 2, 100])
def test_rows_of_another_kind_are_quarantined_and_the_rest_typed(
    tmp_path: Path, chunk_size: int
) -> None:
    """`validation: {on_invalid: quarantine}` takes a declared integer column's reals and
    text; the rows kept are integers in every chunk, also one that holds only NULLs."""
    make_untyped(
        tmp_path / "u.db",
        [(0, None, None, None, None), (1, None, None, None, 2.5), (2, None, None, None, 7)]
        + [(3, None, None, None, "x"), (4, None, None, None, None), (5, None, None, None, 8)],
    )
    spec_doc = {"name": "n", "type": "integer"}
    result = export_fields(tmp_path, ["k", spec_doc], chunk_size, "parquet", "quarantine")
    assert result.status == "succeeded", result.error
    assert result.invalid_rows == 2
    table = pq.read_table(tmp_path / f"out-{chunk_size}.parquet")
    assert table.schema.field("n").type == pa.int64()
    assert table.column("n").to_pylist() == [None, 7, None, 8]
    quarantined = (tmp_path / f"out-{chunk_size}.parquet.quarantine.jsonl").read_text()
    assert [json.loads(line)["row"]["n"] for line in quarantined.splitlines()] == [2.5, "x"]


@pytest.mark.parametrize("chunk_size", [1, 100])
def test_text_a_declared_timestamp_cannot_read_is_named(tmp_path: Path, chunk_size: int) -> None:
    make_untyped(
        tmp_path / "u.db", [(0, None, None, "2024-01-02", None), (1, None, None, "soon", None)]
    )
    result = export_fields(tmp_path, ["k", {"name": "ts", "type": "timestamp"}], chunk_size, "csv")
    assert result.status == "failed"
    assert "`ts`" in (result.error or "") and "soon" in (result.error or ""), result.error
    assert not (tmp_path / f"out-{chunk_size}.csv").exists()


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("chunk_size", [1, 2, 100])
def test_a_value_its_declared_column_cannot_hold_is_named(
    tmp_path: Path, chunk_size: int, fast: bool
) -> None:
    """An INTEGER column holding text (SQLite allows it) fails at every chunk size, on
    either read path, naming the column, and never quoting the value (a secret, maybe)."""
    with sqlite3.connect(tmp_path / "t.db") as db:
        db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER)")
        db.executemany("INSERT INTO t VALUES (?, ?)", [(0, 1), (1, 2), (2, "hunter2"), (3, 4)])
    db.close()
    with arrow_path(fast):
        result = export(tmp_path, "jsonl", chunk_size, {"table": "t"})
    assert result.status == "failed"
    assert "column `v`" in (result.error or "") and "hunter2" not in (result.error or "")
    assert not (tmp_path / f"out-{chunk_size}" / "t.jsonl").exists()
