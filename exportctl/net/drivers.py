"""SQLAlchemy engines, with a missing database driver named with what to install."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from exportctl.errors import UsageError

#: A driver's top-level module → the exportctl extra that installs it.
EXTRAS = {"psycopg": "postgres", "psycopg2": "postgres"}


def create_engine(url: str | sa.URL, **options: Any) -> sa.Engine:
    """`sqlalchemy.create_engine`, or a UsageError saying which package the URL needs."""
    try:
        return sa.create_engine(url, **options)
    except ModuleNotFoundError as exc:
        if not exc.name:
            raise
        raise UsageError(missing(sa.make_url(url), exc)) from None


def missing(url: sa.URL, exc: ModuleNotFoundError) -> str:
    """What to install for `url`'s driver, that `exc` says is missing."""
    module = (exc.name or "").split(".")[0]
    extra = EXTRAS.get(module)
    install = f"pip install 'exportctl[{extra}]'" if extra else f"pip install {module}"
    return (
        f"a `{url.drivername}://` URL needs the Python module `{module}`, which is not "
        f"installed: {install}"
    )
