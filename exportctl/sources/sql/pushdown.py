"""Filter pushdown: a spec's filter as a SQL expression, every value a bound parameter."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import pandas as pd
import sqlalchemy as sa

from exportctl import model as m
from exportctl.errors import SourceError
from exportctl.secrecy import quoted
from exportctl.sources.sql.lists import in_list

_SQL_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}

#: The SQL type a filter's value is bound as, by its Python type (bool before int).
_VALUE_TYPES = ((bool, sa.Boolean()), (int, sa.BigInteger()), (float, sa.Float()))


def to_sql(node: m.Filter, column: Callable[[str], Any]) -> Any:
    """The filter as a SQL expression; every value a bound parameter."""
    if isinstance(node, m.And | m.Or):
        combine = sa.and_ if isinstance(node, m.And) else sa.or_
        return combine(*(to_sql(i, column) for i in node.items))
    if isinstance(node, m.Not):
        return sa.not_(to_sql(node.item, column))
    col = column(node.field)

    def bound(value: Any) -> Any:
        value, sql_type = _typed(node.field, col, value)
        return value if sql_type is None else sa.bindparam(col.key, value, sql_type, unique=True)

    if isinstance(node, m.Compare):
        return _SQL_COMPARE[node.op](col, bound(node.value))
    if isinstance(node, m.InSet):
        within = in_list(col, [_typed(node.field, col, v) for v in node.values])
        return sa.not_(within) if node.negate else within
    if isinstance(node, m.Between):
        return col.between(bound(node.low), bound(node.high))
    if isinstance(node, m.Like):
        return col.like(node.pattern, escape="\\")
    if isinstance(node, m.Contains):
        return col.contains(node.text, autoescape=True)
    if isinstance(node, m.IsNull):
        return col.is_not(None) if node.negate else col.is_(None)
    raise TypeError(f"not a filter: {node!r}")


def _typed(field: str, col: Any, value: Any) -> tuple[Any, sa.types.TypeEngine[Any] | None]:
    """The value and the SQL type to bind it as: the value's own, so the database never
    casts it to the column's type first (2.5 to 2; 2**40 overflowing INTEGER; `true`
    refused by `<`). Text for a timestamp column is read as transforms.filter reads
    it: no offset means UTC."""
    if isinstance(value, str) and isinstance(col.type, sa.DateTime):
        try:
            stamp = pd.Timestamp(value)
        except ValueError:
            shown = quoted(value)  # a spec's value, maybe 100,000 characters long
            raise SourceError(f"field `{field}` holds timestamps; {shown} is not one") from None
        stamp = stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
        if not col.type.timezone:
            stamp = stamp.tz_localize(None)
        return stamp.to_pydatetime(), col.type
    for python_type, sql_type in _VALUE_TYPES:
        if isinstance(value, python_type):
            return value, sql_type
    return value, None  # text and the rest: as the column's type, SQLAlchemy's default
