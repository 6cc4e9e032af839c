"""Claims on ticks in a real ledger (SQLite and PostgreSQL, the clock fake): one claimant
wins a tick, even racing from several processes; a lease passes by the clock, never by a
pid; a takeover marks the dead run interrupted and breaks its lock in the same
transaction; a run's end settles its claim."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from exportctl.clock import FakeClock
from exportctl.ledger import schema as tables
from exportctl.ledger.runs import RunRecord
from exportctl.ledger.store import Ledger
from tests.conftest import pg_url

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TICK = START + timedelta(seconds=10)
LEASE = timedelta(seconds=30)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return pg_url(request.getfixturevalue("pg_schema"))


def started(ledger: Ledger, run_id: str, host: str = "elsewhere") -> None:
    """A run of `pool` for TICK, recorded as another host records it, holding the lock."""
    ledger.start_run(
        RunRecord(run_id, "pool", "0" * 64, "schedule", "/out/pool.csv", ledger.clock.now(),
                  scheduled_at=TICK, host=host, pid=1)
    )  # fmt: skip
    with ledger.engine.begin() as conn:
        now = ledger.clock.now()
        conn.execute(
            tables.locks.insert().values(
                spec="pool", run_id=run_id, host=host, pid=1, acquired_at=now, heartbeat_at=now
            )
        )


def test_one_claimant_gets_a_tick_and_the_others_see_its_holder(state: str) -> None:
    ledger = Ledger(state, clock=FakeClock(START))
    first = ledger.claim("pool", TICK, "a", "run-a", LEASE)
    # The same instant in another zone is the same tick.
    again = ledger.claim("pool", TICK.astimezone(ZoneInfo("Asia/Kolkata")), "b", "run-b", LEASE)
    assert (first.outcome, first.ours) == ("claimed", True)
    assert (again.outcome, again.ours, again.holder, again.run_id) == ("held", False, "a", "run-a")
    assert ledger.claim("pool", TICK + timedelta(seconds=10), "b", "run-b", LEASE).ours
    assert ledger.claim("other", TICK, "b", "run-c", LEASE).ours


def test_a_lease_passes_by_the_clock_and_a_renewal_extends_it(state: str) -> None:
    clock = FakeClock(START)
    ledger = Ledger(state, clock=clock)
    ledger.claim("pool", TICK, "a", "run-a", LEASE)
    clock.advance(20)
    assert ledger.renew_claims("a", LEASE) == 1
    clock.advance(20)  # 40 s after the claim, 20 after the renewal: still live
    assert ledger.expired_claims(["pool"]) == []
    assert ledger.claim("pool", TICK, "b", "run-b", LEASE).outcome == "held"
    clock.advance(10.5)
    assert ledger.expired_claims(["pool", "other"]) == [("pool", TICK)]
    assert ledger.renew_claims("a", LEASE) == 0  # too late: a passed lease is not revived
    assert ledger.expired_claims(["other"]) == []


def test_a_takeover_marks_the_dead_run_interrupted_and_breaks_its_lock(state: str) -> None:
    """The dead holder was on another host, and its lock's heartbeat is fresh by the lock's
    own rule (STALE_AFTER): only the claim's lease says it is gone."""
    clock = FakeClock(START)
    ledger = Ledger(state, clock=clock)
    ledger.claim("pool", TICK, "dead-daemon", "run-dead", LEASE)
    started(ledger, "run-dead")
    clock.advance(LEASE.total_seconds() + 1)

    claim = ledger.claim("pool", TICK, "b", "run-b", LEASE)

    assert (claim.outcome, claim.holder, claim.run_id) == ("taken_over", "b", "run-b")
    assert claim.abandoned is not None and claim.abandoned["id"] == "run-dead"
    dead = ledger.run("run-dead")
    assert dead["status"] == "interrupted"
    assert dead["error"].startswith("abandoned: daemon dead-daemon stopped renewing")
    assert "taken over by b" in dead["error"]
    ledger.acquire("pool", "run-b")  # the lock is free
    events = [(e["event"], e["run_id"]) for e in ledger.audit_events(spec="pool")]
    assert ("claim.taken_over", "run-dead") in events and ("lock.broken", "run-dead") in events
    (row,) = ledger.claims("pool")
    assert row["takeovers"] == 1 and row["lease_until"] == clock.now() + LEASE


def test_a_run_ending_settles_its_claim_and_a_finished_tick_is_never_taken_over(
    state: str,
) -> None:
    clock = FakeClock(START)
    ledger = Ledger(state, clock=clock)
    ledger.claim("pool", TICK, "a", "run-a", LEASE)
    started(ledger, "run-a")
    clock.advance(5)
    ledger.progress("run-a", "pool", 10, None)  # the heartbeat renews the claim's lease
    assert ledger.claims("pool")[0]["lease_until"] == clock.now() + LEASE
    ledger.finish_run("run-a", "succeeded", rows=10, bytes_=100)
    clock.advance(3600)

    assert ledger.expired_claims(["pool"]) == []
    late = ledger.claim("pool", TICK, "b", "run-b", LEASE)
    assert (late.outcome, late.ours, late.holder) == ("finished", False, "a")
    (row,) = ledger.claims("pool")
    assert row["outcome"] == "succeeded" and row["finished_at"] == START + timedelta(seconds=5)


def test_an_interrupted_run_releases_its_claim_for_another_daemon_at_once(state: str) -> None:
    clock = FakeClock(START)
    ledger = Ledger(state, clock=clock)
    ledger.claim("pool", TICK, "a", "run-a", LEASE)
    started(ledger, "run-a", host="here")
    ledger.finish_run("run-a", "interrupted", rows=0, bytes_=0, error="SIGTERM")
    assert ledger.expired_claims(["pool"]) == [("pool", TICK)]
    assert ledger.claim("pool", TICK, "b", "run-b", LEASE).outcome == "taken_over"
    assert ledger.run("run-a")["error"] == "SIGTERM"  # ended already: left as it was
    assert ledger.finish_claim("pool", TICK, "a", "succeeded") == "b"  # a lost it


@pytest.mark.postgres
def test_eight_daemons_racing_for_one_tick_give_it_to_one(pg_schema: str) -> None:
    """Each with a ledger (an engine, a connection) of its own, all claiming at once."""
    state = pg_url(pg_schema)
    ledgers = [Ledger(state, clock=FakeClock(START)) for _ in range(8)]
    start = threading.Barrier(len(ledgers))

    def claim(n: int) -> str:
        start.wait()
        return ledgers[n].claim("pool", TICK, f"d{n}", f"run-{n}", LEASE).outcome

    with ThreadPoolExecutor(max_workers=len(ledgers)) as pool:
        outcomes = list(pool.map(claim, range(len(ledgers))))
    assert sorted(outcomes) == ["claimed"] + ["held"] * 7
    winner = f"d{outcomes.index('claimed')}"
    assert Ledger(state).claims("pool")[0]["holder"] == winner
