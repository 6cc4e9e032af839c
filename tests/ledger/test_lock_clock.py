"""A lock wait runs on the ledger's clock: with a FakeClock, waiting for a holder, giving up
on one, and taking over a stale one's lock cost no real time (a real ledger, SQLite and
PostgreSQL; only the clock is fake)."""

from __future__ import annotations

import os
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from exportctl.clock import FakeClock
from exportctl.ledger import schema as tables
from exportctl.ledger.liveness import STALE_AFTER
from exportctl.ledger.locks import LockHeld
from exportctl.ledger.store import Ledger
from tests.conftest import pg_url

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
#: Well under one real poll of the waits below: proof that nothing slept for real.
FAST = 1.0


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return pg_url(request.getfixturevalue("pg_schema"))


def hold(ledger: Ledger, spec: str, run_id: str, host: str, beat: datetime) -> None:
    """A lock as another process records it: on `host`, last heard from at `beat`."""
    with ledger.engine.begin() as conn:
        conn.execute(
            tables.locks.insert().values(
                spec=spec, run_id=run_id, host=host, pid=os.getpid(), acquired_at=beat,
                heartbeat_at=beat,
            )
        )  # fmt: skip


def holder(ledger: Ledger, spec: str) -> str | None:
    with ledger.engine.connect() as conn:
        found = conn.execute(tables.locks.select().where(tables.locks.c.spec == spec)).first()
    return found.run_id if found else None


def test_a_wait_for_a_live_holder_gives_up_on_the_clock_not_in_real_time(state: str) -> None:
    clock = FakeClock(START)
    ledger = Ledger(state, clock=clock)
    hold(ledger, "pool", "run-elsewhere", "elsewhere", beat=START)  # beating: not stale
    began = time.perf_counter()

    with pytest.raises(LockHeld, match="run-elsewhere"):
        ledger.acquire("pool", "run-mine", wait=60, poll=10)

    assert clock.slept == [10.0] * 6
    assert time.perf_counter() - began < FAST
    assert holder(ledger, "pool") == "run-elsewhere"
    ledger.close()


def test_a_stale_holders_lock_is_taken_over_once_the_clock_says_so(state: str) -> None:
    clock = FakeClock(START)
    ledger = Ledger(state, clock=clock)
    hold(ledger, "pool", "run-silent", "elsewhere", beat=START)  # never beats again
    began = time.perf_counter()

    ledger.acquire("pool", "run-mine", wait=600, poll=30)

    # Silent for 150 s at the fifth poll: longer than STALE_AFTER (120 s), so dead.
    assert STALE_AFTER.total_seconds() == 120
    assert clock.slept == [30.0] * 5
    assert time.perf_counter() - began < FAST
    assert holder(ledger, "pool") == "run-mine"
    broken = [e for e in ledger.audit_events(spec="pool") if e["event"] == "lock.broken"]
    assert [(e["run_id"], e["at"]) for e in broken] == [
        ("run-silent", START + timedelta(seconds=150))
    ]
    ledger.close()


class ReleasingClock(FakeClock):
    """A fake clock on which the holder lets go after its `after`-th sleep."""

    def __init__(self, start: datetime, ledger_url: str, after: int):
        super().__init__(start)
        self.ledger_url, self.after = ledger_url, after

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if len(self.slept) == self.after:
            other = Ledger(self.ledger_url)
            other.release("pool", "run-first")
            other.close()


def test_a_wait_takes_the_lock_its_holder_releases(state: str) -> None:
    now = datetime.now(UTC)  # on this host a holder's start is checked against its process's
    clock = ReleasingClock(now, state, after=3)
    ledger = Ledger(state, clock=clock)
    # A live holder on this host (this very process): only its release frees the lock.
    hold(ledger, "pool", "run-first", socket.gethostname(), beat=now)
    began = time.perf_counter()

    ledger.acquire("pool", "run-mine", wait=60)

    assert clock.slept == [0.2] * 3
    assert time.perf_counter() - began < FAST
    assert holder(ledger, "pool") == "run-mine"
    ledger.close()


def test_a_live_holder_on_this_host_stays_alive_on_a_clock_years_away(state: str) -> None:
    """This process holds the lock, stamped on a clock far from the wall's: its age (from
    the kernel) is measured against the same clock, so it is not mistaken for a reused pid;
    a holder stamped an hour before this process started is."""
    clock = FakeClock(START)  # 2026-03: months before the wall clock
    ledger = Ledger(state, clock=clock)
    me = socket.gethostname()
    hold(ledger, "pool", "run-mine", me, beat=START)

    with pytest.raises(LockHeld, match="run-mine"):
        ledger.acquire("pool", "run-other")
    assert holder(ledger, "pool") == "run-mine"

    ledger.release("pool", "run-mine")
    hold(ledger, "pool", "run-before-me", me, beat=START - timedelta(hours=1))
    clock.advance(3600 * 24)  # a day later on the fake clock: this process looks a day old
    ledger.acquire("pool", "run-other")  # the recorded pid started after the lock: reused
    assert holder(ledger, "pool") == "run-other"
