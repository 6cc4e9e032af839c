"""Tell a spec's alerts how its run ended; an alert that fails is audited, never raised."""

from __future__ import annotations

from contextlib import suppress

from exportctl.clock import Clock
from exportctl.errors import scrub
from exportctl.jobs import alerts
from exportctl.ledger.store import Ledger
from exportctl.model import ExportSpec
from exportctl.run.result import RunResult


def alert(spec: ExportSpec, ledger: Ledger, result: RunResult, clock: Clock) -> None:
    """Send the spec's alerts; one that fails is recorded, never raised."""
    outcome = alerts.Outcome(
        spec=result.spec,
        run_id=result.run_id,
        status=result.status,
        rows=result.rows,
        bytes=result.bytes,
        destination=scrub(result.uri),
        error=result.error,
        started_at=result.started_at,
        finished_at=result.finished_at,
        attempts=result.attempts,
    )
    for failure in alerts.send_alerts(spec.alerts, outcome, clock=clock):
        with suppress(Exception):  # the ledger may be what failed; the run's result stands
            ledger.event("alert.failed", spec.name, result.run_id, reason=failure)
