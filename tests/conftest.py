"""Shared fixtures: real SQLite files, a real PostgreSQL schema, and CI's no-skip rule."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from exportctl.ledger.store import Ledger

pytest_plugins = [
    "tests.support.servers",
    "tests.support.prometheus_server",
    "tests.support.sshd_server",
]

PG_ADMIN_URL = os.environ.get(
    "EXPORTCTL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(autouse=True)
def private_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test records its runs in a ledger of its own, never the working folder's."""
    url = f"sqlite:///{tmp_path / 'ledger' / 'state.db'}"
    monkeypatch.setenv("EXPORTCTL_STATE", url)
    # A test that unsets it finds the user's default here, never in the real home.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    return url


@pytest.fixture
def ledger(private_ledger: str) -> Ledger:
    """The test's own ledger, opened."""
    return Ledger(private_ledger)


def require(condition: bool, reason: str) -> None:
    """Skip on a laptop without the service; under CI a missing service is a failure."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must not skip this test)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine(PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        require(False, f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc.orig}")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_schema(pg_engine: sa.Engine) -> Iterator[str]:
    """A fresh schema, dropped afterwards; its URL puts it first on the search path."""
    schema = f"exportctl_{uuid.uuid4().hex[:10]}"
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield schema
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


def pg_url(schema: str) -> str:
    return f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"


def demo_env(demo: Path) -> dict[str, str]:
    """The demo system's config/.env (its Fernet keys among them), as the environment."""
    lines = (demo / "config" / ".env").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def copy_tables(sqlite_path: Path, target: sa.Engine, schema: str, tables: list[str]) -> None:
    """Copy tables, typed by reflection, from a SQLite file into a PostgreSQL schema."""
    source = sa.create_engine(f"sqlite:///{sqlite_path}")
    meta = sa.MetaData()
    meta.reflect(source, only=tables)
    copies = sa.MetaData()
    with source.connect() as read, target.begin() as write:
        for table in meta.sorted_tables:
            copy = table.to_metadata(copies, schema=schema)
            for column in copy.columns:
                column.type = column.type.as_generic()
            copy.create(write)
            rows = [dict(r._mapping) for r in read.execute(sa.select(table))]
            if rows:
                write.execute(copy.insert(), rows)
    source.dispose()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the files DuckDB reads."""
    return tmp_path_factory.mktemp("formats")


@pytest.fixture(scope="module")
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as con:
        yield con
