"""Record runs, files, audit events, watermarks and locks; every change in one transaction."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from exportctl.errors import ExportctlError, scrub
from exportctl.ledger import schema as t
from exportctl.ledger.liveness import STALE_AFTER, holder_dead
from exportctl.net import drivers

__all__ = ["STALE_AFTER", "Ledger", "LockHeld", "RunRecord"]

HEARTBEAT_EVERY = 2.0
#: The execution option that marks a ledger transaction as one that writes.
_WRITES = "exportctl_writes"
#: Values bound in one `IN (...)`.
_BATCH = 1000


class LockHeld(ExportctlError):
    """Another live run holds the spec's lock."""

    def __init__(self, spec: str, run_id: str, host: str, pid: int):
        self.run_id = run_id
        super().__init__(f"`{spec}` is being exported by run {run_id} (pid {pid} on {host})")


@dataclass(frozen=True)
class RunRecord:
    id: str
    spec: str
    spec_sha256: str
    trigger: str
    destination: str
    started_at: datetime
    git_commit: str | None = None
    window_from: str | None = None
    window_to: str | None = None
    attempt: int = 1
    #: The schedule tick the daemon started this run for; None for other triggers.
    scheduled_at: datetime | None = None
    #: JSON of the options locating the destination's store (destinations.recorded).
    destination_options: str | None = None
    user: str = field(default_factory=getpass.getuser)
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)


class Ledger:
    def __init__(self, url: str, located: str | None = None):
        #: For messages: the password hidden, and how the command found it.
        self.url = located or sa.engine.make_url(url).render_as_string(hide_password=True)
        self.engine = _engine(url)
        with self._transaction() as conn:
            t.migrate(conn)
        self.user, self.host = getpass.getuser(), socket.gethostname()

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[sa.Connection]:
        """A write: the whole change commits or none of it does."""
        with self.engine.execution_options(**{_WRITES: True}).begin() as conn:
            if conn.dialect.name == "postgresql":  # one writer of the ledger at a time
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(4242)"))
            yield conn

    # --- runs -----------------------------------------------------------------------

    def start_run(self, run: RunRecord) -> None:
        with self._transaction() as conn:
            values = {**vars(run), "destination": scrub(run.destination)}
            conn.execute(
                t.runs.insert().values(
                    **values, status="running", heartbeat_at=run.started_at, rows=0, bytes=0
                )
            )
            event = "run.retried" if run.trigger == "retry" else "run.started"
            self._audit(conn, event, run.spec, run.id, attempt=run.attempt, trigger=run.trigger)

    def progress(self, run_id: str, spec: str, rows: int, total: int | None) -> None:
        """What a running export has done so far; also keeps its lock alive."""
        now = _now()
        with self._transaction() as conn:
            conn.execute(
                t.runs.update()
                .where(t.runs.c.id == run_id)
                .values(rows=rows, total_rows=total, heartbeat_at=now)
            )
            conn.execute(
                t.locks.update()
                .where(t.locks.c.spec == spec, t.locks.c.run_id == run_id)
                .values(heartbeat_at=now)
            )

    def finish_run(
        self,
        run_id: str,
        status: str,
        *,
        rows: int,
        bytes_: int,
        files: Sequence[tuple[str, str, int, str]] = (),
        error: str | None = None,
        watermark: tuple[str, str] | None = None,
        total_rows: int | None = None,
        summary: dict[str, Any] | None = None,
        attempt: int | None = None,
    ) -> None:
        """End a run; on success its files and its watermark are committed with it.

        `attempt`: the attempts the run took in all, when it retried (else as started).
        """
        now = _now()
        attempts = {"attempt": attempt} if attempt is not None else {}
        with self._transaction() as conn:
            spec = conn.execute(sa.select(t.runs.c.spec).where(t.runs.c.id == run_id)).scalar_one()
            conn.execute(
                t.runs.update()
                .where(t.runs.c.id == run_id)
                .values(
                    status=status,
                    finished_at=now,
                    heartbeat_at=now,
                    rows=rows,
                    total_rows=total_rows,
                    bytes=bytes_,
                    error=scrub(error) if error else None,
                    summary=scrub(json.dumps(summary, default=str)) if summary else None,
                    **attempts,
                )
            )
            for uri, role, size, digest in files:
                conn.execute(
                    t.run_files.insert().values(
                        run_id=run_id,
                        spec=spec,
                        uri=scrub(uri),
                        role=role,
                        bytes=size,
                        sha256=digest,
                    )
                )
            if watermark is not None and status == "succeeded":
                self._advance(conn, spec, run_id, *watermark)
            event = {"succeeded": "run.committed"}.get(status, f"run.{status}")
            self._audit(conn, event, spec, run_id, rows=rows, bytes=bytes_, error=error)

    def record_part(
        self, run_id: str, uri: str, size: int, digest: str, rows: int, last_position: str | None
    ) -> None:
        """A part of a split export, recorded the moment it is committed."""
        with self._transaction() as conn:
            spec = conn.execute(sa.select(t.runs.c.spec).where(t.runs.c.id == run_id)).scalar_one()
            conn.execute(
                t.run_files.insert().values(
                    run_id=run_id,
                    spec=spec,
                    uri=scrub(uri),
                    role="part",
                    bytes=size,
                    sha256=digest,
                    rows=rows,
                    last_position=last_position,
                )
            )

    def event(self, event: str, spec: str, run_id: str | None, **detail: Any) -> None:
        """Add to the audit trail: an attempt that failed, an alert that could not be sent."""
        with self._transaction() as conn:
            self._audit(conn, event, spec, run_id, **detail)

    def forget_parts(self, run_id: str, keep: Collection[str] = ()) -> list[str]:
        """Drop the parts a failed attempt recorded, but `keep`; the next rewrites them."""
        with self._transaction() as conn:
            where = (t.run_files.c.run_id == run_id) & (t.run_files.c.role == "part")
            where &= t.run_files.c.uri.not_in([scrub(uri) for uri in keep])
            uris = list(conn.execute(sa.select(t.run_files.c.uri).where(where)).scalars())
            conn.execute(t.run_files.delete().where(where))
            return uris

    def parts(self, run_id: str) -> list[dict[str, Any]]:
        """The parts a run committed, in order."""
        query = (
            sa.select(t.run_files)
            .where(t.run_files.c.run_id == run_id, t.run_files.c.role == "part")
            .order_by(t.run_files.c.uri)
        )
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).mappings().first()
            if row is None:
                return None
            files = conn.execute(
                sa.select(t.run_files).where(t.run_files.c.run_id == run_id)
            ).mappings()
            return {**_plain(row), "files": [_plain(f) for f in files]}

    def history(
        self,
        spec: str | None = None,
        since: datetime | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        query = sa.select(t.runs).order_by(t.runs.c.started_at.desc(), t.runs.c.id.desc())
        if spec:
            query = query.where(t.runs.c.spec == spec)
        if since:  # SQLite compares the stored UTC text, so `since` must be UTC too
            query = query.where(t.runs.c.started_at >= _aware(since).astimezone(UTC))
        if status:
            query = query.where(t.runs.c.status == status)
        with self.engine.connect() as conn:
            return [_plain(r) for r in conn.execute(query.limit(limit)).mappings()]

    def history_as_seen(
        self,
        spec: str | None = None,
        since: datetime | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """`history` as `status` and `history` show it: a run recorded as running whose
        process is gone (killed, say) shows as interrupted, before any `recover` says so."""
        if status in ("running", "interrupted"):  # a dead running run is an interrupted one
            runs = self.history(spec, since, "running", limit)
            if status == "interrupted":
                runs += self.history(spec, since, "interrupted", limit)
                runs.sort(key=lambda r: (r["started_at"], r["id"]), reverse=True)
        else:
            runs = self.history(spec, since, status, limit)
        shown = [self.as_seen(run) for run in runs]
        return [r for r in shown if status is None or r["status"] == status][:limit]

    def as_seen(self, run: dict[str, Any]) -> dict[str, Any]:
        """The run, shown interrupted if it is recorded as running but its process is gone."""
        if run["status"] != "running" or not self._is_dead(run):
            return run
        return {**run, "status": "interrupted", "error": run["error"] or "process gone"}

    def last_scheduled(self, spec: str) -> datetime | None:
        """The latest tick the daemon started a run of `spec` for, whatever its outcome."""
        query = sa.select(sa.func.max(t.runs.c.scheduled_at)).where(t.runs.c.spec == spec)
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar_one_or_none()
        return _aware(found) if isinstance(found, datetime) else None

    def audit_events(
        self,
        run_id: str | None = None,
        spec: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Audit events, oldest first; with `limit`, the latest `limit` of them."""
        query = sa.select(t.audit).order_by(t.audit.c.id.desc())
        if run_id:
            query = query.where(t.audit.c.run_id == run_id)
        if spec:
            query = query.where(t.audit.c.spec == spec)
        if since:
            query = query.where(t.audit.c.at >= _aware(since).astimezone(UTC))
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit)).mappings()
            return [_plain(r) for r in rows][::-1]

    def recover(self) -> list[dict[str, Any]]:
        """Mark runs whose process is gone as interrupted; return them."""
        with self._transaction() as conn:
            running = conn.execute(sa.select(t.runs).where(t.runs.c.status == "running"))
            gone = [dict(r) for r in running.mappings() if self._is_dead(r)]
            for run in gone:
                conn.execute(
                    t.runs.update()
                    .where(t.runs.c.id == run["id"])
                    .values(status="interrupted", finished_at=_now(), error="process gone")
                )
                self._audit(conn, "run.interrupted", run["spec"], run["id"], reason="process gone")
                held = sa.select(t.locks).where(t.locks.c.run_id == run["id"])
                for lock in conn.execute(held).mappings().all():
                    self._break_lock(conn, lock)
        return [_plain(r) for r in gone]

    # --- locks ----------------------------------------------------------------------

    def acquire(self, spec: str, run_id: str, wait: float = 0, poll: float = 0.2) -> None:
        """Take the spec's lock, breaking a dead holder's; wait up to `wait` seconds."""
        deadline = time.monotonic() + wait
        while True:
            try:
                with self._transaction() as conn:
                    self._break_if_stale(conn, spec)
                    now = _now()
                    conn.execute(
                        t.locks.insert().values(
                            spec=spec,
                            run_id=run_id,
                            host=self.host,
                            pid=os.getpid(),
                            acquired_at=now,
                            heartbeat_at=now,
                        )
                    )
                return
            except sa.exc.IntegrityError:
                holder = self._holder(spec)
                if holder is None:
                    continue  # released between our insert and our look
                if time.monotonic() >= deadline:
                    raise LockHeld(spec, holder["run_id"], holder["host"], holder["pid"]) from None
                time.sleep(poll)

    def release(self, spec: str, run_id: str) -> None:
        with self._transaction() as conn:
            conn.execute(t.locks.delete().where(t.locks.c.spec == spec, t.locks.c.run_id == run_id))

    def _holder(self, spec: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.locks).where(t.locks.c.spec == spec)).mappings().first()
            return dict(row) if row else None

    def _break_if_stale(self, conn: sa.Connection, spec: str) -> None:
        row = conn.execute(sa.select(t.locks).where(t.locks.c.spec == spec)).mappings().first()
        if row is not None and self._is_dead(row):
            self._break_lock(conn, row)

    def _break_lock(self, conn: sa.Connection, lock: sa.RowMapping) -> None:
        """Remove a dead holder's lock, and say so in the audit trail."""
        conn.execute(t.locks.delete().where(t.locks.c.spec == lock["spec"]))
        self._audit(
            conn,
            "lock.broken",
            lock["spec"],
            lock["run_id"],
            holder_pid=lock["pid"],
            host=lock["host"],
        )

    def _is_dead(self, row: sa.RowMapping | dict[str, Any]) -> bool:
        """Gone for sure on this host; elsewhere, silent for longer than STALE_AFTER."""
        since = _aware(row["started_at"] if "started_at" in row else row["acquired_at"])
        return holder_dead(row, self.host, _now(), since)

    # --- watermarks -----------------------------------------------------------------

    def watermark(self, spec: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.watermarks).where(t.watermarks.c.spec == spec)
            ).mappings()
            found = row.first()
            return _plain(found) if found else None

    def reset_watermark(self, spec: str) -> bool:
        with self._transaction() as conn:
            gone = conn.execute(t.watermarks.delete().where(t.watermarks.c.spec == spec))
            self._audit(conn, "watermark.reset", spec, None)
            return bool(gone.rowcount)

    def _advance(
        self, conn: sa.Connection, spec: str, run_id: str, query_sha256: str, position: str
    ) -> None:
        conn.execute(t.watermarks.delete().where(t.watermarks.c.spec == spec))
        conn.execute(
            t.watermarks.insert().values(
                spec=spec,
                query_sha256=query_sha256,
                position=position,
                run_id=run_id,
                updated_at=_now(),
            )
        )

    # --- retention ------------------------------------------------------------------

    def stored_runs(self, spec: str) -> list[dict[str, Any]]:
        """The spec's succeeded runs and their files not yet deleted by retention, newest first."""
        query = (
            sa.select(t.runs.c.id, t.runs.c.started_at, t.run_files.c.uri, t.run_files.c.role)
            .join(t.run_files, t.run_files.c.run_id == t.runs.c.id)
            .where(
                t.run_files.c.spec == spec,
                t.run_files.c.deleted_at.is_(None),
                t.runs.c.status == "succeeded",
            )
            .order_by(t.runs.c.started_at.desc(), t.runs.c.id.desc(), t.run_files.c.uri)
        )
        runs: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                run = runs.setdefault(
                    row["id"],
                    {"id": row["id"], "started_at": _aware(row["started_at"]), "files": []},
                )
                run["files"].append({"uri": row["uri"], "role": row["role"]})
        return list(runs.values())

    def held_uris(self, spec: str, among: Collection[str]) -> set[str]:
        """Those of `among` still stored for a run but the spec's succeeded ones: never
        retention's to delete."""
        others = (t.runs.c.spec != spec) | (t.runs.c.status != "succeeded")
        held: set[str] = set()
        uris = list(among)
        with self.engine.connect() as conn:
            # In batches: databases cap a statement's parameters (psycopg at 65,535), and a
            # policy tightened on a long history lets go of that many files at once.
            for start in range(0, len(uris), _BATCH):
                query = (
                    sa.select(t.run_files.c.uri)
                    .join(t.runs, t.run_files.c.run_id == t.runs.c.id)
                    .where(t.run_files.c.uri.in_(uris[start : start + _BATCH]), others)
                    .where(t.run_files.c.deleted_at.is_(None))
                )
                held.update(conn.execute(query).scalars())
        return held

    def files_deleted(
        self,
        spec: str,
        files: Sequence[tuple[str, str, dict[str, Any]]],
        event: str = "retention.deleted",
    ) -> None:
        """Retention (or a later run, see `leftovers`) deleted these (run id, URI, detail)
        files: mark each so, and say so in the audit trail; one transaction for them all."""
        with self._transaction() as conn:
            for run_id, uri, detail in files:
                conn.execute(
                    t.run_files.update()
                    .where(t.run_files.c.run_id == run_id, t.run_files.c.uri == uri)
                    .values(deleted_at=_now())
                )
                self._audit(conn, event, spec, run_id, uri=uri, **detail)

    # --- audit ----------------------------------------------------------------------

    def _audit(
        self, conn: sa.Connection, event: str, spec: str | None, run_id: str | None, **detail: Any
    ) -> None:
        text = scrub(json.dumps({k: v for k, v in detail.items() if v is not None}, default=str))
        conn.execute(
            t.audit.insert().values(
                at=_now(),
                event=event,
                spec=spec,
                run_id=run_id,
                user=self.user,
                host=self.host,
                detail=text,
            )
        )


def _engine(url: str) -> sa.Engine:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return drivers.create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        _owner_only(Path(parsed.database))
    engine = sa.create_engine(url, connect_args={"timeout": 60})
    sa.event.listen(engine, "connect", _sqlite_session)
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_begin(conn: sa.Connection) -> None:
    """A write takes the write lock as it starts, so concurrent writers queue instead of
    failing midway when they upgrade from reading. A read does not: under WAL it sees a
    snapshot and never waits for a writer (nor makes one wait, as 4 daemon workers would)."""
    writes = conn.get_execution_options().get(_WRITES, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def _owner_only(database: Path) -> None:
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


def _sqlite_session(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
    dbapi_connection.execute("PRAGMA journal_mode = WAL")
    dbapi_connection.execute("PRAGMA busy_timeout = 60000")
    dbapi_connection.execute("PRAGMA synchronous = NORMAL")


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; the ledger only ever stores UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _plain(row: sa.RowMapping | dict[str, Any]) -> dict[str, Any]:
    plain = {k: _aware(v) if isinstance(v, datetime) else v for k, v in dict(row).items()}
    summary = plain.get("summary")
    if isinstance(summary, str):
        plain["summary"] = json.loads(summary)
    return plain
