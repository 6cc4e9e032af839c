"""The `sql` source: a request's rows read in chunks, by ADBC into Arrow or by SQLAlchemy.

Also what `plan` shows of a request (its SQL and bound values), its row count, and the
last (cursor, key) position an incremental window starts from.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Generator, Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from exportctl import model as m
from exportctl.errors import SourceError
from exportctl.sources.base import KeyBounds, Request, pieces
from exportctl.sources.sql import column_types, connection, rows, sqlite_arrow, sqlite_files
from exportctl.sources.sql.options import SqlOptions
from exportctl.sources.sql.query import reflect, refuse_duplicates, retyped, statement
from exportctl.values import not_utf8


class SqlSource:
    Options = SqlOptions

    def __init__(self, options: SqlOptions, base_dir: Path):
        self.url = connection.resolve(make_url(options.url), base_dir)
        self.chunk_size = options.chunk_size
        self.busy_timeout = options.busy_timeout
        #: How the last `chunks` read: "arrow" (sqlite_arrow) or "rows" (the general path).
        self.read_by: str | None = None
        self.engine, self._catalog = connection.engines(self.url, options.busy_timeout)
        #: Reflected tables and described raw queries: the count (on a thread of its own)
        #: and the read share one.
        self._tables: dict[str, sa.Table] = {}
        self._described: dict[str, list[tuple[str, Any]]] = {}
        self._reflecting = threading.Lock()

    def describe(self, request: Request) -> dict[str, Any]:
        """The SQL with named placeholders (`:port_1`, an `IN` list expanded), and each
        bound value by name in the order the SQL reads them: what `plan` shows."""
        dialect: Any = type(self.engine.dialect)  # DefaultDialect's public `paramstyle`
        named = dialect(paramstyle="named")  # the same SQL, placeholders with readable names
        compiled = statement(request).compile(
            dialect=named, compile_kwargs={"render_postcompile": True}
        )
        sql = str(compiled)

        def position(name: str) -> int:
            found = re.search(rf":{re.escape(name)}\b", sql)
            return found.start() if found else len(sql)

        return {
            "url": self.url.render_as_string(hide_password=True),
            "sql": sql,
            "params": {k: compiled.params[k] for k in sorted(compiled.params, key=position)},
        }

    def count(self, request: Request) -> int | None:
        with self._connected() as conn:
            counted = self._select(conn, request).subquery("n")
            return int(conn.execute(sa.select(sa.func.count()).select_from(counted)).scalar_one())

    def last_position(self, request: Request, columns: tuple[str, ...]) -> tuple[Any, ...] | None:
        """The greatest (cursor, key) among the request's rows, typed as the rows are.

        Rows with a NULL key are passed over too: a NULL in the bound would make every
        row with its cursor value unknown to the window's comparisons, and PostgreSQL
        sorts NULLs first in descending order.
        """
        not_null = tuple(m.IsNull(c, negate=True) for c in columns)
        where = m.And(not_null if request.query.where is None else (request.query.where, *not_null))
        query = replace(
            request.query,
            where=where,
            order_by=tuple(m.OrderKey(c, descending=True) for c in columns),
            limit=1,
        )
        with self._connected() as conn:
            row = conn.execute(self._select(conn, Request(query, columns))).first()
        return tuple(row) if row else None

    def key_bounds(self, request: Request, key: str, size: int | None = None) -> KeyBounds:
        """The least and greatest `key` among the request's rows, and the rows with and
        without one: one aggregate query over the same filtered rows, typed as they are.
        With `size`, on PostgreSQL, a second finds the key's quantiles for pieces of that
        many rows (it sorts the key column, which is still no read of the rows)."""
        query = replace(request.query, order_by=(), limit=None)
        with self._connected() as conn:
            keyed = self._select(conn, replace(request, query=query, columns=(key,))).subquery("k")
            column = keyed.c[key]
            aggregate = sa.select(
                sa.func.min(column), sa.func.max(column), sa.func.count(column), sa.func.count()
            )
            low, high, rows, every = conn.execute(aggregate.select_from(keyed)).one()
            quantiles: tuple[Any, ...] = ()
            if size is not None and pieces(int(rows), size) > 1 and self._has_quantiles:
                quantiles = _quantiles(conn, keyed, column, pieces(int(rows), size))
        # PostgreSQL (and Oracle) sort NULLs after every value in ascending order.
        nulls_first = self.engine.dialect.name not in ("postgresql", "oracle")
        return KeyBounds(low, high, int(rows), int(every) - int(rows), nulls_first, quantiles)

    @property
    def _has_quantiles(self) -> bool:
        """Whether the database has `percentile_disc(array) WITHIN GROUP` (PostgreSQL)."""
        return self.engine.dialect.name == "postgresql"

    def _select(
        self, conn: sa.Connection, request: Request, settle: bool = False
    ) -> sa.Select[Any]:
        """The request's SELECT, its columns typed as the database declares them: a
        table's by reflecting it, a raw query's by describing its result (each once).
        `settle` types the columns the database leaves untyped too (column_types)."""
        qualified = request.query.table
        with self._reflecting:
            if qualified and qualified not in self._tables:
                if self._catalog is self.engine:
                    self._tables[qualified] = reflect(conn, qualified)
                else:
                    with self._catalog.connect() as catalog:
                        self._tables[qualified] = reflect(catalog, qualified)
            elif not qualified and request.query.sql not in self._described:
                self._described[request.query.sql or ""] = self._describe(conn, request)
        table = self._tables[qualified] if qualified else None
        typed = None if qualified else self._described[request.query.sql or ""]
        select = statement(request, table, typed)
        if not settle:
            return select
        columns = [(c.name, c.type) for c in select.selected_columns]
        return retyped(select, column_types.settle(conn, select, columns, dict(request.declared)))

    def _describe(self, conn: sa.Connection, request: Request) -> list[tuple[str, Any]]:
        """A raw query's result columns and the types the database gives them."""
        whole = statement(Request(m.Query(sql=request.query.sql, params=request.query.params)))
        found = None
        if self.url.get_backend_name() == "sqlite" and self.url.database:
            sql = str(whole.compile(dialect=self.engine.dialect))
            found = column_types.sqlite_columns(self.url.database, sql)
        if found is None:
            found = column_types.described_columns(conn, whole)
        refuse_duplicates([name for name, _ in found])
        return found

    def chunks(self, request: Request) -> Generator[pd.DataFrame, None, None]:
        read = [0]  # rows yielded so far
        with self._connected() as conn, ExitStack() as stack:
            select = self._select(conn, request, settle=True)
            stack.enter_context(column_types.unreadable(select))
            fast = self._arrow_tables(select, stack)
            self.read_by = "rows" if fast is None else "arrow"
            if fast is not None:
                # The driver reads on its own connection, with its own SQLite library: the
                # two do not see each other's locks in one process, so ours holds none.
                conn.close()
                for table in fast:
                    yield self._located(not_utf8.from_binary(rows.pandas(table)), request, read)
                return
            try:
                result = conn.execution_options(yield_per=self.chunk_size).execute(select)
                # Closed on any exit: an open cursor would hold SQLite's read lock for as
                # long as a traceback keeps this frame alive.
                stack.callback(result.close)
                for frame in rows.frames(result, select):
                    yield self._located(frame, request, read)
            except sa.exc.DataError as exc:  # the first rows are fetched by `execute`
                raise SourceError(connection.unreadable(self.url, exc, select)) from None

    def _located(self, frame: pd.DataFrame, request: Request, read: list[int]) -> pd.DataFrame:
        """Text that is not UTF-8 told its table (or query) and row key (see not_utf8);
        `read` counts the rows read before, for a row without a key column."""
        first, read[0] = read[0] + 1, read[0] + len(frame)
        if all(dtype != np.dtype(object) for dtype in frame.dtypes):
            return frame
        qualified = request.query.table
        table = self._tables.get(qualified) if qualified else None
        keys = [c.name for c in table.primary_key.columns] if table is not None else []
        what = f"table `{qualified}`" if qualified else "the query"
        return not_utf8.locate(frame, what, keys, first)

    def _arrow_tables(self, select: sa.Select[Any], stack: ExitStack) -> Iterator[pa.Table] | None:
        """The rows read by the ADBC SQLite driver straight into Arrow, when it can read
        this query's columns (see sqlite_arrow); None to read them the general way."""
        if not sqlite_arrow.available(self.url):
            return None
        columns = list(select.selected_columns)
        names = [c.name for c in columns]
        wanted = sqlite_arrow.converters(
            columns, [column_types.arrow_type(c.type) for c in columns], self.engine.dialect
        )
        if wanted is None or len(set(names)) != len(names):
            return None
        sql, params = sqlite_arrow.statement(select, self.engine.dialect)
        where = self.url.render_as_string(hide_password=True)
        batches = stack.enter_context(
            sqlite_arrow.Batches(
                sqlite_files.read_only_uri(self.url.database or ""),
                self.chunk_size,
                where,
                self.busy_timeout,
            )
        )
        return batches.stream(sql, params, names, wanted)

    def _connected(self) -> AbstractContextManager[sa.Connection]:
        """A connection; database errors inside the block become our own, secrets left out."""
        return connection.connected(self.engine, self.url, self.busy_timeout)

    def report(self) -> list[str]:
        return []

    def close(self) -> None:
        self.engine.dispose()
        self._catalog.dispose()


def _quantiles(
    conn: sa.Connection, keyed: sa.Subquery, column: sa.ColumnElement[Any], count: int
) -> tuple[Any, ...]:
    """The key's values at 1/count, 2/count, ... of its rows in key order."""
    fractions = sa.literal([i / count for i in range(1, count)], type_=postgresql.ARRAY(sa.Float))
    found = conn.execute(
        sa.select(sa.func.percentile_disc(fractions).within_group(column)).select_from(keyed)
    ).scalar_one()
    return tuple(found or ())
