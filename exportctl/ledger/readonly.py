"""A ledger opened only to be read: a SQLite file through the standard library's sqlite3.

`history`, `status`, `audit` and `verify` read; importing SQLAlchemy to do so would cost
more than the rest of the command (bench/startup.py). The reads are `History`'s, the same
SQL the `Ledger` runs. A ledger this exportctl must first migrate (or refuses, being newer),
or one not in a SQLite file, opens as a `Ledger`, as every other command opens it.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from exportctl.clock import SYSTEM, Clock
from exportctl.ledger import sqlite
from exportctl.ledger.history import History
from exportctl.ledger.locate import sqlite_file
from exportctl.ledger.url import shown

#: The schema version History's SQL reads; schema.CURRENT_VERSION, which tests/ledger check
#: (a new migration must look at these reads, then raise it).
READS_VERSION = 8


class SqliteReader(History):
    def __init__(self, connection: sqlite3.Connection, url: str, clock: Clock = SYSTEM):
        self.connection, self.url, self.clock = connection, url, clock
        self.host = socket.gethostname()

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        cursor = self.connection.execute(sql, sqlite.bound(params))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def close(self) -> None:
        self.connection.close()


def open_to_read(url: str, located: str | None = None, clock: Clock = SYSTEM) -> History:
    """The ledger at `url`, for reading: a `SqliteReader` where it can be, else a `Ledger`."""
    file = sqlite_file(url)
    connection = _connect(file) if file is not None and file.exists() else None
    if connection is not None:
        if _version(connection) == READS_VERSION:
            return SqliteReader(connection, located or shown(url), clock)
        connection.close()
    from exportctl.ledger.store import Ledger

    return Ledger(url, located, clock)


def _connect(file: Path) -> sqlite3.Connection | None:
    """The file opened as the ledger opens it (kept 0600, WAL), never created; None if that
    fails (gone, or not a database): the `Ledger` then says what is wrong, as it always has."""
    sqlite.owner_only(file)
    try:
        connection = sqlite3.connect(f"file:{quote(str(file))}?mode=rw", uri=True, timeout=60)
    except sqlite3.DatabaseError:
        return None
    try:
        sqlite.set_up_session(connection)
    except sqlite3.DatabaseError:
        connection.close()
        return None
    return connection


def _version(connection: sqlite3.Connection) -> int | None:
    """The ledger's schema version; None where none is to be read."""
    try:
        found = connection.execute("SELECT version FROM schema_version").fetchone()
    except sqlite3.DatabaseError:  # no such table, or not a database: the Ledger says so
        return None
    return found[0] if found else None
