"""A run's life in the ledger: started, its progress, finished with its files and watermark."""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from exportctl.errors import scrub
from exportctl.ledger import schema as t
from exportctl.ledger.base import Connected
from exportctl.ledger.claims import renew_for_run, settle_for_run
from exportctl.ledger.liveness import aware
from exportctl.ledger.watermarks import advance


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


class Runs(Connected):
    def start_run(self, run: RunRecord) -> None:
        with self.transaction() as conn:
            values = {**vars(run), "destination": scrub(run.destination)}
            conn.execute(
                t.runs.insert().values(
                    **values, status="running", heartbeat_at=run.started_at, rows=0, bytes=0
                )
            )
            event = "run.retried" if run.trigger == "retry" else "run.started"
            self.audit(conn, event, run.spec, run.id, attempt=run.attempt, trigger=run.trigger)

    def progress(self, run_id: str, spec: str, rows: int, total: int | None) -> None:
        """What a running export has done so far; also keeps its lock, and the lease of the
        daemon's claim on its tick, alive."""
        now = self.clock.now()
        with self.transaction() as conn:
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
            renew_for_run(conn, run_id, now)

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
        now = self.clock.now()
        attempts = {"attempt": attempt} if attempt is not None else {}
        with self.transaction() as conn:
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
            settle_for_run(conn, run_id, status, now)
            if watermark is not None and status == "succeeded":
                advance(conn, spec, run_id, *watermark, at=self.clock.now())
            event = {"succeeded": "run.committed"}.get(status, f"run.{status}")
            self.audit(conn, event, spec, run_id, rows=rows, bytes=bytes_, error=error)

    def event(self, event: str, spec: str, run_id: str | None, **detail: Any) -> None:
        """Add to the audit trail: an attempt that failed, an alert that could not be sent."""
        with self.transaction() as conn:
            self.audit(conn, event, spec, run_id, **detail)

    def last_scheduled(self, spec: str) -> datetime | None:
        """The latest tick the daemon started a run of `spec` for, whatever its outcome."""
        query = sa.select(sa.func.max(t.runs.c.scheduled_at)).where(t.runs.c.spec == spec)
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar_one_or_none()
        return aware(found) if isinstance(found, datetime) else None
