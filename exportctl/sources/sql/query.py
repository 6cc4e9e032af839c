"""The SELECT for a request: its table or raw query, columns, filter, order and limit."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement

from exportctl.errors import SourceError
from exportctl.sources.base import Request
from exportctl.sources.sql.pushdown import to_sql


def statement(
    request: Request,
    table: sa.Table | None = None,
    typed: Sequence[tuple[str, Any]] | None = None,
) -> sa.Select[Any]:
    """The SELECT for a request. With a reflected table, or a raw query's result columns
    (`typed`: names and types), its columns carry their types."""
    query = request.query
    source: Any
    if table is not None:
        source = table
        column: Callable[[str], Any] = partial(table_column, table)
    elif query.table:
        schema, _, name = query.table.rpartition(".")
        source = sa.table(name, schema=schema or None)
        column = sa.column
    else:
        text = sa.text(query.sql or "").bindparams(**dict(query.params))
        declared = [sa.column(name, sql_type) for name, sql_type in typed or ()]
        source = text.columns(*declared).subquery("q")
        column = partial(table_column, source) if typed is not None else sa.column
    picked = [column(c) for c in request.columns] if request.columns else None
    everything = source.c if table is not None or typed is not None else None
    select = sa.select(*picked) if picked else _select_all(everything)
    select = select.select_from(source)
    if query.where is not None:
        select = select.where(to_sql(query.where, column))
    for key in query.order_by:
        by = CodePoint(column(key.field)) if key.code_point else column(key.field)
        select = select.order_by(by.desc() if key.descending else by)
    if query.limit is not None:
        select = select.limit(query.limit)
    return select


class CodePoint(ColumnElement[Any]):
    """A column sorted by code point: text on PostgreSQL gets `COLLATE "C"`, as a locale's
    order (en_US puts `a-b` after `ab`) differs from the one change mode merges in.
    SQLite's default BINARY collation already is code point order for UTF-8."""

    inherit_cache = False  # compiled afresh: the element has a column of its own

    def __init__(self, inner: Any):
        self.inner = inner
        self.type = inner.type


@compiles(CodePoint)
def _code_point_default(element: CodePoint, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.inner, **kw))


@compiles(CodePoint, "postgresql")
def _code_point_postgresql(element: CodePoint, compiler: Any, **kw: Any) -> str:
    text = str(compiler.process(element.inner, **kw))
    is_text = isinstance(element.type, sa.String) and not isinstance(element.type, sa.Enum)
    return f'{text} COLLATE "C"' if is_text else text


def _select_all(columns: Any) -> sa.Select[Any]:
    return sa.select(*columns) if columns is not None else sa.select(sa.literal_column("*"))


def retyped(select: sa.Select[Any], types: dict[str, Any]) -> sa.Select[Any]:
    """The SELECT with the named columns read as `types` say (no CAST in the SQL)."""
    if not types:
        return select
    columns = [
        sa.type_coerce(c, types[c.name]).label(c.name) if c.name in types else c
        for c in select.selected_columns
    ]
    return select.with_only_columns(*columns, maintain_column_froms=True)


def reflect(conn: sa.Connection, qualified: str) -> sa.Table:
    """A table as the database declares it; an unknown one named, with the likeliest."""
    schema, _, name = qualified.rpartition(".")
    try:
        return sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=conn)
    except sa.exc.NoSuchTableError:
        known = sa.inspect(conn).get_table_names(schema=schema or None)
        raise SourceError(f"no table `{qualified}` in the source{_suggest(name, known)}") from None


def table_column(table: sa.Table | sa.Subquery, name: str) -> Any:
    if name not in table.c:
        what = f"table `{table.name}`" if isinstance(table, sa.Table) else "the query"
        raise SourceError(f"{what} has no column `{name}`{_suggest(name, list(table.c.keys()))}")
    return table.c[name]


def _suggest(name: str, known: Sequence[str]) -> str:
    guess = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean `{guess[0]}`?" if guess else f"; it has {', '.join(known)}"


def refuse_duplicates(names: list[str]) -> None:
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SourceError(f"the query returns several columns named {', '.join(twice)}; alias them")
