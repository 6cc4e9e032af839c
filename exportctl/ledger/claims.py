"""Claims on schedule ticks: several daemons share one ledger, and each tick runs once.

A daemon claims a (spec, tick) before it runs it, in one transaction: a new row, or an
open claim whose holder's lease has passed, taken over. The holder renews its lease while
the tick's run goes (the run's heartbeat, and the daemon's loop); a holder that dies stops
renewing. Across hosts the lease is the only sign of life there is: a pid means nothing on
another host, so a claim is never taken over because its holder's pid looks gone, only
because its lease has passed. The taker marks the run the dead holder left interrupted, and
breaks its lock, in the transaction that takes the claim over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from exportctl.ledger import schema as t
from exportctl.ledger.history import plain
from exportctl.ledger.liveness import aware
from exportctl.ledger.locks import Locks

#: A claim the caller may run: new, or taken over from a holder whose lease passed.
OURS = ("claimed", "taken_over")


@dataclass(frozen=True)
class Claim:
    spec: str
    tick: datetime
    #: `claimed`, `taken_over` (ours to run); `held` (another's lease is live) or
    #: `finished` (the tick has run): not ours.
    outcome: str
    holder: str
    run_id: str
    #: On a takeover: the run the previous holder left, as it was recorded, if any.
    abandoned: dict[str, Any] | None = None

    @property
    def ours(self) -> bool:
        return self.outcome in OURS


class Claims(Locks):
    def claim(self, spec: str, tick: datetime, holder: str, run_id: str, lease: timedelta) -> Claim:
        """Claim `spec`'s `tick` for `holder`, whose run will be `run_id`, for `lease`."""
        tick = _utc(tick)
        with self.transaction() as conn:
            now = self.clock.now()
            mine = {
                "holder": holder,
                "run_id": run_id,
                "claimed_at": now,
                "lease_until": now + lease,
                "lease_seconds": lease.total_seconds(),
            }
            if _inserted(conn, {"spec": spec, "tick": tick, "takeovers": 0, **mine}):
                return Claim(spec, tick, "claimed", holder, run_id)
            row = conn.execute(sa.select(t.claims).where(*_key(spec, tick))).mappings().one()
            if row["finished_at"] is not None or aware(row["lease_until"]) > now:
                outcome = "held" if row["finished_at"] is None else "finished"
                return Claim(spec, tick, outcome, row["holder"], row["run_id"])
            conn.execute(
                t.claims.update()
                .where(*_key(spec, tick), t.claims.c.holder == row["holder"])
                .values(**mine, takeovers=row["takeovers"] + 1)
            )
            abandoned = self._abandon(conn, row, holder, now)
            return Claim(spec, tick, "taken_over", holder, run_id, abandoned)

    def renew_claims(self, holder: str, lease: timedelta) -> int:
        """Extend the live leases of `holder`'s open claims; how many there were."""
        with self.transaction() as conn:
            now = self.clock.now()
            live = t.claims.c.lease_until > now
            renewed = conn.execute(
                t.claims.update()
                .where(t.claims.c.holder == holder, t.claims.c.finished_at.is_(None), live)
                .values(lease_until=now + lease)
            )
            return renewed.rowcount

    def confirm_claim(self, spec: str, tick: datetime, holder: str, lease: timedelta) -> bool:
        """Whether `holder` still holds its open claim on the tick, its lease live; if so
        the lease is renewed, in the same transaction, for the run about to start."""
        with self.transaction() as conn:
            now = self.clock.now()
            mine = (t.claims.c.holder == holder, _open(), t.claims.c.lease_until > now)
            renewed = conn.execute(
                t.claims.update().where(*_key(spec, tick), *mine).values(lease_until=now + lease)
            )
            return bool(renewed.rowcount)

    def finish_claim(self, spec: str, tick: datetime, holder: str, outcome: str) -> str:
        """Close `holder`'s claim on the tick with its `outcome`; the holder recorded now (not
        `holder` when another daemon took the claim over while its run went on)."""
        with self.transaction() as conn:
            conn.execute(
                t.claims.update()
                .where(*_key(spec, tick), t.claims.c.holder == holder, _open())
                .values(finished_at=self.clock.now(), outcome=outcome)
            )
            held = sa.select(t.claims.c.holder).where(*_key(spec, tick))
            return str(conn.execute(held).scalar_one())

    def release_claim(self, spec: str, tick: datetime, holder: str) -> None:
        """End `holder`'s lease now, unfinished: another daemon may run the tick at once."""
        with self.transaction() as conn:
            conn.execute(
                t.claims.update()
                .where(*_key(spec, tick), t.claims.c.holder == holder, _open())
                .values(lease_until=self.clock.now())
            )

    def expired_claims(self, specs: Iterable[str]) -> list[tuple[str, datetime]]:
        """The open claims on `specs`' ticks whose lease has passed, oldest tick first."""
        names = sorted(specs)
        if not names:
            return []
        query = (
            sa.select(t.claims.c.spec, t.claims.c.tick)
            .where(_open(), t.claims.c.lease_until <= self.clock.now(), t.claims.c.spec.in_(names))
            .order_by(t.claims.c.tick, t.claims.c.spec)
        )
        with self.engine.connect() as conn:
            return [(spec, _utc(tick)) for spec, tick in conn.execute(query)]

    def claims(self, spec: str) -> list[dict[str, Any]]:
        """Every claim on `spec`'s ticks, oldest first."""
        query = sa.select(t.claims).where(t.claims.c.spec == spec).order_by(t.claims.c.tick)
        with self.engine.connect() as conn:
            return [_plain_claim(row) for row in conn.execute(query).mappings()]

    def _abandon(
        self, conn: sa.Connection, claim: Any, taker: str, now: datetime
    ) -> dict[str, Any] | None:
        """Mark the run a dead holder left interrupted and break its lock; that run."""
        run_id, spec = claim["run_id"], claim["spec"]
        found = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).mappings().first()
        reason = (
            f"abandoned: daemon {claim['holder']} stopped renewing its claim on the tick "
            f"{aware(claim['tick']).isoformat()} (lease ended "
            f"{aware(claim['lease_until']).isoformat()}); taken over by {taker}"
        )
        if found is not None and found["status"] == "running":
            conn.execute(
                t.runs.update()
                .where(t.runs.c.id == run_id, t.runs.c.status == "running")
                .values(status="interrupted", finished_at=now, error=reason)
            )
            self.audit(conn, "run.interrupted", spec, run_id, reason=reason)
        for lock in conn.execute(sa.select(t.locks).where(t.locks.c.run_id == run_id)).mappings():
            self._break_lock(conn, lock)
        tick = aware(claim["tick"]).isoformat()
        self.audit(conn, "claim.taken_over", spec, run_id, tick=tick, holder=claim["holder"])
        return plain(found) if found is not None else None


def renew_for_run(conn: sa.Connection, run_id: str, now: datetime) -> None:
    """The run's heartbeat: its open claim's lease, if still live, extended by its length."""
    mine = sa.select(t.claims.c.spec, t.claims.c.tick, t.claims.c.lease_seconds).where(
        t.claims.c.run_id == run_id, _open(), t.claims.c.lease_until > now
    )
    for spec, tick, seconds in conn.execute(mine).all():
        conn.execute(
            t.claims.update()
            .where(*_key(spec, tick), t.claims.c.run_id == run_id)
            .values(lease_until=now + timedelta(seconds=seconds))
        )


def settle_for_run(conn: sa.Connection, run_id: str, status: str, now: datetime) -> None:
    """With the run's end: its claim finished, in the same transaction, so that a holder that
    dies after its run has ended never has the tick run again; an interrupted run's claim
    is released instead, for another daemon to run the tick at once."""
    claim = t.claims.update().where(t.claims.c.run_id == run_id, _open())
    if status == "interrupted":
        conn.execute(claim.values(lease_until=now))
    else:
        conn.execute(claim.values(finished_at=now, outcome=status))


def _inserted(conn: sa.Connection, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING: whether the row went in (as RETURNING tells: the
    row count of an INSERT is not reported by every driver)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(t.claims).values(**values).on_conflict_do_nothing()
    return conn.execute(statement.returning(t.claims.c.spec)).first() is not None


def _key(spec: str, tick: datetime) -> tuple[Any, Any]:
    return t.claims.c.spec == spec, t.claims.c.tick == _utc(tick)


def _open() -> Any:
    return t.claims.c.finished_at.is_(None)


def _utc(value: datetime) -> datetime:
    """Stored in UTC: SQLite keeps a datetime's wall time as text, without its offset."""
    return aware(value).astimezone(UTC)


def _plain_claim(row: Any) -> dict[str, Any]:
    instants = ("tick", "claimed_at", "lease_until", "finished_at")
    return {k: _utc(v) if k in instants and v is not None else v for k, v in dict(row).items()}
