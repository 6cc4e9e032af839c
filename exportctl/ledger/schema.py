"""The ledger's tables, and the migrations that bring an older ledger up to date."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from exportctl.errors import UsageError

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("spec", sa.String(128), nullable=False),
    sa.Column("spec_sha256", sa.String(64), nullable=False),
    sa.Column("git_commit", sa.String(64)),
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("user", sa.String(128), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("destination", sa.Text, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False, default=0),
    sa.Column("total_rows", sa.BigInteger),
    sa.Column("bytes", sa.BigInteger, nullable=False, default=0),
    sa.Column("window_from", sa.Text),
    sa.Column("window_to", sa.Text),
    sa.Column("attempt", sa.Integer, nullable=False, default=1),
    sa.Column("error", sa.Text),
    # JSON: attempts within the run, warnings, rows rejected by validation. (Added in version 3.)
    sa.Column("summary", sa.Text),
    # The tick a scheduled run was started for; lateness is started_at - scheduled_at.
    # None for runs not started by the daemon. (Added in version 5.)
    sa.Column("scheduled_at", sa.DateTime(timezone=True)),
    # JSON: the destination options that locate its store (an S3 endpoint), for verify and
    # recovery without the spec; never a secret. (Added in version 7.)
    sa.Column("destination_options", sa.Text),
)

run_files = sa.Table(
    "run_files",
    metadata,
    sa.Column("run_id", sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("uri", sa.Text, primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    # For the parts of a split export: its rows, and its last row's position, where a retry
    # resumes. (Added in version 2.)
    sa.Column("rows", sa.BigInteger),
    sa.Column("last_position", sa.Text),
    # When retention deleted the file; None while it is stored. (Added in version 4.)
    sa.Column("deleted_at", sa.DateTime(timezone=True)),
    # The run's spec, so that a spec's stored files are found without its past runs.
    # (Added in version 6; filled in for older rows.)
    sa.Column("spec", sa.String(128)),
)

# What every run looks up, found without reading the history a daemon piles up: the
# spec's latest runs (by status), its stored files, and who else holds a URI.
# (Version 6; version 1 had a plain index on runs.spec.)
_stored = run_files.c.deleted_at.is_(None)
INDEXES = (
    sa.Index("ix_runs_spec_started", runs.c.spec, runs.c.started_at, runs.c.id),
    sa.Index(
        "ix_runs_spec_status_started", runs.c.spec, runs.c.status, runs.c.started_at, runs.c.id
    ),
    sa.Index(
        "ix_run_files_stored_spec", run_files.c.spec, sqlite_where=_stored, postgresql_where=_stored
    ),
    sa.Index(
        "ix_run_files_stored_uri", run_files.c.uri, sqlite_where=_stored, postgresql_where=_stored
    ),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("spec", sa.String(128)),
    sa.Column("run_id", sa.String(64)),
    sa.Column("user", sa.String(128), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, default="{}"),
)

watermarks = sa.Table(
    "watermarks",
    metadata,
    sa.Column("spec", sa.String(128), primary_key=True),
    sa.Column("query_sha256", sa.String(64), nullable=False),
    sa.Column("position", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

locks = sa.Table(
    "locks",
    metadata,
    sa.Column("spec", sa.String(128), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
)

# A daemon's claim on a schedule tick, so that several daemons on one ledger run each tick
# once (ledger/claims.py). A claim is open (finished_at NULL) while its run goes; `holder`
# renews `lease_until` meanwhile, and another daemon may take an open claim over once its
# lease has passed. (Added in version 8.)
claims = sa.Table(
    "claims",
    metadata,
    sa.Column("spec", sa.String(128), primary_key=True),
    sa.Column("tick", sa.DateTime(timezone=True), primary_key=True),
    # The daemon: its host, its pid and a random part (a pid is reused, and means nothing
    # on another host).
    sa.Column("holder", sa.String(255), nullable=False),
    # The run the holder starts for the tick, under this id.
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
    # The holder's lease length, which a renewal by the run's heartbeat extends it by.
    sa.Column("lease_seconds", sa.Float, nullable=False),
    sa.Column("takeovers", sa.Integer, nullable=False, default=0),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    # How the tick ended: the run's status, or `skipped`.
    sa.Column("outcome", sa.String(16)),
)
_open = claims.c.finished_at.is_(None)
CLAIM_INDEXES = (
    sa.Index(
        "ix_claims_open_lease", claims.c.lease_until, sqlite_where=_open, postgresql_where=_open
    ),
    sa.Index("ix_claims_open_run", claims.c.run_id, sqlite_where=_open, postgresql_where=_open),
)


def _create_v1(conn: sa.Connection) -> None:
    metadata.create_all(conn)


def _part_positions_v2(conn: sa.Connection) -> None:
    # A fresh ledger got these columns from create_all in version 1 already.
    have = {c["name"] for c in sa.inspect(conn).get_columns("run_files")}
    for name, sql_type in (("rows", "BIGINT"), ("last_position", "TEXT")):
        if name not in have:
            conn.execute(sa.text(f"ALTER TABLE run_files ADD COLUMN {name} {sql_type}"))


def _run_summary_v3(conn: sa.Connection) -> None:
    if "summary" not in {c["name"] for c in sa.inspect(conn).get_columns("runs")}:
        conn.execute(sa.text("ALTER TABLE runs ADD COLUMN summary TEXT"))


def _retention_v4(conn: sa.Connection) -> None:
    if "deleted_at" not in {c["name"] for c in sa.inspect(conn).get_columns("run_files")}:
        kind = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
        conn.execute(sa.text(f"ALTER TABLE run_files ADD COLUMN deleted_at {kind}"))


def _scheduled_at_v5(conn: sa.Connection) -> None:
    if "scheduled_at" not in {c["name"] for c in sa.inspect(conn).get_columns("runs")}:
        kind = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
        conn.execute(sa.text(f"ALTER TABLE runs ADD COLUMN scheduled_at {kind}"))


def _bounded_lookups_v6(conn: sa.Connection) -> None:
    if "spec" not in {c["name"] for c in sa.inspect(conn).get_columns("run_files")}:
        conn.execute(sa.text("ALTER TABLE run_files ADD COLUMN spec VARCHAR(128)"))
    of_run = sa.select(runs.c.spec).where(runs.c.id == run_files.c.run_id).scalar_subquery()
    conn.execute(run_files.update().where(run_files.c.spec.is_(None)).values(spec=of_run))
    # Asked of this ledger's table: a bare `IF EXISTS` could find another schema's index.
    if "ix_runs_spec" in {index["name"] for index in sa.inspect(conn).get_indexes("runs")}:
        conn.execute(sa.text("DROP INDEX ix_runs_spec"))
    for index in INDEXES:
        index.create(conn, checkfirst=True)


def _destination_options_v7(conn: sa.Connection) -> None:
    if "destination_options" not in {c["name"] for c in sa.inspect(conn).get_columns("runs")}:
        conn.execute(sa.text("ALTER TABLE runs ADD COLUMN destination_options TEXT"))


def _claims_v8(conn: sa.Connection) -> None:
    # A fresh ledger got the table and its indexes from create_all in version 1 already.
    claims.create(conn, checkfirst=True)
    for index in CLAIM_INDEXES:
        index.create(conn, checkfirst=True)


#: MIGRATIONS[n] takes a ledger at version n to version n + 1. Append; never edit.
MIGRATIONS: list[Callable[[sa.Connection], None]] = [
    _create_v1,
    _part_positions_v2,
    _run_summary_v3,
    _retention_v4,
    _scheduled_at_v5,
    _bounded_lookups_v6,
    _destination_options_v7,
    _claims_v8,
]
CURRENT_VERSION = len(MIGRATIONS)


def migrate(conn: sa.Connection) -> int:
    """Bring the ledger to CURRENT_VERSION inside the caller's transaction; the old version."""
    inspector = sa.inspect(conn)
    if not inspector.has_table("schema_version"):
        found = 0
        schema_version.create(conn)
        conn.execute(schema_version.insert().values(version=0))
    else:
        found = conn.execute(sa.select(schema_version.c.version)).scalar_one()
    if found > CURRENT_VERSION:
        raise UsageError(
            f"the ledger is at schema version {found}, newer than this exportctl knows "
            f"({CURRENT_VERSION}); upgrade exportctl to use it"
        )
    for step in MIGRATIONS[found:]:
        step(conn)
    conn.execute(schema_version.update().values(version=CURRENT_VERSION))
    return found
