"""Stale exports: a spec with no successful run for twice its interval is alerted, once."""

from __future__ import annotations

import logging
from contextlib import suppress
from datetime import datetime

from exportctl.clock import Clock
from exportctl.daemon.slots import Slot, tz
from exportctl.daemon.telemetry import Metrics, log_event
from exportctl.jobs import alerts
from exportctl.lang import schedule as scheduler
from exportctl.ledger.store import Ledger


def check_stale(slot: Slot, now: datetime, ledger: Ledger, metrics: Metrics, clock: Clock) -> None:
    """Alert once when a spec has had no successful run for twice its interval."""
    name, limit = slot.spec.name, 2 * scheduler.period(slot.rule, tz(slot.spec), now)
    try:
        last = ledger.history(name, status="succeeded", limit=1)
    except Exception:
        return
    since = slot.watched_since
    if last:
        since = max(since, last[0]["finished_at"] or last[0]["started_at"])
    stale = now - since > limit
    metrics.stale.labels(name).set(int(stale))
    if not stale or slot.stale_from == since:
        return
    slot.stale_from = since
    error = f"no successful run since {since.isoformat()} (twice its interval is {limit})"
    log_event("spec.stale", logging.WARNING, spec=name, error=error)
    outcome = alerts.Outcome(
        spec=name,
        run_id="",
        status="stale",
        rows=0,
        bytes=0,
        destination="",
        error=error,
        started_at=since.isoformat(),
        finished_at=now.isoformat(),
    )
    with suppress(Exception):
        ledger.event("spec.stale", name, None, since=since.isoformat())
        for failure in alerts.send_alerts(slot.spec.alerts, outcome, clock=clock):
            ledger.event("alert.failed", name, None, reason=failure)
