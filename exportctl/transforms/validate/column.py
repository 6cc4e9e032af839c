"""A column as the checks see it: its kind (from its dtype), its NULLs, its values."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa


class Column:
    """A column with what every check needs of it, each computed at most once."""

    def __init__(self, series: pd.Series):
        self.series = series
        self.kind = _kind(series.dtype)
        self.null = series.isna().to_numpy(dtype=bool)

    @cached_property
    def objects(self) -> np.ndarray:
        return self.series.to_numpy(dtype=object)

    def none(self) -> np.ndarray:
        return np.zeros(len(self.null), dtype=bool)

    def every(self) -> np.ndarray:
        """Every row that is not NULL."""
        return ~self.null

    def where(self, test: Callable[[Any], bool]) -> np.ndarray:
        """Rows, not NULL, whose Python value passes `test` (for object columns)."""
        hits = np.fromiter(map(test, self.objects), dtype=bool, count=len(self.null))
        return hits & ~self.null


def _kind(dtype: Any) -> str:
    """The family of a column's dtype; `object` means each value must be looked at."""
    if isinstance(dtype, pd.ArrowDtype):
        return _arrow_kind(dtype.pyarrow_dtype)
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype):
        return "object"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if isinstance(dtype, pd.StringDtype):
        return "string"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    return "other"


def _arrow_kind(t: pa.DataType) -> str:
    tests = (
        (pa.types.is_integer, "integer"),
        (pa.types.is_floating, "float"),
        (pa.types.is_decimal, "decimal"),
        (pa.types.is_boolean, "boolean"),
        (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), "string"),
        (pa.types.is_string_view, "string"),
        (pa.types.is_timestamp, "timestamp"),
        (pa.types.is_date, "date"),
        (pa.types.is_null, "null"),
    )
    return next((kind for test, kind in tests if test(t)), "other")
