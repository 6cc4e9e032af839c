"""SQL databases through SQLAlchemy: SQLite (the embedded default) and PostgreSQL.

Filters become WHERE clauses with bound parameters; rows stream through a
server-side cursor in chunks, so memory follows the chunk size, not the table.
"""

from __future__ import annotations

import difflib
import operator
import os
import re
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement

from exportctl import drivers, json_values, not_utf8
from exportctl.errors import SourceError, TransientError
from exportctl.secrecy import quoted
from exportctl.sources import sql_types, sqlite_arrow, sqlite_files
from exportctl.sources.base import Request
from exportctl.sources.sql_lists import in_list
from exportctl.spec import model as m

_SQL_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


@dataclass(frozen=True)
class SqlOptions:
    url: str = "sqlite://"
    chunk_size: int = 10_000
    #: SQLite: seconds to wait for a writer's lock, after which the attempt fails, transiently.
    busy_timeout: float = 5.0

    def __post_init__(self) -> None:
        try:
            make_url(self.url)
        except (sa.exc.ArgumentError, ValueError):
            raise ValueError("`url` is not a database URL such as sqlite:///system.db") from None


class SqlSource:
    Options = SqlOptions
    filters_rows = True

    def __init__(self, options: SqlOptions, base_dir: Path):
        self.url = _resolve(make_url(options.url), base_dir)
        self.chunk_size = options.chunk_size
        self.busy_timeout = options.busy_timeout
        #: How the last `chunks` read: "arrow" (sqlite_arrow) or "rows" (the general path).
        self.read_by: str | None = None
        sqlite = self.url.get_backend_name() == "sqlite"
        # JSON values stay the text the database wrote (see json_values): parsed, Arrow
        # would give every object the union of the column's keys.
        postgres = self.url.get_backend_name() == "postgresql"
        loads = json_values.from_driver if postgres else json_values.checked
        self.engine = drivers.create_engine(
            sqlite_files.read_only_url(self.url),
            connect_args={"timeout": options.busy_timeout} if sqlite else {},
            json_deserializer=loads,
        )
        # Reflection reads the catalog, whose JSON (a column's collation, on PostgreSQL)
        # SQLAlchemy must parse: with the text-keeping loader it cannot.
        self._catalog = drivers.create_engine(self.url) if postgres else self.engine
        #: Reflected tables and described raw queries: the count (on a thread of its own)
        #: and the read share one.
        self._tables: dict[str, sa.Table] = {}
        self._described: dict[str, list[tuple[str, Any]]] = {}
        self._reflecting = threading.Lock()
        if sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_session)
        elif self.url.get_backend_name() == "postgresql":
            sa.event.listen(self.engine, "connect", _postgres_session)

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

    def _select(
        self, conn: sa.Connection, request: Request, settle: bool = False
    ) -> sa.Select[Any]:
        """The request's SELECT, its columns typed as the database declares them: a
        table's by reflecting it, a raw query's by describing its result (each once).
        `settle` types the columns the database leaves untyped too (sql_types)."""
        qualified = request.query.table
        with self._reflecting:
            if qualified and qualified not in self._tables:
                if self._catalog is self.engine:
                    self._tables[qualified] = _reflect(conn, qualified)
                else:
                    with self._catalog.connect() as catalog:
                        self._tables[qualified] = _reflect(catalog, qualified)
            elif not qualified and request.query.sql not in self._described:
                self._described[request.query.sql or ""] = self._describe(conn, request)
        table = self._tables[qualified] if qualified else None
        typed = None if qualified else self._described[request.query.sql or ""]
        select = statement(request, table, typed)
        if not settle:
            return select
        columns = [(c.name, c.type) for c in select.selected_columns]
        return retyped(select, sql_types.settle(conn, select, columns, dict(request.declared)))

    def _describe(self, conn: sa.Connection, request: Request) -> list[tuple[str, Any]]:
        """A raw query's result columns and the types the database gives them."""
        whole = statement(Request(m.Query(sql=request.query.sql, params=request.query.params)))
        found = None
        if self.url.get_backend_name() == "sqlite" and self.url.database:
            sql = str(whole.compile(dialect=self.engine.dialect))
            found = sql_types.sqlite_columns(self.url.database, sql)
        if found is None:
            found = sql_types.described_columns(conn, whole)
        _refuse_duplicates([name for name, _ in found])
        return found

    def chunks(self, request: Request) -> Generator[pd.DataFrame, None, None]:
        read = [0]  # rows yielded so far
        with self._connected() as conn, ExitStack() as stack:
            select = self._select(conn, request, settle=True)
            stack.enter_context(sql_types.unreadable(select))
            fast = self._arrow_tables(select, stack)
            self.read_by = "rows" if fast is None else "arrow"
            if fast is not None:
                # The driver reads on its own connection, with its own SQLite library: the
                # two do not see each other's locks in one process, so ours holds none.
                conn.close()
                for table in fast:
                    yield self._located(not_utf8.from_binary(_pandas(table)), request, read)
                return
            try:
                result = conn.execution_options(yield_per=self.chunk_size).execute(select)
            except sa.exc.DataError as exc:  # the first rows are fetched here
                raise SourceError(self._unreadable(exc, select)) from None
            # Closed on any exit: an open cursor would hold SQLite's read lock for as long
            # as a traceback keeps this frame alive.
            stack.callback(result.close)
            names = list(result.keys())
            _refuse_duplicates(names)
            types = [_read_type(c.type) for c in select.selected_columns]
            if len(types) != len(names):  # SELECT *: the database alone knows the columns
                types = [None] * len(names)
            try:
                for rows in result.partitions():
                    frame = _frame(names, types, rows, read[0])
                    yield self._located(frame, request, read)
            except sa.exc.DataError as exc:
                raise SourceError(self._unreadable(exc, select)) from None
            if not read[0]:
                yield _frame(names, types, [])

    def _unreadable(self, exc: sa.exc.DataError, select: sa.Select[Any]) -> str:
        """A value the driver cannot read, with the columns it may be in: PostgreSQL's
        `infinity` and years past 9999 have no Python date or datetime."""
        where = self.url.render_as_string(hide_password=True)
        text = f"{where}: {str(exc.orig).strip()}"
        if "year" not in text:
            return text
        columns = select.selected_columns
        dated = [c.name for c in columns if isinstance(c.type, sa.Date | sa.DateTime)]
        among = f" in {', '.join(f'`{n}`' for n in dated)}" if dated else ""
        return (
            f"{text}: a date or timestamp{among} that exports cannot hold; cast it in the "
            "query to text (`column::text`) or filter it out"
        )

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
            columns, [sql_types.arrow_type(c.type) for c in columns], self.engine.dialect
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

    @contextmanager
    def _connected(self) -> Iterator[sa.Connection]:
        """A connection; database errors inside the block become our own, secrets left out."""
        sqlite_files.require_file(self.url)
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            # exc.orig alone: SQLAlchemy's own text adds the SQL and its bound values.
            where = self.url.render_as_string(hide_password=True)
            message = f"{where}: {str(exc.orig).strip()}"
            if sqlite_files.is_busy(exc.orig):
                raise TransientError(message + sqlite_files.busy_hint(self.busy_timeout)) from None
            kind = TransientError if exc.connection_invalidated else SourceError
            raise kind(message) from None

    def report(self) -> list[str]:
        return []

    def close(self) -> None:
        self.engine.dispose()
        self._catalog.dispose()


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
        column: Callable[[str], Any] = partial(_table_column, table)
    elif query.table:
        schema, _, name = query.table.rpartition(".")
        source = sa.table(name, schema=schema or None)
        column = sa.column
    else:
        text = sa.text(query.sql or "").bindparams(**dict(query.params))
        declared = [sa.column(name, sql_type) for name, sql_type in typed or ()]
        source = text.columns(*declared).subquery("q")
        column = partial(_table_column, source) if typed is not None else sa.column
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

    def typed(value: Any) -> tuple[Any, sa.types.TypeEngine[Any] | None]:
        """The value and the SQL type to bind it as: the value's own, so the database never
        casts it to the column's type first (2.5 to 2; 2**40 overflowing INTEGER; `true`
        refused by `<`). Text for a timestamp column is read as transforms.filter reads
        it: no offset means UTC."""
        if isinstance(value, str) and isinstance(col.type, sa.DateTime):
            try:
                stamp = pd.Timestamp(value)
            except ValueError:
                shown = quoted(value)  # a spec's value, maybe 100,000 characters long
                raise SourceError(
                    f"field `{node.field}` holds timestamps; {shown} is not one"
                ) from None
            stamp = stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
            if not col.type.timezone:
                stamp = stamp.tz_localize(None)
            return stamp.to_pydatetime(), col.type
        for python_type, sql_type in _VALUE_TYPES:
            if isinstance(value, python_type):
                return value, sql_type
        return value, None  # text and the rest: as the column's type, SQLAlchemy's default

    def bound(value: Any) -> Any:
        value, sql_type = typed(value)
        return value if sql_type is None else sa.bindparam(col.key, value, sql_type, unique=True)

    if isinstance(node, m.Compare):
        return _SQL_COMPARE[node.op](col, bound(node.value))
    if isinstance(node, m.InSet):
        within = in_list(col, [typed(v) for v in node.values])
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


def _resolve(url: URL, base_dir: Path) -> URL:
    """A relative SQLite path is relative to the spec's folder, not the working directory."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if database.startswith("file:") or Path(database).is_absolute():
        return url
    return url.set(database=os.path.normpath(base_dir / database))


def _sqlite_session(dbapi_connection: Any, _record: Any) -> None:
    # LIKE is case-sensitive in our filter language, as in PostgreSQL; and a
    # source is only ever read.
    dbapi_connection.execute("PRAGMA case_sensitive_like = ON")
    dbapi_connection.execute("PRAGMA query_only = ON")
    # Text that is not UTF-8 is read as a marker for validation, not a failed read.
    dbapi_connection.text_factory = not_utf8.decode


def _postgres_session(dbapi_connection: Any, _record: Any) -> None:
    """Intervals read as their ISO 8601 text (`P1M2DT3H4M5.5S`): psycopg's timedelta takes
    a month for 30 days, and a month and a day have no fixed length in PostgreSQL."""
    adapters = getattr(dbapi_connection, "adapters", None)
    if adapters is None:  # not psycopg 3: its own conversions stand
        return
    from psycopg.types.string import TextLoader

    adapters.register_loader("interval", TextLoader)
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET intervalstyle TO iso_8601")
    dbapi_connection.commit()


def _reflect(conn: sa.Connection, qualified: str) -> sa.Table:
    schema, _, name = qualified.rpartition(".")
    try:
        return sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=conn)
    except sa.exc.NoSuchTableError:
        known = sa.inspect(conn).get_table_names(schema=schema or None)
        raise SourceError(f"no table `{qualified}` in the source{_suggest(name, known)}") from None


def _table_column(table: sa.Table | sa.Subquery, name: str) -> Any:
    if name not in table.c:
        what = f"table `{table.name}`" if isinstance(table, sa.Table) else "the query"
        raise SourceError(f"{what} has no column `{name}`{_suggest(name, list(table.c.keys()))}")
    return table.c[name]


def _suggest(name: str, known: Sequence[str]) -> str:
    guess = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean `{guess[0]}`?" if guess else f"; it has {', '.join(known)}"


def _refuse_duplicates(names: list[str]) -> None:
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SourceError(f"the query returns several columns named {', '.join(twice)}; alias them")


_MISFIT = (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError)
#: A column read as Python objects (sql_types.Raw), not as Arrow values.
_OBJECTS = pa.null()


def _objects(arrow_type: pa.DataType | None) -> bool:
    return arrow_type is not None and pa.types.is_null(arrow_type)


def _read_type(sql_type: Any) -> pa.DataType | None:
    return _OBJECTS if isinstance(sql_type, sql_types.Raw) else sql_types.arrow_type(sql_type)


def _frame(
    names: list[str], types: list[pa.DataType | None], rows: Sequence[Any], offset: int = 0
) -> pd.DataFrame:
    """Rows `offset + 1...` of the result as typed columns; a value its column's type
    cannot hold fails the read, naming the column and the row."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = []
    marked = {}  # text columns holding text that is not UTF-8: kept for validation
    for name, arrow_type, values in zip(names, types, columns, strict=True):
        if _objects(arrow_type):  # a placeholder: the values go in as they are, below
            arrays.append(pa.nulls(len(values)))
            continue
        if arrow_type == pa.string() and any(isinstance(v, bytes) for v in values):
            # A BLOB in a text column: text if its bytes are UTF-8, as the ADBC path reads it.
            values = tuple(not_utf8.decode(v) if isinstance(v, bytes) else v for v in values)
        if not_utf8.holds_markers(values):
            marked[name] = values
            values = tuple(None if isinstance(v, not_utf8.NotUtf8) else v for v in values)
        if arrow_type is None and any(json_values.holds_json(v) for v in values):
            arrow_type = json_values.JSON  # a raw query's json column, or a json[] array
        if arrow_type == json_values.JSON:
            values = tuple(json_values.as_json(v) for v in values)
        try:
            arrays.append(pa.array(values, type=arrow_type))
        except _MISFIT:
            _refuse_decimals(name, values)
            at, odd = next(
                ((i, v) for i, v in enumerate(values) if not _fits(v, arrow_type)), (0, None)
            )
            # The value's kind, not the value (nor Arrow's text, which quotes it): it is
            # read before redaction could mask a secret.
            raise SourceError(
                f"column `{name}` holds values of mixed or unexpected types: it is read as "
                f"{arrow_type}, but row {offset + at + 1} of the result holds a "
                f"{type(odd).__name__}; cast it in the query to one type"
            ) from None
    frame = _pandas(pa.Table.from_arrays(arrays, names=names))
    for name, arrow_type, values in zip(names, types, columns, strict=True):
        if _objects(arrow_type):
            frame[name] = pd.Series(list(values), index=frame.index, dtype=object)
    for name, values in marked.items():
        frame[name] = not_utf8.object_column(values, frame.index)
    return frame


def _fits(value: Any, arrow_type: pa.DataType | None) -> bool:
    if arrow_type is None:
        return True
    try:
        pa.array([value], type=arrow_type)
        return True
    except _MISFIT:
        return False


#: The most digits an Arrow decimal (decimal256) holds.
_DECIMAL_DIGITS = 76


def _refuse_decimals(name: str, values: Sequence[Any]) -> None:
    """A numeric value Arrow's decimals cannot hold exactly, named, with the casts that can."""
    for row, value in enumerate(values, 1):
        what = _inexact_decimal(value)
        if what is not None:
            raise SourceError(
                f"column `{name}` holds {what} (row {row} of its chunk); cast it in the query: "
                f"`{name}::text` keeps it exactly, `{name}::float8` (`float8[]` for an array) "
                "as the nearest float"
            )


def _inexact_decimal(value: Any) -> str | None:
    """Why an Arrow decimal cannot hold `value` (or an array's element), or None."""
    if isinstance(value, list):
        return next((w for w in map(_inexact_decimal, value) if w is not None), None)
    if not isinstance(value, Decimal):
        return None
    if not value.is_finite():
        return f"the numeric {value}, which a decimal column cannot hold"
    if len(value.as_tuple().digits) > _DECIMAL_DIGITS:
        return f"a numeric of more than {_DECIMAL_DIGITS} digits ({str(value)[:20]}…)"
    return None


def _pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow-backed columns, converted in this thread: for 10k rows a thread pool costs
    three times the conversion (measured: 2.2 ms against 0.5)."""
    return table.to_pandas(types_mapper=pd.ArrowDtype, use_threads=False)
