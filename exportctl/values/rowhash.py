"""A row's hash: 16 bytes of blake2b over a canonical encoding of its values.

Canonical: one form per value whatever dtype its chunk gave it (an integer column with a
NULL reads as float64; NaN, NaT and None are all NULL), so an unchanged row hashes alike
from run to run. Computed a column at a time: a million rows take seconds, not minutes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa


def canonical(value: Any) -> Any:
    """One value per meaning, whatever dtype a chunk gave it (1 and 1.0, NaN and None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        # Integral floats as ints (an int column with a NULL reads as float64), but -0.0
        # stays itself: it is a different value from 0.
        if value.is_integer() and not (value == 0 and math.copysign(1.0, value) < 0):
            return int(value)
        return value  # its repr is exact: the shortest text that reads back as this float
    if isinstance(value, dt.datetime | dt.date | dt.time):  # pd.Timestamp too, its ns kept
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, np.ndarray):
        return [canonical(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    return value


#: Values that are their own canonical form: most of a table's, skipped at a type check.
_PLAIN = frozenset({str, int, bool, type(None)})


def row_hash(values: tuple[Any, ...]) -> bytes:
    """16 bytes of blake2b over the row's values in a canonical encoding (repr of plain types)."""
    return _digest(tuple(canonical(v) for v in values))


def row_hashes(chunk: pd.DataFrame) -> list[bytes]:
    """`row_hash` of every row, a column at a time (a million rows in seconds, not minutes)."""
    columns = [_canonical_column(chunk.iloc[:, i]) for i in range(chunk.shape[1])]
    return [_digest(row) for row in zip(*columns, strict=True)] if columns else []


def _canonical_column(column: pd.Series) -> list[Any]:
    if pd.api.types.is_float_dtype(column.dtype):
        return _canonical_floats(column.to_numpy(dtype=float, na_value=np.nan))
    return [v if type(v) in _PLAIN else canonical(v) for v in python_values(column)]


def python_values(column: pd.Series) -> list[Any]:
    """The column's values as Python objects. An Arrow-backed column converts in Arrow
    (through the public `__arrow_array__` protocol): pandas' `tolist` on one iterates in
    Python, a third of a change run's time."""
    if isinstance(column.dtype, pd.ArrowDtype):
        return list(pa.array(column.array).to_pylist())
    return list(column.tolist())


def _canonical_floats(values: np.ndarray) -> list[Any]:
    """`canonical` of each float, its tests done by numpy for the whole column."""
    missing = np.isnan(values)
    whole = np.isfinite(values) & (values == np.floor(values))
    whole &= ~((values == 0) & np.signbit(values))
    return [
        None if gone else int(v) if integral else v
        for v, gone, integral in zip(values.tolist(), missing.tolist(), whole.tolist(), strict=True)
    ]


def _digest(row: tuple[Any, ...]) -> bytes:
    return hashlib.blake2b(repr(row).encode(), digest_size=16).digest()
