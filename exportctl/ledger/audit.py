"""The audit trail's one way in: an event, its spec and run, who and where, and its detail."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from exportctl.errors import scrub
from exportctl.ledger import schema as t


def record(
    conn: sa.Connection,
    event: str,
    spec: str | None,
    run_id: str | None,
    by: tuple[str, str],
    at: datetime,
    detail: dict[str, Any],
) -> None:
    """Insert the event within `conn`'s transaction, `by` (user, host), `at` an instant;
    its detail as JSON, nulls left out, scrubbed."""
    user, host = by
    text = scrub(json.dumps({k: v for k, v in detail.items() if v is not None}, default=str))
    conn.execute(
        t.audit.insert().values(
            at=at, event=event, spec=spec, run_id=run_id, user=user, host=host, detail=text
        )
    )
