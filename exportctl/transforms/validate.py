"""Declared field checks over a chunk: which rows pass, and why the others do not.

Values are never converted, so a value passes `type` only if it already is one:

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

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from exportctl import not_utf8
from exportctl.errors import RunError
from exportctl.secrecy import hidden
from exportctl.spec.model import Check, Field, Scalar

#: How long a value may be in a reason before it is cut.
SHOWN = 50

#: Column kinds (by dtype) that each declared type accepts.
_ACCEPTS = {
    "string": {"string"},
    "integer": {"integer"},
    "number": {"integer", "float", "decimal"},
    "boolean": {"boolean"},
    "timestamp": {"timestamp"},
    "date": {"date"},
}
_NAMED = {"integer": "an integer", "number": "a number", "boolean": "a boolean"}

#: A row mask and the reason for one value it holds.
#: A reason is given the value and how to show it (hidden, for a secret column's).
Failure = tuple[np.ndarray, Callable[[Any, str], str]]


@dataclass(frozen=True)
class Verdict:
    """A chunk split in two; both halves keep the chunk's columns and index."""

    valid: pd.DataFrame
    invalid: pd.DataFrame
    #: One per invalid row, in order: "port: 70000 is above the max 65535; host: NULL ..."
    reasons: list[str]


def checks_of(fields: tuple[Field, ...] | None) -> dict[str, Check]:
    """Output column name → its declared check (only fields that declare one)."""
    return {f.name: f.check for f in fields or () if f.check is not None}


def validate(
    chunk: pd.DataFrame,
    checks: Mapping[str, Check],
    encoder: type | None = None,
    *,
    options: Any = None,
    hidden: Callable[[str], bool] = lambda name: False,
) -> Verdict:
    """Split a chunk (output columns, after field selection) into valid and invalid rows.

    The reasons never show a value of a column `hidden` says holds secrets.

    Rows the encoder's optional `problems(chunk[, options])` hook flags are invalid too.
    Pass the format's `options` when you have them: some formats (text) can only tell
    what a row needs once they know them.
    """
    hook = getattr(encoder, "problems", None)
    checks = {name: c for name, c in checks.items() if c != Check()}
    # Text a source read that is not UTF-8: invalid in every format, with or without checks.
    not_text = None if chunk.empty else not_utf8.problems(chunk)
    if (not checks and hook is None and not_text is None) or chunk.empty:
        return _all_valid(chunk)
    _require(chunk, checks)
    findings = [(name, _failures(_Column(chunk[name]), check)) for name, check in checks.items()]
    codes = {name: _first(failures, len(chunk)) for name, failures in findings}
    problems = _joined(not_text, _problems(hook, chunk, options))
    bad = np.zeros(len(chunk), dtype=bool)
    for code in codes.values():
        bad |= code > 0
    if problems is not None:
        bad |= problems.notna().to_numpy(dtype=bool)
    if not bad.any():
        return _all_valid(chunk)
    rows = np.flatnonzero(bad)
    reasons: list[list[str]] = [[] for _ in rows]
    for name, failures in findings:
        shown = _hidden_shown if hidden(name) else _shown
        _explain(reasons, name, chunk[name].iloc[rows], codes[name][rows], failures, shown)
    if problems is not None:
        for parts, problem in zip(reasons, problems.to_numpy(dtype=object)[rows], strict=True):
            if isinstance(problem, str):
                parts.append(problem)
    return Verdict(chunk[~bad], chunk[bad], ["; ".join(parts) for parts in reasons])


def _joined(first: pd.Series | None, second: pd.Series | None) -> pd.Series | None:
    """Two rows-to-reasons series as one (None: no reasons)."""
    if first is None or second is None:
        return first if second is None else second
    pairs = zip(first.to_numpy(dtype=object), second.to_numpy(dtype=object), strict=True)
    joined = ["; ".join(p for p in pair if isinstance(p, str)) or None for pair in pairs]
    return pd.Series(joined, index=first.index, dtype=object)


def _all_valid(chunk: pd.DataFrame) -> Verdict:
    return Verdict(chunk, chunk.iloc[:0], [])


def _require(chunk: pd.DataFrame, checks: Mapping[str, Check]) -> None:
    known = [str(c) for c in chunk.columns]
    for name in checks:
        if name not in chunk.columns:
            guess = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean `{guess[0]}`?" if guess else f"the fields are {', '.join(known)}"
            raise RunError(f"field `{name}` declares a check but is not an output field; {hint}")


def _problems(hook: Any, chunk: pd.DataFrame, options: Any) -> pd.Series | None:
    """The format's reason per row, None where it has none; None when no row has one."""
    if hook is None:
        return None
    # Hooks of formats that take no options may accept the chunk alone.
    problems = hook(chunk) if options is None else hook(chunk, options)
    if problems is None or not problems.notna().any():
        return None
    return problems


def _first(failures: list[Failure], rows: int) -> np.ndarray:
    """Per row, 1 + the index of the first failure it has; 0 if it has none."""
    code = np.zeros(rows, dtype=np.int8)
    for index in reversed(range(len(failures))):
        code[failures[index][0]] = index + 1
    return code


def _explain(
    reasons: list[list[str]],
    name: str,
    values: pd.Series,
    codes: np.ndarray,
    failures: list[Failure],
    shown: Callable[[Any], str],
) -> None:
    """Add `name: why` to the reasons of the invalid rows where this field failed."""
    for parts, value, code in zip(reasons, values.to_numpy(dtype=object), codes, strict=True):
        if code:
            parts.append(f"{name}: {failures[code - 1][1](value, shown(value))}")


# --- one column ----------------------------------------------------------------------


class _Column:
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


def _failures(column: _Column, check: Check) -> list[Failure]:
    """Each broken rule as (rows, reason for a value), in the order reasons name them."""
    failures: list[Failure] = []
    if not check.nullable:
        failures.append((column.null, lambda v, shown: "NULL not allowed"))
    if check.type is not None:
        named = _NAMED.get(check.type, f"a {check.type}")
        failures.append((_bad_type(column, check.type), lambda v, shown: f"{shown} is not {named}"))
    if check.allowed is not None:
        listed = _cut(", ".join(_shown(a) for a in check.allowed))
        failures.append(
            (
                _bad_allowed(column, check.allowed),
                lambda v, shown: f"{shown} is not one of {listed}",
            )
        )
    if check.pattern is not None:
        failures.append((_bad_pattern(column, check.pattern), _pattern_reason(check.pattern)))
    for bound, below in ((check.min, True), (check.max, False)):
        if bound is not None:
            failures.append((_bad_range(column, bound, below), _range_reason(bound, below)))
    return failures


# --- the rules -------------------------------------------------------------------------


def _bad_type(column: _Column, declared: str) -> np.ndarray:
    if column.kind == "object":
        return column.where(lambda v: not _is_type(v, declared))
    if column.kind in _ACCEPTS[declared] or column.kind == "null":
        return column.none()
    return column.every()


def _is_type(value: Any, declared: str) -> bool:
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


def _bad_allowed(column: _Column, allowed: tuple[Scalar, ...]) -> np.ndarray:
    values = _comparable(column, allowed)
    if values is None:  # compare each value in Python
        keys = {_key(a) for a in allowed if a is not None}
        return column.where(lambda v: _key(v) not in keys)
    found = column.series.isin(values).to_numpy(dtype=bool)
    return ~found & ~column.null


def _comparable(column: _Column, allowed: tuple[Scalar, ...]) -> list[Any] | None:
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
    if _is_type(value, "number"):
        try:
            hash(value)
        except TypeError:  # a signalling decimal NaN
            return None
        return ("number", value)
    return None


def _bad_pattern(column: _Column, pattern: str) -> np.ndarray:
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


def _bad_range(column: _Column, bound: float, below: bool) -> np.ndarray:
    """Rows under `min` (below=True) or over `max`; NaN and non-numbers are never within."""
    if column.kind == "null":
        return column.none()
    if column.kind in ("object", "decimal"):  # decimals too: Python compares them exactly
        return column.where(lambda v: not _within(v, bound, below))
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


def _within(value: Any, bound: float, below: bool) -> bool:
    if not _is_type(value, "number"):
        return False
    value = _python(value)
    try:
        return bool(value >= bound if below else value <= bound)
    except ArithmeticError:  # decimal NaN
        return False


# --- reasons ---------------------------------------------------------------------------


def _shown(value: Any) -> str:
    """A value as a reason shows it: text quoted, so `'5'` and `5` differ; cut short."""
    return _cut(repr(value) if isinstance(value, str) else str(value))


def _hidden_shown(value: Any) -> str:
    """A secret column's value as a reason shows it: its kind and size only."""
    return hidden(value)


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def _pattern_reason(pattern: str) -> Callable[[Any, str], str]:
    def reason(value: Any, shown: str) -> str:
        if not isinstance(value, str):
            return f"{shown} is not text, so cannot match {_shown(pattern)}"
        return f"{shown} does not match {_shown(pattern)}"

    return reason


def _range_reason(bound: float, below: bool) -> Callable[[Any, str], str]:
    edge = f"the min {bound}" if below else f"the max {bound}"

    def reason(value: Any, shown: str) -> str:
        if not _is_type(value, "number"):
            return f"{shown} is not a number, so cannot meet {edge}"
        if _within(value, bound, not below):  # compares, so it is on the wrong side
            return f"{shown} is {'below' if below else 'above'} {edge}"
        return f"{shown} cannot be compared with {edge}"

    return reason
