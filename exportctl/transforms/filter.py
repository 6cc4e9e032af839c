"""The filter language evaluated over a chunk, with SQL's three-valued logic.

A comparison with NULL is unknown, `not unknown` is unknown, and only rows
whose condition is true are kept: the same rows a database would return.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from exportctl import model as m
from exportctl.errors import SourceError

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": pc.equal,
    "ne": pc.not_equal,
    "lt": pc.less,
    "le": pc.less_equal,
    "gt": pc.greater,
    "ge": pc.greater_equal,
}


def apply_filter(chunk: pd.DataFrame, node: m.Filter | None) -> pd.DataFrame:
    """The rows of `chunk` for which `node` is true."""
    if node is None or chunk.empty:
        return chunk
    truth = evaluate(chunk, node)
    keep = pc.fill_null(truth, False).to_numpy(zero_copy_only=False)
    return chunk.loc[keep].reset_index(drop=True)


def evaluate(chunk: pd.DataFrame, node: m.Filter) -> pa.Array:
    """A boolean array, NULL where SQL would say unknown."""
    if isinstance(node, m.And | m.Or):
        combine = pc.and_kleene if isinstance(node, m.And) else pc.or_kleene
        result = evaluate(chunk, node.items[0])
        for item in node.items[1:]:
            result = combine(result, evaluate(chunk, item))
        return result
    if isinstance(node, m.Not):
        return pc.invert(evaluate(chunk, node.item))
    column = _column(chunk, node.field)
    try:
        return _test(column, node)
    # ValueError covers pa.ArrowInvalid and a timestamp text pandas cannot read.
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise SourceError(
            f"cannot test field `{node.field}` ({column.type}) with {node}: {exc}"
        ) from exc


def _test(column: pa.Array, node: m.Filter) -> pa.Array:
    if isinstance(node, m.IsNull):
        return pc.is_valid(column) if node.negate else pc.is_null(column)
    if pa.types.is_null(column.type):  # a chunk where the column is all NULL: always unknown
        return pa.nulls(len(column), pa.bool_())
    if isinstance(node, m.Compare):
        return _COMPARE[node.op](column, _scalar(column, node.value))
    if isinstance(node, m.Between):
        low, high = _scalar(column, node.low), _scalar(column, node.high)
        return pc.and_kleene(pc.greater_equal(column, low), pc.less_equal(column, high))
    if isinstance(node, m.InSet):
        # As SQL defines IN: an OR of equalities. So NULL stays unknown, -0.0 = 0, and
        # 2.5 in an integer column is compared as 2.5, never cast to 2.
        found = _is_in(column, node.values)
        return pc.invert(found) if node.negate else found
    if isinstance(node, m.Like):
        return pc.match_like(column, node.pattern)
    if isinstance(node, m.Contains):
        return pc.match_substring(column, node.text)
    raise TypeError(f"not a filter: {node!r}")


def _is_in(column: pa.Array, values: tuple[Any, ...]) -> pa.Array:
    """Whether each value is one of `values`, as an OR of equalities (NULL unknown).

    Integers in an integer column and text in a text column are looked up in one set
    (an `in:` list may hold 100,000 values; one comparison each took seconds a chunk);
    any other value is compared on its own.
    """
    kind = (
        int
        if pa.types.is_integer(column.type)
        else str
        if pa.types.is_string(column.type)
        else None
    )
    same = [v for v in values if type(v) is kind] if kind is not None else []
    found = None
    if same:
        try:
            hit = pc.is_in(column, value_set=pa.array(same, column.type))
            found = pc.if_else(pc.is_null(column), pa.scalar(None, pa.bool_()), hit)
        except (pa.ArrowInvalid, OverflowError):  # a value past the column's type: one by one
            same = []
    others = [v for v in values if type(v) is not kind] if same else list(values)
    equals = [pc.equal(column, _scalar(column, v)) for v in others]
    return functools.reduce(pc.or_kleene, equals if found is None else [found, *equals])


def _column(chunk: pd.DataFrame, name: str) -> pa.Array:
    if name not in chunk.columns:
        known = ", ".join(f"`{c}`" for c in chunk.columns)
        raise SourceError(
            f"the filter tests field `{name}`, which the source lacks; it has {known}"
        )
    return pa.array(chunk[name])


def _scalar(column: pa.Array, value: Any) -> pa.Scalar:
    """The spec's value in the column's type, so `"2024-01-01"` compares with timestamps."""
    if pa.types.is_timestamp(column.type) and isinstance(value, str):
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tz is None else stamp
        if column.type.tz is None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return pa.scalar(stamp, column.type)
    if pa.types.is_integer(column.type) and isinstance(value, float):
        return pa.scalar(value, pa.float64())
    return pa.scalar(value, column.type) if not isinstance(value, bool) else pa.scalar(value)
