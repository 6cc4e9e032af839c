"""The `sql` source's options, checked without SQLAlchemy (`validate` does not import it)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from exportctl.errors import OptionError

#: SQLAlchemy's own URL pattern (`sqlalchemy.engine.url._parse_url`): what `make_url` takes.
_URL = re.compile(
    r"""
    (?P<name>[\w\+]+)://
    (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
    (?:(?:\[(?P<ipv6host>[^/\?]+)\]|(?P<ipv4host>[^/:\?]+))?(?::(?P<port>[^/\?]*))?)?
    (?:/(?P<database>[^\?]*))?
    (?:\?(?P<query>.*))?
    """,
    re.X,
)


@dataclass(frozen=True)
class SqlOptions:
    url: str = "sqlite://"
    chunk_size: int = 10_000
    #: SQLite: seconds to wait for a writer's lock, after which the attempt fails, transiently.
    busy_timeout: float = 5.0

    def __post_init__(self) -> None:
        if not is_database_url(self.url):
            raise OptionError("url", "`url` is not a database URL such as sqlite:///system.db")


def is_database_url(url: str) -> bool:
    """Whether SQLAlchemy's `make_url` would read `url` (a port must be a number)."""
    found = _URL.match(url)
    if found is None:
        return False
    port = found["port"]
    if port is None:
        return True
    try:
        int(port)  # as SQLAlchemy reads it; `h:/db` (an empty port) it refuses
    except ValueError:
        return False
    return True
