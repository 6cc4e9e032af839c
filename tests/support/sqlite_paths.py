"""The SQLite source's general path (SQLAlchemy) forced, for tests that compare it with the
fast one (ADBC)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from exportctl.sources.sql import sqlite_arrow


@contextmanager
def general_path() -> Iterator[None]:
    os.environ[sqlite_arrow.SWITCH] = "0"
    try:
        yield
    finally:
        del os.environ[sqlite_arrow.SWITCH]
