"""What `--state` (or $EXPORTCTL_STATE) names: a SQLAlchemy URL, or a path to a SQLite file."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa

from exportctl.errors import UsageError
from exportctl.net import drivers

#: `scheme:` at the start: meant as a URL, even when it does not parse as one.
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:", re.I)
_FORMS = "give a path to a SQLite file, sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"


def ledger_url(text: str) -> str:
    """A ledger's SQLAlchemy URL: `text` itself, or the SQLite URL of a path.

    UsageError when `text` is meant as a URL but no installed dialect and driver reads it.
    """
    if not _SCHEME.match(text) and "://" not in text:
        path = str(Path(text).expanduser())
        return sa.engine.URL.create("sqlite", database=path).render_as_string(hide_password=False)
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


def _scheme_only(text: str) -> str:
    """The text's scheme and no more: the rest may hold a password that did not parse."""
    found = _SCHEME.match(text)
    return f"`{found.group()}...`" if found else "the value"
