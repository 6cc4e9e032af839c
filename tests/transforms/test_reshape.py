"""`reshape.wide`: the output equals a pandas pivot of the source, whatever the chunk size."""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from exportctl.errors import SpecError
from exportctl.model import Wide
from exportctl.plan.compiler import compile_plan
from exportctl.run import runner
from exportctl.spec.load import load_spec
from exportctl.transforms.reshape import WideRows, widen

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
NAMES = ["up", "latency", "requests"]
WIDE = Wide("timestamp", "name", "value", tuple(NAMES))
SAMPLES = [  # timestamp, name, value: groups of 1 to 3 rows (SQLite stores NaN as NULL)
    ("2024-01-01 00:00:00", "up", 1.0),
    ("2024-01-01 00:00:00", "latency", 0.25),
    ("2024-01-01 00:00:00", "requests", 10.0),
    ("2024-01-01 00:01:00", "latency", 2.5),
    ("2024-01-01 00:02:00", "up", 0.0),
    ("2024-01-01 00:02:00", "requests", math.inf),
    ("2024-01-01 00:03:00", "requests", -0.0),
    ("2024-01-01 00:03:00", "up", 1.0),
    ("2024-01-01 00:03:00", "latency", 5e-324),
    ("2024-01-01 00:04:00", "up", -math.inf),
]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "system.db"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE metric_samples (id INTEGER PRIMARY KEY, timestamp DATETIME NOT NULL,"
            " name VARCHAR NOT NULL, labels TEXT NOT NULL, value FLOAT NOT NULL)"
        )
        connection.executemany(
            "INSERT INTO metric_samples (timestamp, name, labels, value) VALUES (?, ?, '{}', ?)",
            SAMPLES,
        )
    return path


def spec_file(tmp_path: Path, db: Path, fmt: str, chunk_size: int, order: str) -> Path:
    path = tmp_path / "wide.yaml"
    path.write_text(
        "version: 1\nname: wide\n"
        f'source: {{type: sql, url: "sqlite:///{db}", chunk_size: {chunk_size}}}\n'
        f"query: {{table: metric_samples{order}}}\n"
        "fields: [timestamp, name, value]\n"
        f"reshape: {{wide: {{index: timestamp, columns: name, values: value, names: {NAMES}}}}}\n"
        f"format: {fmt}\ndestination: {tmp_path}/out/wide.{fmt}\n"
    )
    return path


def expected(db: Path) -> pd.DataFrame:
    """The source read back independently and pivoted by pandas."""
    with sqlite3.connect(db) as connection:
        long = pd.read_sql("SELECT timestamp, name, value FROM metric_samples", connection)
    pivot = long.pivot(index="timestamp", columns="name", values="value")[NAMES]
    pivot.index = pd.to_datetime(pivot.index).tz_localize("UTC")
    return pivot.reset_index().rename_axis(columns=None)


def assert_same_bits(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert got["timestamp"].tolist() == want["timestamp"].tolist()
    for name in NAMES:
        for a, b in zip(got[name].tolist(), want[name].tolist(), strict=True):
            same = math.isnan(a) and math.isnan(b)
            same = same or (a == b and math.copysign(1, a) == math.copysign(1, b))
            assert same, (name, a, b)


@pytest.mark.parametrize("chunk_size", [1, 2, 4, 100])
def test_wide_csv_equals_a_pandas_pivot(tmp_path: Path, db: Path, chunk_size: int) -> None:
    path = spec_file(tmp_path, db, "csv", chunk_size, ", order_by: [timestamp, id]")

    result = runner.run(compile_plan(load_spec(path, env={}), now=NOW, run_id="r"))

    assert result.status == "succeeded", result.error
    got = pd.read_csv(tmp_path / "out" / "wide.csv", parse_dates=["timestamp"])
    assert_same_bits(got, expected(db))
    assert result.rows == 5


def test_wide_parquet_keeps_a_missing_sample_null(tmp_path: Path, db: Path) -> None:
    path = spec_file(tmp_path, db, "parquet", 2, ", order_by: [timestamp]")

    result = runner.run(compile_plan(load_spec(path, env={}), now=NOW, run_id="r"))

    assert result.status == "succeeded", result.error
    table = pq.read_table(tmp_path / "out" / "wide.parquet")
    assert table.column_names == ["timestamp", *NAMES]
    assert table.column("latency").to_pylist()[1:] == [2.5, None, 5e-324, None]
    got = table.to_pandas().fillna(math.nan)
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")  # naive: UTC
    assert_same_bits(got, expected(db))


def test_a_wide_export_must_be_ordered_by_its_index(tmp_path: Path, db: Path) -> None:
    path = spec_file(tmp_path, db, "csv", 2, "")

    with pytest.raises(SpecError, match="order the query by it first"):
        load_spec(path, env={})


def test_a_name_not_declared_fails_the_run(tmp_path: Path, db: Path) -> None:
    path = spec_file(tmp_path, db, "csv", 2, ", order_by: [timestamp]")
    path.write_text(path.read_text().replace(", 'requests']", "]"))

    result = runner.run(compile_plan(load_spec(path, env={}), now=NOW, run_id="r"))

    assert result.status == "failed"
    assert "`requests`, not in `reshape.wide.names`" in (result.error or "")
    assert not (tmp_path / "out" / "wide.csv").exists()


def long_frame() -> pd.DataFrame:
    frame = pd.DataFrame(SAMPLES, columns=["timestamp", "name", "value"])
    values = [math.nan if i == 3 else v for i, (_, _, v) in enumerate(SAMPLES)]
    frame["value"] = pd.arrays.ArrowExtensionArray(pa.array(values, pa.float64()))
    return frame


@pytest.mark.parametrize("cuts", [[], [1], [3, 4], [1, 2, 5, 7, 8], list(range(1, 10))])
def test_carrying_rows_over_gives_the_same_rows_as_one_chunk(cuts: list[int]) -> None:
    frame = long_frame()
    wide = WideRows(WIDE)
    bounds = [0, *cuts, len(frame)]
    pieces = [wide.feed(frame.iloc[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    last = wide.finish()
    pieces.append(frame.iloc[:0] if last is None else last)

    got = pd.concat([p for p in pieces if len(p)], ignore_index=True)
    whole = widen(frame, WIDE)
    pd.testing.assert_frame_equal(got, whole)
    assert math.isnan(got["latency"][1]) and pd.isna(got["latency"][2])  # NaN, NULL apart
    assert got["latency"].array[2] is pd.NA
    assert got["timestamp"].is_unique


def test_two_samples_of_one_name_at_one_index_are_refused() -> None:
    frame = long_frame()
    with pytest.raises(Exception, match="two rows have `name` 'up'"):
        widen(pd.concat([frame, frame.iloc[[0]]], ignore_index=True).sort_values("timestamp"), WIDE)
