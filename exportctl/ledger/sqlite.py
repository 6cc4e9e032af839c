"""What a SQLite ledger needs whoever opens it (SQLAlchemy or sqlite3): its file kept to its
owner, its session settings, and instants written as SQLAlchemy stores them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def owner_only(database: Path) -> None:
    """The ledger's file, and so its -wal and -shm (SQLite gives them the file's mode), 0600.

    It records spec names, destinations and errors: no business of other users.
    """
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # created so from its first byte
        os.close(os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600))
    for path in (database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))):
        with contextlib.suppress(FileNotFoundError, PermissionError):  # another's: theirs
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)  # made by an earlier version, or by hand


def set_up_session(dbapi_connection: Any) -> None:
    """A sqlite3 connection as the ledger uses it: WAL, a minute's patience, BEGIN by us."""
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
    dbapi_connection.execute("PRAGMA journal_mode = WAL")
    dbapi_connection.execute("PRAGMA busy_timeout = 60000")
    dbapi_connection.execute("PRAGMA synchronous = NORMAL")


def stored_instant(value: datetime) -> str:
    """`value` as the text SQLAlchemy stores a SQLite DATETIME in (UTC, microseconds), so
    that comparing with a column compares instants."""
    naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return naive.isoformat(sep=" ", timespec="microseconds")


def bound(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters for a statement on a SQLite ledger: instants as `stored_instant` writes them."""
    return {k: stored_instant(v) if isinstance(v, datetime) else v for k, v in params.items()}
