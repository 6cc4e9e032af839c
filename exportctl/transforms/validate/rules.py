"""What each declared check accepts, as rows that break it. Values are never converted,
so a value passes `type` only if it already is one:

- `string`: text (str; pandas or Arrow string columns).
- `integer`: integer columns of any width (int64, Int64, Arrow ints) and Python or NumPy
  ints in object columns. Never a bool, never a float, not even 3.0.
- `number`: integers, floats and decimals; never a bool.
- `boolean`: bool columns (bool, boolean, Arrow bool) and Python or NumPy bools.
- `timestamp`: datetime64 columns, naive or zoned, Arrow timestamps, datetime objects.
- `date`: Arrow date columns and `datetime.date` objects that are not datetimes; a
  timestamp, even at midnight, is not a date.

NULL (None, NaN in a NumPy or object column, NaT, pd.NA, an Arrow null) is judged by
`nullable` alone; every other check lets it pass. NaN in an Arrow float column is not NULL
there, so it is a number, but one that fails `min` and `max`. `allowed` compares by value
within a family: 1 equals 1.0, a bool equals only a bool, text only text, and dates or
timestamps equal no listed value. `pattern` must match the whole text and fails non-text;
`min` and `max` (inclusive) compare numbers exactly and fail anything that is not a number.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from exportctl.model import Scalar
from exportctl.transforms.validate.column import Column

#: Column kinds (by dtype) that each declared type accepts.
_ACCEPTS = {
    "string": {"string"},
    "integer": {"integer"},
    "number": {"integer", "float", "decimal"},
    "boolean": {"boolean"},
    "timestamp": {"timestamp"},
    "date": {"date"},
}


def bad_type(column: Column, declared: str) -> np.ndarray:
    if column.kind == "object":
        return column.where(lambda v: not is_type(v, declared))
    if column.kind in _ACCEPTS[declared] or column.kind == "null":
        return column.none()
    return column.every()


def is_type(value: Any, declared: str) -> bool:
    """Whether a Python value is of a declared type, as the module docstring defines."""
    if declared == "string":
        return isinstance(value, str)
    if isinstance(value, bool | np.bool_):
        return declared == "boolean"
    if declared == "integer":
        return isinstance(value, int | np.integer)
    if declared == "number":
        return isinstance(value, int | float | Decimal | np.integer | np.floating)
    if declared == "timestamp":
        return isinstance(value, datetime | np.datetime64)
    if declared == "date":
        return isinstance(value, date) and not isinstance(value, datetime)
    return False


def bad_allowed(column: Column, allowed: tuple[Scalar, ...]) -> np.ndarray:
    values = _comparable(column, allowed)
    if values is None:  # compare each value in Python
        keys = {_key(a) for a in allowed if a is not None}
        return column.where(lambda v: _key(v) not in keys)
    found = column.series.isin(values).to_numpy(dtype=bool)
    return ~found & ~column.null


def _comparable(column: Column, allowed: tuple[Scalar, ...]) -> list[Any] | None:
    """The allowed values a vectorised `isin` can compare exactly, or None if it cannot."""
    numbers = [a for a in allowed if isinstance(a, int | float) and not isinstance(a, bool)]
    if column.kind == "string":
        return [a for a in allowed if isinstance(a, str)]
    if column.kind == "boolean":
        return [a for a in allowed if isinstance(a, bool)]
    if column.kind == "float":
        return [float(a) for a in numbers if _exact_float(a)]
    if column.kind == "integer":
        # Only integers within the column's range, so that isin never widens to floats.
        info = np.iinfo(_int_dtype(column.series))
        whole = (int(a) for a in numbers if isinstance(a, int) or float(a).is_integer())
        return [a for a in whole if info.min <= a <= info.max]
    return None


def _exact_float(number: float) -> bool:
    """Whether a float equals `number` exactly: no float equals 2**63 - 1, nor NaN anything."""
    try:
        return float(number) == number
    except OverflowError:
        return False


def _python(value: Any) -> Any:
    """NumPy scalars as Python's: np.int64(2**63 - 1) >= 2.0**63 is True, Python's is not."""
    return value.item() if isinstance(value, np.generic) else value


def _key(value: Any) -> Any:
    """What `allowed` compares: numbers by value across int and float, bools apart."""
    value = _python(value)
    if isinstance(value, bool | np.bool_):
        return ("boolean", bool(value))
    if isinstance(value, str):
        return ("string", value)
    if is_type(value, "number"):
        try:
            hash(value)
        except TypeError:  # a signalling decimal NaN
            return None
        return ("number", value)
    return None


def bad_pattern(column: Column, pattern: str) -> np.ndarray:
    if column.kind == "null":
        return column.none()
    if column.kind not in ("string", "object"):
        return column.every()
    match = re.compile(pattern).fullmatch
    try:
        # Python's re, not Arrow's RE2, so `\d`, `\s`, lookarounds mean what they mean to
        # the spec loader; test each distinct value once.
        codes, uniques = pd.factorize(column.series)
    except TypeError:  # unhashable values in an object column
        return column.where(lambda v: not (isinstance(v, str) and match(v)))
    hits = [isinstance(u, str) and match(u) is not None for u in uniques.to_numpy(dtype=object)]
    ok = np.append(np.array(hits, dtype=bool), False)[codes]  # code -1 (NULL) → False
    return ~ok & ~column.null


def bad_range(column: Column, bound: float, below: bool) -> np.ndarray:
    """Rows under `min` (below=True) or over `max`; NaN and non-numbers are never within."""
    if column.kind == "null":
        return column.none()
    if column.kind in ("object", "decimal"):  # decimals too: Python compares them exactly
        return column.where(lambda v: not within(v, bound, below))
    if column.kind not in ("integer", "float"):
        return column.every()
    if column.kind == "integer" and math.isfinite(bound):
        values = column.series.to_numpy(dtype=_int_dtype(column.series), na_value=0)
        return _int_outside(values, bound, below) & ~column.null
    values = column.series.to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        inside = values >= bound if below else values <= bound
    return ~inside & ~column.null


def _int_dtype(series: pd.Series) -> type[np.integer]:
    """int64, or uint64 for a column that may hold values past int64's end."""
    dtype = series.dtype
    arrow = dtype.pyarrow_dtype if isinstance(dtype, pd.ArrowDtype) else None
    unsigned = pa.types.is_uint64(arrow) if arrow is not None else dtype in (np.uint64, "UInt64")
    return np.uint64 if unsigned else np.int64


def _int_outside(values: np.ndarray, bound: float, below: bool) -> np.ndarray:
    """Exact integer comparison: 2**63 - 1 never rounds to a float bound."""
    info = np.iinfo(values.dtype)
    limit = math.ceil(bound) if below else math.floor(bound)
    if (below and limit <= info.min) or (not below and limit >= info.max):
        return np.zeros(len(values), dtype=bool)
    if (below and limit > info.max) or (not below and limit < info.min):
        return np.ones(len(values), dtype=bool)
    scalar = values.dtype.type(limit)
    return values < scalar if below else values > scalar


def within(value: Any, bound: float, below: bool) -> bool:
    """Whether a value is a number at or above `bound` (below=True), or at or under it."""
    if not is_type(value, "number"):
        return False
    value = _python(value)
    try:
        return bool(value >= bound if below else value <= bound)
    except ArithmeticError:  # decimal NaN
        return False
