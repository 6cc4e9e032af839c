"""The ledger's connection: its engine, its transactions, its clock and who is recording.

Every part of the ledger (runs, files, locks, watermarks) builds on `Connected`; a change
is one transaction (`transaction`), and every instant it records is read from `clock`.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from exportctl.clock import SYSTEM, Clock
from exportctl.ledger import audit, sqlite
from exportctl.ledger import schema as t
from exportctl.ledger.history import History
from exportctl.ledger.url import shown
from exportctl.net import drivers

#: The execution option that marks a ledger transaction as one that writes.
_WRITES = "exportctl_writes"


class Connected(History):
    def __init__(self, url: str, located: str | None = None, clock: Clock = SYSTEM):
        #: For messages: the password hidden, and how the command found it.
        self.url = located or shown(url)
        self.clock = clock
        self.engine = _engine(url)
        with self.transaction() as conn:
            t.migrate(conn)
        self.user, self.host = getpass.getuser(), socket.gethostname()

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A write: the whole change commits or none of it does."""
        with self.engine.execution_options(**{_WRITES: True}).begin() as conn:
            if conn.dialect.name == "postgresql":  # one writer of the ledger at a time
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(4242)"))
            yield conn

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":  # compared as the text SQLAlchemy stores
                params = sqlite.bound(params)
            return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]

    def audit(
        self, conn: sa.Connection, event: str, spec: str | None, run_id: str | None, **detail: Any
    ) -> None:
        """Add to the audit trail within the change `conn` makes, by this user and host."""
        who = (self.user, self.host)
        audit.record(conn, event, spec, run_id, who, self.clock.now(), detail)


def _engine(url: str) -> sa.Engine:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return drivers.create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        sqlite.owner_only(Path(parsed.database))
    engine = sa.create_engine(url, connect_args={"timeout": 60})
    sa.event.listen(engine, "connect", lambda dbapi, _record: sqlite.set_up_session(dbapi))
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_begin(conn: sa.Connection) -> None:
    """A write takes the write lock as it starts, so concurrent writers queue instead of
    failing midway when they upgrade from reading. A read does not: under WAL it sees a
    snapshot and never waits for a writer (nor makes one wait, as 4 daemon workers would)."""
    writes = conn.get_execution_options().get(_WRITES, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")
