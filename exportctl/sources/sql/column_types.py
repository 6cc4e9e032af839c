"""A SQL column's type, decided once before the first row is read.

A chunk's Arrow types must not depend on the rows it happens to hold: a column NULL
throughout one chunk, or holding numbers in one and text in the next, would be written
as different types by each chunk (Parquet then keeps the first chunk's). So every column
gets its type before the read begins, from, in order:

1. the database: a table's declared types, a raw query's result columns (SQLite's
   declared types of the columns they come from, PostgreSQL's type OIDs);
2. for a column the database cannot type (a SQLite expression, or a column declared
   without a type), the spec's field `type`, checked against the storage classes the
   column holds;
3. else those storage classes, asked of SQLite over the whole result in one query:
   integers, reals (integers and reals: floats), text, blobs; NULL throughout: text.
   A mix the rule cannot carry exactly fails before anything is written, naming the
   column and how to cast it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from functools import cache
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects.sqlite.base import ischema_names as sqlite_names

from exportctl.errors import SourceError
from exportctl.values import json_values

#: A spec field's declared `type` as the SQL type a column without one is read as.
DECLARED: dict[str, Any] = {
    "string": sa.Text,
    "integer": sa.BigInteger,
    "number": sa.Float,
    "float": sa.Float,
    "boolean": sa.Boolean,
    "timestamp": sa.DateTime,
    "date": sa.Date,
}
#: The SQLite storage classes a declared type reads (booleans are stored as 0 and 1).
_READS: dict[str, frozenset[str]] = {
    "string": frozenset({"text"}),
    "integer": frozenset({"integer"}),
    "number": frozenset({"integer", "real"}),
    "float": frozenset({"integer", "real"}),
    "boolean": frozenset({"integer"}),
    "timestamp": frozenset({"text"}),
    "date": frozenset({"text"}),
}
_ARROW_TYPES: dict[type, pa.DataType] = {
    bool: pa.bool_(),
    int: pa.int64(),
    float: pa.float64(),
    str: pa.string(),
    bytes: pa.binary(),
    dt.date: pa.date32(),
}
_CLASSES = ("integer", "real", "text", "blob")
#: Integers beyond ±2**53 have no exact float.
_EXACT_FLOAT_INT = 2**53


class Raw(sa.types.NullType):
    """Read as the values are, Python objects: a column declared `string`, `integer` or
    `number` holding values of other kinds too. Validation then finds those rows invalid
    (the `type` check) and the runner types what it keeps (fields.typed_as_declared)."""


#: The declared types whose values SQLite hands over as they are, so a raw read can keep
#: the rows that fit and leave the others to validation.
_READ_RAW = frozenset({"string", "integer", "number"})


def untyped(sql_type: Any) -> bool:
    """Whether the database gave the column no type (SQLAlchemy's NullType)."""
    return sql_type is None or isinstance(sql_type, sa.types.NullType)


def sqlite_type(declared: str | None) -> Any:
    """A SQLite declared type as SQLAlchemy reflects a table's column: its own names
    first, then SQLite's affinity rules (https://sqlite.org/datatype3.html, 3.1)."""
    name = re.sub(r"\(.*", "", declared or "").strip().upper()
    if name in sqlite_names:
        return sqlite_names[name]()
    if "INT" in name:
        return sa.Integer()
    if any(text in name for text in ("CHAR", "CLOB", "TEXT")):
        return sa.Text()
    if not name or "BLOB" in name:
        return sa.types.NullType()
    if any(real in name for real in ("REAL", "FLOA", "DOUB")):
        return sa.Float()
    return sa.Numeric()


def sqlite_columns(database: str, sql: str) -> list[tuple[str, Any]] | None:
    """Each result column of `sql` (SQLite, `?` parameters) with its declared type.

    Python's sqlite3 does not offer `sqlite3_column_decltype`, so this prepares the
    statement (never steps it) through SQLite's public C API on a read-only connection
    of its own. None when the library or the statement cannot be had: the query then
    fails, or its columns are typed by their values, on the ordinary path.
    """
    lib = _sqlite_library()
    if lib is None:
        return None
    db, statement = ctypes.c_void_p(), ctypes.c_void_p()
    read_only_uri = 0x01 | 0x40  # SQLITE_OPEN_READONLY | SQLITE_OPEN_URI
    try:
        if lib.sqlite3_open_v2(database.encode(), ctypes.byref(db), read_only_uri, None) != 0:
            return None
        if lib.sqlite3_prepare_v2(db, sql.encode(), -1, ctypes.byref(statement), None) != 0:
            return None
        found = []
        for index in range(lib.sqlite3_column_count(statement)):
            name = lib.sqlite3_column_name(statement, index).decode()
            declared = lib.sqlite3_column_decltype(statement, index)
            found.append((name, sqlite_type(declared and declared.decode())))
        return found
    finally:
        lib.sqlite3_finalize(statement)
        lib.sqlite3_close(db)


@cache
def _sqlite_library() -> Any:
    found = ctypes.util.find_library("sqlite3")
    if found is None:  # pragma: no cover - SQLite built into Python without a shared library
        return None
    lib = ctypes.CDLL(found)
    lib.sqlite3_column_name.restype = ctypes.c_char_p
    lib.sqlite3_column_decltype.restype = ctypes.c_char_p
    for function in ("sqlite3_open_v2", "sqlite3_prepare_v2", "sqlite3_column_count"):
        getattr(lib, function).restype = ctypes.c_int
    lib.sqlite3_column_name.argtypes = lib.sqlite3_column_decltype.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
    ]
    lib.sqlite3_column_count.argtypes = [ctypes.c_void_p]
    lib.sqlite3_finalize.argtypes = lib.sqlite3_close.argtypes = [ctypes.c_void_p]
    return lib


def described_columns(conn: sa.Connection, select: sa.Select[Any]) -> list[tuple[str, Any]]:
    """The result columns of `select` typed as the database describes them (PostgreSQL's
    OIDs, named by `format_type` as reflection names a table's columns)."""
    result = conn.execute(select.limit(0))
    description = result.cursor.description if result.cursor is not None else None
    keys = list(result.keys())
    result.close()
    if not description:
        return [(name, None) for name in keys]
    codes = [getattr(d, "type_code", d[1]) for d in description]
    names: dict[Any, str] = {}
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            sa.text(
                "SELECT oid, format_type(oid, NULL) FROM pg_catalog.pg_type WHERE oid = ANY(:o)"
            ),
            {"o": [int(c) for c in codes if isinstance(c, int)]},
        )
        names = {oid: text for oid, text in rows}
    return [
        (d[0], _named_type(conn.dialect, names.get(code)))
        for d, code in zip(description, codes, strict=True)
    ]


def _named_type(dialect: sa.Dialect, name: str | None) -> Any:
    known = getattr(dialect, "ischema_names", {})
    if name is None or name not in known:
        return None
    if name.startswith(("timestamp", "time ")) and "with time zone" in name:
        return known[name](timezone=True)
    return known[name]()


def settle(
    conn: sa.Connection,
    select: sa.Select[Any],
    columns: Sequence[tuple[str, Any]],
    declared: Mapping[str, str],
) -> dict[str, Any]:
    """The types of the columns the database left untyped (SQLite), by name."""
    open_ = [name for name, sql_type in columns if untyped(sql_type)]
    if not open_ or conn.dialect.name != "sqlite":
        return {}
    held = _storage_classes(conn, select, open_)
    return {name: _decide(name, *held[name], declared.get(name)) for name in open_}


def _storage_classes(
    conn: sa.Connection, select: sa.Select[Any], names: list[str]
) -> dict[str, tuple[set[str], bool]]:
    """Per column, the storage classes its values have over the whole result, and whether
    an integer among them has no exact float: one query, whatever the chunk size."""
    rows = select.subquery("typed")
    wanted = []
    for name in names:
        column = rows.c[name]
        kind = sa.func.typeof(column)
        wanted += [sa.func.max(sa.case((kind == k, 1), else_=0)) for k in _CLASSES]
        big = sa.and_(
            kind == "integer",
            sa.or_(column > _EXACT_FLOAT_INT, column < -_EXACT_FLOAT_INT),
        )
        wanted.append(sa.func.max(sa.case((big, 1), else_=0)))
    found = conn.execute(sa.select(*wanted)).one()
    width = len(_CLASSES) + 1
    held = {}
    for index, name in enumerate(names):
        flags = found[index * width : (index + 1) * width]
        classes = {k for k, flag in zip(_CLASSES, flags, strict=False) if flag}
        held[name] = (classes, bool(flags[-1]))
    return held


def _decide(name: str, classes: set[str], big: bool, declared: str | None) -> Any:
    """The type one untyped column is read as, or a SourceError before anything is read."""
    held = ", ".join(k for k in _CLASSES if k in classes)
    how = f"CAST it in the query to one type, e.g. CAST({name} AS TEXT)"
    if declared is not None:
        if big and declared == "number":
            raise SourceError(
                f"column `{name}` is declared `number` but holds integers beyond 2**53, "
                "which a float cannot hold exactly; declare it `integer`"
            )
        if not classes <= _READS[declared] and declared in _READ_RAW:
            return Raw()  # the rows of another kind are invalid: validation says which
        if not classes <= _READS[declared]:
            raise SourceError(
                f"column `{name}` is declared `{declared}` but holds {held} values; "
                "convert them in the query, or declare another type"
            )
        chosen = DECLARED[declared]()
    elif not classes:
        chosen = sa.Text()  # NULL throughout: text, whatever the chunking
    elif classes <= {"integer", "real"}:
        chosen = sa.BigInteger() if classes == {"integer"} else sa.Float()
    elif len(classes) == 1:
        chosen = sa.Text() if classes == {"text"} else sa.LargeBinary()
    else:
        raise SourceError(
            f"column `{name}` has no declared type and holds values of several types "
            f"({held}); {how}"
        )
    if big and isinstance(chosen, sa.Float):
        raise SourceError(
            f"column `{name}` holds integers and reals, and integers beyond 2**53 that a "
            f"float cannot hold exactly; {how}"
        )
    return chosen


def arrow_type(sql_type: Any) -> pa.DataType | None:
    """The Arrow type a SQL type's values are read as; None: as the values say."""
    if isinstance(sql_type, sa.JSON) or (
        isinstance(sql_type, sa.ARRAY) and isinstance(sql_type.item_type, sa.JSON)
    ):
        return json_values.JSON  # json[] and jsonb[]: a JSON array of the values
    try:
        python_type = sql_type.python_type
    except NotImplementedError:
        return None
    if python_type is dt.datetime:
        return pa.timestamp("us", tz="UTC" if getattr(sql_type, "timezone", False) else None)
    if python_type is Decimal:
        return None  # let Arrow pick the precision the values need
    return _ARROW_TYPES.get(python_type)


@contextmanager
def unreadable(select: sa.Select[Any]) -> Iterator[None]:
    """SQLAlchemy's words for text a timestamp or date column cannot read, with the
    columns that could hold it (SQLAlchemy's message does not say which)."""
    try:
        yield
    except ValueError as exc:
        dated = [
            c.name for c in select.selected_columns if isinstance(c.type, sa.DateTime | sa.Date)
        ]
        if not dated:
            raise
        raise SourceError(
            f"{exc}: a value in {', '.join(f'`{n}`' for n in dated)} is not a timestamp "
            "or date in a form SQLite stores; convert it in the query"
        ) from None
