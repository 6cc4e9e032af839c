"""A whole day of the daemon on a fake clock: real specs, real runs, a real SQLite ledger.

The daemon's loop drives the clock (`serve(until=...)`): each of its waits moves the
clock on at once, to the next tick. Runs take no time on it: before the loop moves it,
the runs already started finish (for real, in milliseconds), so every run starts at
its tick, and no tick finds the previous run still going.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from exportctl.clock import Event, FakeClock
from exportctl.daemon.loop import Daemon
from exportctl.ledger.store import Ledger
from tests.support.daemon_specs import write_scheduled_spec

#: Thirty seconds before the simulated day: its first hourly tick is at its midnight.
START = datetime(2025, 3, 3, tzinfo=UTC) - timedelta(seconds=30)
DAY = datetime(2025, 3, 3, tzinfo=UTC)
END = DAY + timedelta(days=1)


class RunsTakeNoTime(FakeClock):
    """A fake clock the daemon's loop drives; before it moves, the runs under way end."""

    def __init__(self, start: datetime):
        super().__init__(start)
        self.loop = threading.get_ident()
        self.daemon: Daemon | None = None

    def wait(self, event: Event, seconds: float) -> bool:
        if threading.get_ident() == self.loop and self.daemon is not None:
            assert self.daemon.wait_idle(timeout=60), "a run did not end"
        return super().wait(event, seconds)


def hours(*at: float) -> list[datetime]:
    return [DAY + timedelta(hours=h) for h in at]


def test_a_day_of_three_schedules_runs_each_tick_once_at_its_instant(tmp_path):
    specs = tmp_path / "specs"
    write_scheduled_spec(specs, "hourly", every="'every hour'")
    write_scheduled_spec(specs, "nightly", every="'every day at 02:00'")
    write_scheduled_spec(specs, "cron", every="'30 */6 * * *'")  # 00:30, 06:30, 12:30, 18:30
    clock = RunsTakeNoTime(START)
    ledger = Ledger(f"sqlite:///{tmp_path / 'state.db'}", clock=clock)
    daemon = Daemon((specs,), ledger, watch_every=600, stale_every=3600)
    clock.daemon = daemon

    began = time.monotonic()
    signum = daemon.serve(grace=5, until=END)
    took = time.monotonic() - began

    assert signum == 0 and clock.now() == END
    expected = {
        "hourly": hours(*range(24)),
        "nightly": hours(2),
        "cron": hours(0.5, 6.5, 12.5, 18.5),
    }
    for name, ticks in expected.items():
        runs = sorted(ledger.history(name, limit=1000), key=lambda r: r["scheduled_at"])
        assert [r["scheduled_at"] for r in runs] == ticks, name
        assert [r["started_at"] for r in runs] == ticks, name  # on time, on the daemon's clock
        # The ledger keeps the same clock: runs take no fake time, and none looks dead.
        assert [r["finished_at"] for r in runs] == ticks, name
        assert {(r["status"], r["trigger"], r["rows"]) for r in runs} == {
            ("succeeded", "schedule", 20)
        }
        assert len(list((tmp_path / "out").glob(f"{name}-*.csv"))) == len(ticks)
    assert not _skipped(ledger)
    # The loop only ever waited on the fake clock: a day of it, in a few seconds for real.
    assert sum(clock.slept) == (END - START).total_seconds()
    assert max(clock.slept) <= 600  # no wait past the next look at the spec files
    assert took < 30, f"a simulated day took {took:.1f} s"


def _skipped(ledger: Ledger) -> list[Any]:
    return [e for e in ledger.audit_events(limit=1000) if e["event"] == "run.tick_skipped"]
