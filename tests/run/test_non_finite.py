"""NaN, infinities, -0.0, subnormals and 64-bit integers read back exactly from every format,
through readers that are not ours."""

from __future__ import annotations

import csv
import io
import json
import math
import struct
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from exportctl.formats.csv import CsvEncoder
from exportctl.formats.json import JsonEncoder, JsonlEncoder
from exportctl.formats.options import (
    CsvOptions,
    JsonlOptions,
    JsonOptions,
    ParquetOptions,
    YamlOptions,
)
from exportctl.formats.parquet import ParquetEncoder
from exportctl.formats.yaml import YamlEncoder
from exportctl.transforms.validate import validate

FLOATS = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 2.2250738585072014e-308, 0.1 + 0.2]
FLOATS += [1.7976931348623157e308, None]
INTS = [2**63 - 1, -(2**63), 0, 1, -1, 2**53 + 1, 42, 7, None]
TEXT = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def frame() -> pd.DataFrame:
    table = pa.table({"x": pa.array(FLOATS, pa.float64()), "n": pa.array(INTS, pa.int64())})
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def encode(encoder_type: Any, options: Any) -> bytes:
    stream = io.BytesIO()
    encoder = encoder_type(options, stream)
    encoder.write(frame().iloc[:4])
    encoder.write(frame().iloc[4:])
    encoder.close()
    return stream.getvalue()


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


def assert_floats(actual: list[Any], expected: list[float | None] = FLOATS) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        if want is None:
            assert got is None
        elif math.isnan(want):
            assert isinstance(got, float) and math.isnan(got)
        else:
            assert isinstance(got, float) and bits(got) == bits(want), (got, want)


def strict_json(text: str | bytes) -> Any:
    """Standard JSON only: a bare NaN or Infinity token fails."""

    def refuse(token: str) -> Any:
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def from_json(value: Any) -> Any:
    """What a reader who knows the field is a float does with the non-finite spellings."""
    return TEXT[value] if isinstance(value, str) else value


JSON_CASES = [
    pytest.param(JsonEncoder, JsonOptions(), id="json"),
    pytest.param(JsonEncoder, JsonOptions(indent=2), id="json-indent"),
    pytest.param(JsonlEncoder, JsonlOptions(), id="jsonl"),
]


def json_rows(encoder_type: Any, data: bytes) -> list[dict[str, Any]]:
    if encoder_type is JsonlEncoder:
        return [strict_json(line) for line in data.decode().splitlines()]
    rows: list[dict[str, Any]] = strict_json(data)
    return rows


@pytest.mark.parametrize(("encoder_type", "options"), JSON_CASES)
def test_json_writes_non_finite_as_strings_by_default(encoder_type: Any, options: Any) -> None:
    rows = json_rows(encoder_type, encode(encoder_type, options))

    assert [r["x"] for r in rows][:3] == ["NaN", "Infinity", "-Infinity"]
    assert_floats([from_json(r["x"]) for r in rows])
    assert [float(r["x"]) for r in rows[:3]][1:] == [math.inf, -math.inf]  # Python reads them
    assert [r["n"] for r in rows] == INTS


@pytest.mark.parametrize(("encoder_type", "options"), JSON_CASES)
def test_json_writes_non_finite_as_null_when_asked(encoder_type: Any, options: Any) -> None:
    from dataclasses import replace

    rows = json_rows(encoder_type, encode(encoder_type, replace(options, non_finite="null")))

    assert_floats([r["x"] for r in rows], [None, None, None, *FLOATS[3:]])


@pytest.mark.parametrize(("encoder_type", "options"), JSON_CASES)
def test_validation_flags_non_finite_only_with_error(encoder_type: Any, options: Any) -> None:
    from dataclasses import replace

    assert validate(frame(), {}, encoder_type, options=options).invalid.empty
    strict = replace(options, non_finite="error")
    verdict = validate(frame(), {}, encoder_type, options=strict)
    assert verdict.invalid.index.tolist() == [0, 1, 2]
    assert verdict.reasons[0] == "x: nan cannot be written as JSON"


def test_yaml_writes_its_own_nan_and_infinities() -> None:
    data = encode(YamlEncoder, YamlOptions())

    assert b"x: .nan" in data and b"x: .inf" in data and b"x: -.inf" in data
    rows = yaml.safe_load(data)
    assert_floats([r["x"] for r in rows])
    assert [r["n"] for r in rows] == INTS
    assert validate(frame(), {}, YamlEncoder).invalid.empty


def test_csv_writes_nan_inf_and_reads_back_with_python_and_pandas() -> None:
    data = encode(CsvEncoder, CsvOptions())

    lines = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert [line[0] for line in lines[1:4]] == ["nan", "inf", "-inf"]
    assert_floats([float(line[0]) if line[0] else None for line in lines[1:]])
    assert [int(line[1]) if line[1] else None for line in lines[1:]] == INTS
    read = pd.read_csv(io.BytesIO(data))["x"].tolist()
    assert_floats(read[:-1], FLOATS[:-1])  # pandas reads the NULL as NaN too
    assert validate(frame(), {}, CsvEncoder).invalid.empty


def test_parquet_keeps_ieee_floats_and_null_apart() -> None:
    table = pq.read_table(io.BytesIO(encode(ParquetEncoder, ParquetOptions())))

    assert table.schema.field("x").type == pa.float64()
    assert_floats(table.column("x").to_pylist())
    assert table.column("n").to_pylist() == INTS
