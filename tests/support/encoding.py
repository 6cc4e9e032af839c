"""Encoders driven in memory, and checks that what an independent reader read back is the
value written."""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from typing import Any

import pandas as pd
import pyarrow as pa
from hypothesis import settings

from tests.support.strategies import COLUMNS, HostileData

ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
ARROW_TYPES = {
    "text": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "naive_ts": pa.string(),
    "aware_ts": pa.string(),
}
ROUND_TRIPS = settings(max_examples=50, deadline=None)


def encode(encoder_type: Any, options: Any, chunks: list[pd.DataFrame]) -> bytes:
    stream = io.BytesIO()
    encoder = encoder_type(options, stream)
    for chunk in chunks:
        encoder.write(chunk)
    encoder.close()
    return stream.getvalue()


def assert_same(actual: Any, expected: Any, where: str) -> None:
    """`actual`, as read back, is `expected`: same type, same value, same sign of zero."""
    if isinstance(expected, dt.datetime):
        assert isinstance(actual, str), f"{where}: {actual!r}"
        assert ISO_UTC.fullmatch(actual), f"{where}: {actual!r} is not ISO-8601 UTC"
        assert dt.datetime.fromisoformat(actual) == expected, f"{where}: {actual} != {expected}"
    elif isinstance(expected, float):
        assert isinstance(actual, float), f"{where}: {actual!r} is not a float"
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"
        assert math.copysign(1, actual) == math.copysign(1, expected), f"{where}: sign of zero"
    else:
        assert type(actual) is type(expected), f"{where}: {actual!r} != {expected!r}"
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def assert_rows(actual: list[dict[str, Any]], data: HostileData) -> None:
    assert len(actual) == len(data.rows)
    for index, (got, want) in enumerate(zip(actual, data.rows, strict=True)):
        assert list(got) == list(COLUMNS), f"row {index}: fields {list(got)}"
        for name in COLUMNS:
            assert_same(got[name], want[name], f"row {index}, field `{name}`")


def empty_chunk() -> pd.DataFrame:
    schema = pa.schema([(name, ARROW_TYPES[name]) for name in COLUMNS])
    return schema.empty_table().to_pandas(types_mapper=pd.ArrowDtype)
