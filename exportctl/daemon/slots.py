"""A scheduled spec as the daemon keeps it: its rule, its next tick, and its first one."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exportctl.daemon.telemetry import log_event
from exportctl.errors import scrub
from exportctl.lang import schedule as scheduler
from exportctl.ledger.store import Ledger
from exportctl.model import ExportSpec


@dataclass
class Slot:
    """One scheduled spec: its current version and its next tick."""

    spec: ExportSpec
    rule: scheduler.Rule
    #: When to start next: the tick itself, or at once for a missed tick being caught up.
    due: datetime
    #: The tick the next start is for (recorded as the run's `scheduled_at`).
    tick: datetime
    watched_since: datetime
    future: Future[Any] | None = None
    #: The last success the stale alert was sent for, so it is sent once per episode.
    stale_from: datetime | None = None

    @property
    def busy(self) -> bool:
        return self.future is not None and not self.future.done()

    def next_tick(self, now: datetime) -> None:
        """The tick after `now` becomes the next one."""
        self.due = self.tick = scheduler.next_run(self.rule, tz(self.spec), now)


def latest_tick(rule: scheduler.Rule, tz: str, since: datetime, now: datetime) -> datetime | None:
    """The latest tick in (since, now], or None if there is none."""
    after = max(since, scheduler.search_floor(rule, tz, now))
    found = None
    while (tick := scheduler.next_run(rule, tz, after)) <= now:
        found = after = tick
    return found


def first_slot(spec: ExportSpec, now: datetime, ledger: Ledger) -> Slot:
    """A new spec's first tick: at once for a tick missed since the ledger's last (catch_up
    `latest`), else its next tick."""
    rule = scheduler.parse(every(spec))
    tick = scheduler.next_run(rule, tz(spec), now)
    slot = Slot(spec, rule, due=tick, tick=tick, watched_since=now)
    assert spec.schedule is not None
    if spec.schedule.catch_up == "latest":
        try:
            last = ledger.last_scheduled(spec.name)
        except Exception as exc:  # cannot tell what was missed: wait for the next tick
            log_event("ledger.unreachable", logging.ERROR, spec=spec.name, error=scrub(str(exc)))
            return slot
        missed = latest_tick(rule, tz(spec), last, now) if last else None
        if missed is not None:
            slot.due, slot.tick = now, missed
    return slot


def every(spec: ExportSpec) -> str:
    assert spec.schedule is not None
    return spec.schedule.every


def tz(spec: ExportSpec) -> str:
    assert spec.schedule is not None
    return spec.schedule.timezone
