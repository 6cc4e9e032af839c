"""Golden cases as data: each file of `tests/cases/golden/<kind>/` is one export, run for real.

A case holds a table (SQLite column types and rows), a spec fragment laid over a base spec
that reads that table, and what must come out: the exact bytes, the values read back by a
reader that shares no code with exportctl (`json`, `csv`, `yaml.safe_load`, pyarrow), the
`id` of each row kept, or the redaction counts the run reports. A filter case runs twice: as
SQL in SQLite, and over a Parquet copy of the table (the `files` source filters in pandas).
The case format is described in `tests/README.md`.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import math
import sqlite3
import zipfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
import zstandard

from exportctl.plan.compiler import compile_plan
from exportctl.run import runner
from exportctl.spec.load import load_spec
from tests.paths import CASES

GOLDEN = CASES / "golden"
NOW = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
CASE_KEYS = {"description", "original", "table", "spec", "env", "engines", "expect"}
EXPECT_KEYS = {"bytes", "rows", "ids", "redactions"}
#: Where each kind of case runs unless the case names its engines.
ENGINES = {"formats": ["sqlite"], "filters": ["sqlite", "parquet"], "redaction": ["sqlite"]}
ARROW_TYPES = {
    "INTEGER": pa.int64(),
    "REAL": pa.float64(),
    "TEXT": pa.string(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us"),
}


@dataclass(frozen=True)
class Case:
    kind: str
    name: str
    data: dict[str, Any]

    @property
    def columns(self) -> dict[str, str]:
        return self.data["table"]["columns"]

    @property
    def rows(self) -> list[list[Any]]:
        return self.data["table"]["rows"]


def load_case(path: Path) -> Case:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    unknown = set(data) - CASE_KEYS | set(data["expect"]) - EXPECT_KEYS
    assert not unknown, f"{path}: unknown keys {sorted(unknown)}"
    assert data["expect"], f"{path}: expects nothing"
    return Case(path.parent.name, path.stem, data)


def cases() -> list[Any]:
    params = []
    for path in sorted(GOLDEN.glob("*/*.yaml")):
        case = load_case(path)
        for engine in case.data.get("engines", ENGINES[case.kind]):
            params.append(pytest.param(case, engine, id=f"{case.kind}/{case.name}-{engine}"))
    return params


# --- the input, in SQLite or Parquet ---------------------------------------------------


def sqlite_table(case: Case, path: Path) -> dict[str, Any]:
    names = ", ".join(f'"{name}" {kind}' for name, kind in case.columns.items())
    marks = ", ".join("?" * len(case.columns))
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(f"CREATE TABLE t ({names})")
        db.executemany(f"INSERT INTO t VALUES ({marks})", case.rows)
    return {"type": "sql", "url": f"sqlite:///{path}"}


def parquet_table(case: Case, path: Path) -> dict[str, Any]:
    columns = {}
    for index, (name, kind) in enumerate(case.columns.items()):
        values = [row[index] for row in case.rows]
        if kind == "TIMESTAMP":
            values = [None if v is None else dt.datetime.fromisoformat(v) for v in values]
        columns[name] = pa.array(values, ARROW_TYPES[kind])
    pq.write_table(pa.table(columns), path)
    return {"type": "files", "path": str(path), "format": "parquet"}


def write_spec(case: Case, engine: str, folder: Path) -> Path:
    spec: dict[str, Any] = {"version": 1, "name": "golden"}
    if engine == "sqlite":
        spec["source"] = sqlite_table(case, folder / "input.db")
        spec["query"] = {"table": "t"}
    else:
        spec["source"] = parquet_table(case, folder / "input.parquet")
    spec.update({"format": {"type": "jsonl"}, "destination": "out/golden.out"})
    for key, value in case.data["spec"].items():
        # `source` and `query` add to the base's; any other key replaces it.
        merge = key in ("source", "query") and key in spec
        spec[key] = {**spec[key], **value} if merge else value
    path = folder / "golden.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


# --- the output, read back independently ----------------------------------------------


def uncompressed(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".gz":
        return gzip.decompress(data)
    if path.suffix == ".zst":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    if path.suffix == ".zip":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            (member,) = archive.namelist()
            return archive.read(member)
    return data


def read_rows(data: bytes, fmt: str) -> list[Any]:
    if fmt == "jsonl":
        *lines, last = data.decode("utf-8").split("\n")
        assert last == "", "a JSON Lines file ends with a line break"
        return [json.loads(line) for line in lines]
    if fmt == "json":
        return json.loads(data.decode("utf-8"))
    if fmt == "yaml":
        return yaml.safe_load(data.decode("utf-8"))
    if fmt == "csv":
        return [dict(row) for row in csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))]
    if fmt == "parquet":
        return pq.read_table(io.BytesIO(data)).to_pylist()
    raise AssertionError(f"no independent reader for {fmt}")


def assert_same(actual: Any, expected: Any, where: str) -> None:
    """Equal, of the same type (1 is not 1.0, True is not 1), floats to the sign of zero."""
    assert type(actual) is type(expected), f"{where}: {actual!r} is not {expected!r}"
    if isinstance(expected, dict):
        assert list(actual) == list(expected), f"{where}: keys {list(actual)}"
        for key in expected:
            assert_same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{where}: {len(actual)} items, not {len(expected)}"
        for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
            assert_same(got, want, f"{where}[{index}]")
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(actual), f"{where}: {actual!r} is not NaN"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"
        if isinstance(expected, float):
            assert math.copysign(1, actual) == math.copysign(1, expected), f"{where}: sign"


# --- the test --------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "engine"), cases())
def test_golden_case(case: Case, engine: str, tmp_path: Path) -> None:
    spec = load_spec(write_spec(case, engine, tmp_path), env=case.data.get("env", {}))
    result = runner.run(compile_plan(spec, now=NOW, run_id="golden"))
    assert result.status == "succeeded", result.error

    (output,) = [f for f in (tmp_path / "out").iterdir() if not f.name.endswith(".manifest.json")]
    data = uncompressed(output)
    expect = case.data["expect"]
    if "bytes" in expect:
        assert data.decode("utf-8") == expect["bytes"]
    if "rows" in expect:
        assert_same(read_rows(data, spec.format.type), expect["rows"], "rows")
    if "ids" in expect:
        kept = sorted(row["id"] for row in read_rows(data, spec.format.type))
        assert kept == expect["ids"]
    if "redactions" in expect:
        assert dict(result.redactions) == expect["redactions"]


def test_every_kind_has_its_cases() -> None:
    counts = {kind: len(list((GOLDEN / kind).glob("*.yaml"))) for kind in ENGINES}
    assert all(count >= 10 for count in counts.values()), counts
