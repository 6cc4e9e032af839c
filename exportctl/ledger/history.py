"""The runs and audit trail as `history`, `status`, `audit` and the web pages read them.

Plain SQL that SQLite and PostgreSQL both read, and no SQLAlchemy here: a subclass says
how a statement runs, through the ledger's engine (`base.Connected`) or, for a command that
only reads a SQLite ledger, through the standard library's sqlite3 (`readonly.SqliteReader`),
which starts in a fraction of the time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from exportctl.clock import Clock
from exportctl.ledger.liveness import aware, row_dead

# Every column, named in the order the tables declare them (tests/ledger check schema.py),
# so that every `--json` lists a run's fields in one order, whatever version made the ledger;
# quoted, as `user` is a reserved word in PostgreSQL.
_RUNS = (
    'SELECT "id", "spec", "spec_sha256", "git_commit", "trigger", "user", "host", "pid", '
    '"started_at", "finished_at", "heartbeat_at", "status", "destination", "rows", '
    '"total_rows", "bytes", "window_from", "window_to", "attempt", "error", "summary", '
    '"scheduled_at", "destination_options" FROM runs'
)
_FILES = (
    'SELECT "run_id", "uri", "role", "bytes", "sha256", "rows", "last_position", '
    '"deleted_at", "spec" FROM run_files'
)
_AUDIT = 'SELECT "id", "at", "event", "spec", "run_id", "user", "host", "detail" FROM audit'
#: The columns that hold instants: SQLite hands them back as text, PostgreSQL as datetimes.
INSTANTS = frozenset(
    {"started_at", "finished_at", "heartbeat_at", "scheduled_at", "deleted_at", "at",
     "acquired_at", "updated_at"}
)  # fmt: skip


class History:
    """The reads; a subclass says how a statement runs (`rows`) and names the host."""

    url: str
    host: str
    clock: Clock

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The rows `sql` finds, `:name` parameters bound; instants bound as datetimes."""
        raise NotImplementedError

    def history(
        self,
        spec: str | None = None,
        since: datetime | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        where, params = _where(spec=spec, status=status)
        if since:  # SQLite compares the stored UTC text, so `since` must be UTC too
            where.append("started_at >= :since")
            params["since"] = aware(since).astimezone(UTC)
        sql = _RUNS + _and(where) + " ORDER BY started_at DESC, id DESC LIMIT :limit"
        return [plain(r) for r in self.rows(sql, {**params, "limit": limit})]

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
        if run["status"] != "running" or not self.is_dead(run):
            return run
        return {**run, "status": "interrupted", "error": run["error"] or "process gone"}

    def is_dead(self, row: Mapping[Any, Any]) -> bool:
        """Gone for sure on this host; elsewhere, silent for longer than STALE_AFTER."""
        return row_dead(row, self.host, self.clock.now())

    def run(self, run_id: str) -> dict[str, Any] | None:
        found = self.rows(_RUNS + " WHERE id = :id", {"id": run_id})
        if not found:
            return None
        files = self.rows(_FILES + " WHERE run_id = :id", {"id": run_id})
        return {**plain(found[0]), "files": [plain(f) for f in files]}

    def audit_events(
        self,
        run_id: str | None = None,
        spec: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Audit events, oldest first; with `limit`, the latest `limit` of them."""
        where, params = _where(run_id=run_id, spec=spec)
        if since:
            where.append('"at" >= :since')
            params["since"] = aware(since).astimezone(UTC)
        sql = _AUDIT + _and(where) + " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = limit
        return [plain(r) for r in self.rows(sql, params)][::-1]


def _where(**equal: str | None) -> tuple[list[str], dict[str, Any]]:
    """`column = :column` for each value given (a falsy one filters nothing, as before)."""
    given = {name: value for name, value in equal.items() if value}
    return [f"{name} = :{name}" for name in given], dict(given)


def _and(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def plain(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A row as every reader gets it: instants aware (UTC), a run's summary parsed."""
    plain = {k: _instant(v) if k in INSTANTS else v for k, v in dict(row).items()}
    summary = plain.get("summary")
    if isinstance(summary, str):
        plain["summary"] = json.loads(summary)
    return plain


def _instant(value: Any) -> Any:
    if isinstance(value, str):  # SQLite's text, as SQLAlchemy stores it: always UTC
        value = datetime.fromisoformat(value)
    return aware(value) if isinstance(value, datetime) else value
