"""What `--state` (or $EXPORTCTL_STATE) names: a SQLAlchemy URL, or a path to a SQLite file.

A SQLite file's URL is written and read here without SQLAlchemy, exactly as SQLAlchemy
writes and reads it (tests/ledger check), so that a command that only reads a SQLite
ledger never imports it; any other URL is SQLAlchemy's to read.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, unquote

from exportctl.errors import UsageError

#: `scheme:` at the start: meant as a URL, even when it does not parse as one.
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:", re.I)
_FORMS = "give a path to a SQLite file, sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
#: A SQLite URL with nothing but its database: the form read here.
_SQLITE = "sqlite:///"


def ledger_url(text: str) -> str:
    """A ledger's SQLAlchemy URL: `text` itself, or the SQLite URL of a path.

    UsageError when `text` is meant as a URL but no installed dialect and driver reads it.
    """
    if not _SCHEME.match(text) and "://" not in text:
        return sqlite_url(str(Path(text).expanduser()))
    if sqlite_database(text) is not None:  # the standard library's sqlite3 reads it
        return text
    import sqlalchemy as sa

    from exportctl.net import drivers

    try:
        url = sa.engine.make_url(text)
    except (sa.exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise UsageError(
            f"--state: {_scheme_only(text)} is not a URL SQLAlchemy can read; {_FORMS}"
        ) from None
    try:
        url.get_dialect().import_dbapi()
    except ModuleNotFoundError as exc:  # a plain install has no PostgreSQL driver
        raise UsageError(f"--state: {drivers.missing(url, exc)}") from None
    except (sa.exc.NoSuchModuleError, ImportError) as exc:
        raise UsageError(
            f"--state: cannot open {url.render_as_string()} as a ledger ({exc}); {_FORMS}"
        ) from None
    return text


def sqlite_url(database: str) -> str:
    """The SQLite URL of a file, as SQLAlchemy's `URL.create("sqlite", database=...)` writes it."""
    return _SQLITE + quote(database, safe=" +/")


def sqlite_database(url: str) -> str | None:
    """The database of `sqlite:///DATABASE` as SQLAlchemy reads it; None for any other URL
    (one with options after `?` among them)."""
    if not url.startswith(_SQLITE) or "?" in url:
        return None
    return unquote(url.removeprefix(_SQLITE))


def shown(url: str) -> str:
    """The URL as messages show it: SQLAlchemy's rendering, its password hidden."""
    database = sqlite_database(url)
    if database is not None:
        return sqlite_url(database)
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _scheme_only(text: str) -> str:
    """The text's scheme and no more: the rest may hold a password that did not parse."""
    found = _SCHEME.match(text)
    return f"`{found.group()}...`" if found else "the value"
