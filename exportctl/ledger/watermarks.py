"""Where an incremental spec's next run starts: its watermark, advanced with a run's success."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from exportctl.ledger import schema as t
from exportctl.ledger.base import Connected
from exportctl.ledger.history import plain


class Watermarks(Connected):
    def watermark(self, spec: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.watermarks).where(t.watermarks.c.spec == spec)
            ).mappings()
            found = row.first()
            return plain(found) if found else None

    def reset_watermark(self, spec: str) -> bool:
        with self.transaction() as conn:
            gone = conn.execute(t.watermarks.delete().where(t.watermarks.c.spec == spec))
            self.audit(conn, "watermark.reset", spec, None)
            return bool(gone.rowcount)


def advance(
    conn: sa.Connection,
    spec: str,
    run_id: str,
    query_sha256: str,
    position: str,
    *,
    at: datetime,
) -> None:
    """Move the spec's watermark to `position`, within the transaction that commits the run."""
    conn.execute(t.watermarks.delete().where(t.watermarks.c.spec == spec))
    conn.execute(
        t.watermarks.insert().values(
            spec=spec, query_sha256=query_sha256, position=position, run_id=run_id, updated_at=at
        )
    )
