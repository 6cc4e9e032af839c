"""A SQLite source's file, opened read-only: a missing file is said so, never created.

sqlite3 (and the ADBC driver) create a missing file when opening it read-write, and
the run then failed on a table missing from the new, empty database.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

from exportctl.errors import SourceError

#: SQLite's primary result codes for a lock held by another connection.
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
#: How the ADBC driver words them: it gives no result code.
_BUSY_TEXT = ("database is locked", "database table is locked")


def is_busy(error: BaseException | None) -> bool:
    """Whether SQLite refused because a writer holds a lock: a failure that passes."""
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)  # extended codes too
    return any(text in str(error) for text in _BUSY_TEXT)


def busy_hint(busy_timeout: float) -> str:
    return f" (a writer held its lock past `busy_timeout`, {busy_timeout:g} s)"


def file_path(url: sa.URL) -> str | None:
    """The SQLite file a URL names by path; None for memory, a `file:` URI, or not SQLite."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    return None if database.startswith("file:") else database


def read_only_uri(path: str) -> str:
    """The `file:` URI that opens `path` read-only (`%`, `?` and `#` escaped)."""
    return f"file:{quote(str(Path(path).absolute()))}?mode=ro"


def read_only_url(url: sa.URL) -> sa.URL:
    """`url` as SQLAlchemy opens it read-only: through a `file:` URI with `mode=ro`."""
    path = file_path(url)
    if path is not None:
        uri = read_only_uri(path)
        return url.set(database=uri.partition("?")[0]).update_query_dict(
            {"mode": "ro", "uri": "true"}
        )
    if url.get_backend_name() == "sqlite" and url.query.get("uri") == "true":
        return url.update_query_dict({"mode": "ro"})  # the spec's own URI: read, only
    return url


def require_file(url: sa.URL) -> None:
    """SourceError naming the path, when the URL's SQLite file does not exist."""
    path = file_path(url)
    if path is not None and not Path(path).is_file():
        what = "is not a file" if Path(path).exists() else "does not exist"
        raise SourceError(f"the SQLite database {path} {what} (sources are opened read-only)")
