"""One run of a spec at a time: its lock, waited for on the ledger's clock, and what is left
when a holder dies (its lock broken, its run marked interrupted)."""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa

from exportctl.errors import ExportctlError
from exportctl.ledger import schema as t
from exportctl.ledger.base import Connected
from exportctl.ledger.history import plain


class LockHeld(ExportctlError):
    """Another live run holds the spec's lock."""

    def __init__(self, spec: str, run_id: str, host: str, pid: int):
        self.run_id = run_id
        super().__init__(f"`{spec}` is being exported by run {run_id} (pid {pid} on {host})")


class Locks(Connected):
    def acquire(self, spec: str, run_id: str, wait: float = 0, poll: float = 0.2) -> None:
        """Take the spec's lock, breaking a dead holder's; wait up to `wait` seconds."""
        deadline = self.clock.monotonic() + wait
        while True:
            try:
                with self.transaction() as conn:
                    self._break_if_stale(conn, spec)
                    now = self.clock.now()
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
                if self.clock.monotonic() >= deadline:
                    raise LockHeld(spec, holder["run_id"], holder["host"], holder["pid"]) from None
                self.clock.sleep(poll)

    def release(self, spec: str, run_id: str) -> None:
        with self.transaction() as conn:
            conn.execute(t.locks.delete().where(t.locks.c.spec == spec, t.locks.c.run_id == run_id))

    def recover(self) -> list[dict[str, Any]]:
        """Mark runs whose process is gone as interrupted; return them."""
        with self.transaction() as conn:
            running = conn.execute(sa.select(t.runs).where(t.runs.c.status == "running"))
            gone = [dict(r) for r in running.mappings() if self.is_dead(r)]
            for run in gone:
                conn.execute(
                    t.runs.update()
                    .where(t.runs.c.id == run["id"])
                    .values(
                        status="interrupted", finished_at=self.clock.now(), error="process gone"
                    )
                )
                self.audit(conn, "run.interrupted", run["spec"], run["id"], reason="process gone")
                held = sa.select(t.locks).where(t.locks.c.run_id == run["id"])
                for lock in conn.execute(held).mappings().all():
                    self._break_lock(conn, lock)
        return [plain(r) for r in gone]

    def _holder(self, spec: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.locks).where(t.locks.c.spec == spec)).mappings().first()
            return dict(row) if row else None

    def _break_if_stale(self, conn: sa.Connection, spec: str) -> None:
        row = conn.execute(sa.select(t.locks).where(t.locks.c.spec == spec)).mappings().first()
        if row is not None and self.is_dead(row):
            self._break_lock(conn, row)

    def _break_lock(self, conn: sa.Connection, lock: sa.RowMapping) -> None:
        """Remove a dead holder's lock, and say so in the audit trail."""
        conn.execute(t.locks.delete().where(t.locks.c.spec == lock["spec"]))
        self.audit(
            conn,
            "lock.broken",
            lock["spec"],
            lock["run_id"],
            holder_pid=lock["pid"],
            host=lock["host"],
        )
