"""Parquet and YAML read back exactly, whatever the data: hostile text, extreme numbers, NULLs."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given

from exportctl.formats.options import ParquetOptions, YamlOptions
from exportctl.formats.parquet import ParquetEncoder
from exportctl.formats.yaml import YamlEncoder
from tests.support.encoding import ROUND_TRIPS, assert_rows, assert_same, empty_chunk, encode
from tests.support.strategies import COLUMNS, HostileData, as_utc, hostile_data


def assert_typed_rows(actual: list[dict[str, Any]], data: HostileData) -> None:
    """Parquet keeps timestamps as timestamps: compare instants, the rest as the text formats."""
    assert len(actual) == len(data.rows)
    for index, (got, want) in enumerate(zip(actual, data.rows, strict=True)):
        assert list(got) == list(COLUMNS)
        for name in COLUMNS:
            where = f"row {index}, field `{name}`"
            if isinstance(want[name], dt.datetime):
                assert isinstance(got[name], dt.datetime), where
                assert as_utc(got[name]) == want[name], where
            else:
                assert_same(got[name], want[name], where)


@ROUND_TRIPS
@given(data=hostile_data())
@pytest.mark.parametrize("codec", ["zstd", "none"])
def test_parquet_reads_back_exactly_with_pyarrow(codec: str, data: HostileData) -> None:
    written = encode(ParquetEncoder, ParquetOptions(codec=codec), data.chunks)
    assert_typed_rows(pq.read_table(io.BytesIO(written)).to_pylist(), data)


@ROUND_TRIPS
@given(data=hostile_data())
def test_parquet_reads_back_exactly_with_duckdb(
    duck: duckdb.DuckDBPyConnection, scratch: Path, data: HostileData
) -> None:
    path = scratch / "export.parquet"
    path.write_bytes(encode(ParquetEncoder, ParquetOptions(), data.chunks))
    table = duck.sql(f"SELECT * FROM read_parquet('{path}')").to_arrow_table()
    assert_typed_rows(table.to_pylist(), data)


def test_parquet_keeps_the_types_of_the_columns() -> None:
    chunk = pa.table(
        {"n": pa.array([1, None], pa.int64()), "t": pa.array([0, 1], pa.timestamp("us", "UTC"))}
    ).to_pandas(types_mapper=lambda t: __import__("pandas").ArrowDtype(t))
    schema = pq.read_schema(io.BytesIO(encode(ParquetEncoder, ParquetOptions(), [chunk])))
    assert schema.field("n").type == pa.int64()
    assert schema.field("t").type == pa.timestamp("us", "UTC")


def test_parquet_of_zero_rows_is_a_readable_file() -> None:
    written = encode(ParquetEncoder, ParquetOptions(), [empty_chunk()])
    assert pq.read_table(io.BytesIO(written)).num_rows == 0


@ROUND_TRIPS
@given(data=hostile_data())
def test_yaml_reads_back_exactly_with_safe_load(data: HostileData) -> None:
    written = encode(YamlEncoder, YamlOptions(), data.chunks)
    assert_rows(yaml.safe_load(written.decode("utf-8")), data)


def test_yaml_of_zero_rows_is_an_empty_list() -> None:
    assert yaml.safe_load(encode(YamlEncoder, YamlOptions(), [empty_chunk()])) == []
