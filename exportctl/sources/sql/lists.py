"""Long `in:` lists bound as one array parameter each, not one parameter per value.

A list of 100,000 values bound value by value fails ("too many SQL variables": SQLite
allows 32,766, PostgreSQL 65,535) and its error quotes every placeholder. Past
`LONG_LIST` values, the values of each Python type go as one parameter:

- SQLite: `col IN (SELECT value FROM json_each(?))`, the values as a JSON array;
- PostgreSQL: `col = ANY(?)`, the values as an array of their type;
- any other database: the usual expanding `IN`.

Grouped by type, each value keeps the SQL type a short list binds it with (an integer
as BIGINT, text as the column's type), so a long list keeps the rows a short one keeps.
"""

from __future__ import annotations

import json
import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

#: Lists longer than this are bound as arrays; shorter ones value by value, as plan shows.
LONG_LIST = 500


class InArray(sa.sql.expression.ColumnElement[bool]):
    """`column` is one of `values`, all of one SQL type, bound as one parameter."""

    type = sa.Boolean()
    inherit_cache = False  # the values are not part of a cache key; statements are one-off

    def __init__(self, column: Any, values: list[Any], item_type: sa.types.TypeEngine[Any]):
        self.column = column
        self.values = values
        self.item_type = item_type


def in_list(column: Any, typed: list[tuple[Any, sa.types.TypeEngine[Any] | None]]) -> Any:
    """`column IN (values)` for (value, SQL type) pairs, None for the column's own type;
    a long list as arrays by type."""
    if len(typed) <= LONG_LIST:
        return column.in_(
            [v if t is None else sa.bindparam(column.key, v, t, unique=True) for v, t in typed]
        )
    own = sa.String() if isinstance(column.type, sa.types.NullType) else column.type
    groups: dict[type, tuple[sa.types.TypeEngine[Any], list[Any]]] = {}
    for value, item_type in typed:
        item_type = own if item_type is None else item_type
        groups.setdefault(type(item_type), (item_type, []))[1].append(value)
    return sa.or_(*(InArray(column, values, t) for t, values in groups.values()))


@compiles(InArray)
def _expanding(element: InArray, compiler: SQLCompiler, **kw: Any) -> str:
    params = [sa.bindparam(None, v, element.item_type, unique=True) for v in element.values]
    return compiler.process(element.column.in_(params), **kw)


@compiles(InArray, "sqlite")
def _json_each(element: InArray, compiler: SQLCompiler, **kw: Any) -> str:
    if any(isinstance(v, float) and not math.isfinite(v) for v in element.values):
        return _expanding(element, compiler, **kw)  # JSON has no NaN nor infinity
    # The dialect's own form of each value (SQLite stores a timestamp as its text).
    dialect = compiler.dialect
    process = element.item_type.dialect_impl(dialect).bind_processor(dialect)
    values = [process(v) if process else v for v in element.values]
    array = sa.bindparam(None, json.dumps(values, default=str), sa.String(), unique=True)
    column = compiler.process(element.column, **kw)
    # Compiled SQL and a bound parameter, never a value:
    return f"{column} IN (SELECT value FROM json_each({compiler.process(array, **kw)}))"  # noqa: S608


@compiles(InArray, "postgresql")
def _any(element: InArray, compiler: SQLCompiler, **kw: Any) -> str:
    array = sa.bindparam(None, element.values, postgresql.ARRAY(element.item_type), unique=True)
    column = compiler.process(element.column, **kw)
    return f"{column} = ANY({compiler.process(array, **kw)})"
