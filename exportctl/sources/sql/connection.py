"""Engines, sessions and errors: how the source talks to its database.

A relative SQLite path is the spec folder's; a session is read-only, with LIKE
case-sensitive and text that is not UTF-8 kept as a marker; PostgreSQL intervals read
as ISO 8601 text. Database errors become our own, with no SQL, bound value or password.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from exportctl.errors import SourceError, TransientError
from exportctl.net import drivers
from exportctl.sources.sql import sqlite_files
from exportctl.values import json_values, not_utf8


def resolve(url: URL, base_dir: Path) -> URL:
    """A relative SQLite path is relative to the spec's folder, not the working directory."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if database.startswith("file:") or Path(database).is_absolute():
        return url
    return url.set(database=os.path.normpath(base_dir / database))


def engines(url: URL, busy_timeout: float) -> tuple[sa.Engine, sa.Engine]:
    """The engine that reads rows, and the one that reads the catalog (often the same)."""
    sqlite = url.get_backend_name() == "sqlite"
    # JSON values stay the text the database wrote (see json_values): parsed, Arrow
    # would give every object the union of the column's keys.
    postgres = url.get_backend_name() == "postgresql"
    loads = json_values.from_driver if postgres else json_values.checked
    engine = drivers.create_engine(
        sqlite_files.read_only_url(url),
        connect_args={"timeout": busy_timeout} if sqlite else {},
        json_deserializer=loads,
    )
    # Reflection reads the catalog, whose JSON (a column's collation, on PostgreSQL)
    # SQLAlchemy must parse: with the text-keeping loader it cannot.
    catalog = drivers.create_engine(url) if postgres else engine
    if sqlite:
        sa.event.listen(engine, "connect", _sqlite_session)
    elif postgres:
        sa.event.listen(engine, "connect", _postgres_session)
    return engine, catalog


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


@contextmanager
def connected(engine: sa.Engine, url: URL, busy_timeout: float) -> Iterator[sa.Connection]:
    """A connection; database errors inside the block become our own, secrets left out."""
    sqlite_files.require_file(url)
    try:
        with engine.connect() as conn:
            yield conn
    except sa.exc.DBAPIError as exc:
        # exc.orig alone: SQLAlchemy's own text adds the SQL and its bound values.
        where = url.render_as_string(hide_password=True)
        message = f"{where}: {str(exc.orig).strip()}"
        if sqlite_files.is_busy(exc.orig):
            raise TransientError(message + sqlite_files.busy_hint(busy_timeout)) from None
        kind = TransientError if exc.connection_invalidated else SourceError
        raise kind(message) from None


def unreadable(url: URL, exc: sa.exc.DataError, select: sa.Select[Any]) -> str:
    """A value the driver cannot read, with the columns it may be in: PostgreSQL's
    `infinity` and years past 9999 have no Python date or datetime."""
    where = url.render_as_string(hide_password=True)
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
