"""Several daemons on one ledger, driven by one fake clock: every tick runs once, a tick
whose holder stopped renewing is taken over after its lease, and the counters add up."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from exportctl import clock as clocks
from exportctl.daemon.loop import Daemon
from exportctl.ledger.store import Ledger
from exportctl.run.result import RunResult
from tests.conftest import pg_url
from tests.paths import REPO
from tests.support.daemon_specs import make_db, write_scheduled_spec
from tests.support.dying_holder import HOLDER
from tests.support.waiting import eventually

#: A whole minute, well in the past, so that real runs start after their ticks.
T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
LEASE = timedelta(seconds=30)
#: Counted in a second or two, then exported for a few more.
SLOW = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000)"
    " SELECT x, 'a line of text' AS y FROM c"
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One ledger for the daemons: a SQLite file, or a PostgreSQL schema of the test's own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return pg_url(request.getfixturevalue("pg_schema"))


def daemons(
    tmp_path: Path,
    state: str,
    clock: clocks.FakeClock,
    count: int,
    host: str = "host",
    **kwargs: Any,
) -> list[Daemon]:
    """`count` daemons over the same spec files and ledger, each with a ledger object (and
    a connection pool) of its own, as on several hosts (named `host`-N); started."""
    started = []
    for n in range(count):
        ledger = Ledger(state, clock=clock)
        holder = f"{host}-{n}:1:x"
        daemon = Daemon((tmp_path / "specs",), ledger, lease=LEASE, holder=holder, **kwargs)
        daemon.start()
        started.append(daemon)
    return started


def counted(daemon: Daemon, metric: str, spec: str) -> float:
    value = daemon.metrics.registry.get_sample_value(f"exportctl_{metric}_total", {"spec": spec})
    return value or 0.0


def gauge(daemon: Daemon, metric: str, spec: str) -> float | None:
    return daemon.metrics.registry.get_sample_value(f"exportctl_{metric}", {"spec": spec})


def scheduled(state: str) -> list[dict[str, Any]]:
    return [r for r in Ledger(state).history(limit=1000) if r["trigger"] == "schedule"]


def test_two_daemons_on_one_ledger_run_every_tick_once(tmp_path, shared):
    for name in ("items", "other"):
        write_scheduled_spec(tmp_path / "specs", name)  # every 10 seconds
    kept = tmp_path / "specs" / "items.yaml"
    kept.write_text(kept.read_text() + "retention: {keep_last: 2}\n")
    clock = clocks.FakeClock(T0 + timedelta(seconds=5))
    pair = daemons(tmp_path, shared, clock, 2)
    ticks = 6
    for n in range(1, ticks + 1):
        clock.advance((T0 + timedelta(seconds=10 * n) - clock.now()).total_seconds())
        # The first to step claims the tick; the other steps once that run has ended (its
        # clock a little behind), when the spec's lock alone would let it run the tick again.
        for daemon in pair if n % 2 else pair[::-1]:
            daemon.step()
            assert daemon.wait_idle(timeout=30)
    for daemon in pair:
        daemon.shutdown(grace=5)

    runs = scheduled(shared)
    assert len(runs) == 2 * ticks  # one run a tick and spec, never two
    assert len({(r["spec"], r["scheduled_at"]) for r in runs}) == 2 * ticks
    assert {r["status"] for r in runs} == {"succeeded"}
    ledger = Ledger(shared)
    for spec in ("items", "other"):
        claims = ledger.claims(spec)
        assert [c["tick"] for c in claims] == [T0 + timedelta(seconds=10 * n) for n in range(1, 7)]
        assert {c["outcome"] for c in claims} == {"succeeded"}
        assert {c["run_id"] for c in claims} == {r["id"] for r in runs if r["spec"] == spec}
        ran = [counted(d, "ticks_run", spec) for d in pair]
        elsewhere = [counted(d, "ticks_claimed_elsewhere", spec) for d in pair]
        assert ran == [ticks / 2, ticks / 2] and sum(ran) == ticks
        assert [r + e for r, e in zip(ran, elsewhere, strict=True)] == [ticks, ticks]
        mine = {c["holder"] for c in claims}
        assert mine == {d.holder for d in pair}
    # Retention ran once per tick, by the tick's holder: each old file deleted once.
    deleted = [e for e in ledger.audit_events(spec="items") if e["event"] == "retention.deleted"]
    uris = [json.loads(e["detail"])["uri"] for e in deleted]
    assert len(uris) == len(set(uris)) == 2 * (ticks - 2)  # data and manifest of 4 runs
    assert not [e for e in ledger.audit_events(spec="items") if e["event"] == "retention.failed"]
    assert len(list((tmp_path / "out").glob("items-*.csv"))) == 2
    # Which ticks: the last one each daemon ran, and the last it saw run by the other.
    last, before = (T0 + timedelta(seconds=10 * n) for n in (ticks, ticks - 1))
    gauges = ("last_tick_run_timestamp_seconds", "last_tick_claimed_elsewhere_timestamp_seconds")
    seen = [[gauge(d, name, "items") for name in gauges] for d in pair]
    assert seen == [[before.timestamp(), last.timestamp()], [last.timestamp(), before.timestamp()]]


class Holding:
    """A stand-in for jobs.run_spec that holds its run until released, as a long export."""

    def __init__(self) -> None:
        self.calls: list[datetime | None] = []
        self.specs: list[str] = []
        self.release = threading.Event()

    def __call__(self, spec, ledger, options, now, _observer, stop, _clock) -> RunResult:
        self.calls.append(options.scheduled_for)
        self.specs.append(spec.name)
        while not self.release.wait(0.01):
            stop.check()
        stamp = now.isoformat()
        return RunResult(spec.name, "r", "succeeded", 1, 1, "u", None, stamp, stamp, 0.0)  # type: ignore[arg-type]


def test_a_live_holder_renews_its_lease_and_its_long_run_is_never_taken_over(tmp_path, shared):
    write_scheduled_spec(tmp_path / "specs", "items")
    clock = clocks.FakeClock(T0 + timedelta(seconds=5))
    holding = Holding()
    first, second = daemons(tmp_path, shared, clock, 2, run=holding)
    clock.advance(5)
    first.step()  # claims the tick at 10, and holds its run
    eventually(lambda: holding.calls, "the run under way")
    for _ in range(12):  # three leases, a quarter at a time; the holder's loop renews
        second.step()
        first.step()
        clock.advance(LEASE.total_seconds() / 4)
    holding.release.set()
    for daemon in (first, second):
        assert daemon.wait_idle(timeout=30)
        daemon.shutdown(grace=5)

    tick = T0 + timedelta(seconds=10)
    assert holding.calls.count(tick) == 1  # later ticks: skipped by the holder, or the other's
    (claim,) = [c for c in Ledger(shared).claims("items") if c["tick"] == tick]
    assert claim["holder"] == first.holder and claim["takeovers"] == 0
    assert claim["outcome"] == "succeeded"
    assert counted(second, "ticks_taken_over", "items") == 0
    assert counted(second, "ticks_claimed_elsewhere", "items") >= 1


def claimed_spec(folder: Path, query: str) -> Path:
    """The spec `slow`, every minute, written in parts of 2000 rows beside its manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder.parent / "data.db"
    if not db.exists():
        make_db(folder.parent)
    path = folder / "slow.yaml"
    path.write_text(
        f"version: 1\nname: slow\ndescription: A test export.\n"
        f"source: {{type: sql, chunk_size: 500, url: 'sqlite:///{db}'}}\n"
        f"query: {query}\nformat: csv\n"
        "destination: {uri: '../out/slow.csv', split: {rows: 2000}}\n"
        "schedule: {every: every minute}\n"
    )
    return path


@pytest.mark.postgres
def test_a_killed_holders_tick_is_taken_over_after_its_lease_and_its_leftovers_removed(
    tmp_path, pg_schema
):
    """A daemon claims a tick and dies mid-run (a real process, SIGKILL): its heartbeat
    stops; after its lease another daemon takes the tick over, marks the dead run
    interrupted, removes the parts it committed, and runs the tick: one success."""
    state, lease = pg_url(pg_schema), 5
    claimed_spec(tmp_path / "specs", "{table: items}")
    dying = claimed_spec(tmp_path / "dying", f'{{sql: "{SLOW}"}}')  # the same spec, slow
    tick = datetime.now(UTC).replace(second=0, microsecond=0)
    command = [sys.executable, "-m", "tests.support.dying_holder", state, str(dying)]
    holder = subprocess.Popen(
        [*command, tick.isoformat(), str(lease)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        dead_run = holder.stdout.readline().strip()
        assert dead_run, "the holder claimed nothing"
        out = tmp_path / "out"
        eventually(
            lambda: list(out.glob("slow.*.part-*.csv")), "a part of the doomed run", timeout=20
        )
        clock = clocks.FakeClock(tick - timedelta(seconds=1))
        (taker,) = daemons(tmp_path, state, clock, 1)
        clock.advance(1)
        taker.step()  # the tick came due: claimed by the living holder
        assert counted(taker, "ticks_claimed_elsewhere", "slow") == 1
        assert counted(taker, "ticks_run", "slow") == 0
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    ledger = Ledger(state)
    assert ledger.run(dead_run)["status"] == "running"  # as it was when it died

    # Its last renewal was at most now; its lease ends `lease` seconds later.
    clock.advance((datetime.now(UTC) - clock.now()).total_seconds() + lease + 1)
    taker.step()
    assert taker.wait_idle(timeout=30)
    taker.shutdown(grace=5)

    runs = [r for r in ledger.history("slow") if r["scheduled_at"] == tick]
    by_status = {r["status"]: r for r in runs}
    assert len(runs) == 2 and set(by_status) == {"interrupted", "succeeded"}
    assert by_status["interrupted"]["id"] == dead_run
    assert by_status["interrupted"]["error"].startswith(f"abandoned: daemon {HOLDER}")
    (claim,) = [c for c in ledger.claims("slow") if c["tick"] == tick]
    assert claim["holder"] == taker.holder and claim["takeovers"] == 1
    assert claim["run_id"] == by_status["succeeded"]["id"]
    assert counted(taker, "ticks_taken_over", "slow") == 1
    events = [(e["event"], e["run_id"]) for e in ledger.audit_events(spec="slow")]
    assert ("claim.taken_over", dead_run) in events
    assert ("parts.removed", dead_run) in events  # by the taker, before its own run
    assert ("lock.broken", dead_run) in events
    assert all(part["deleted_at"] for part in ledger.parts(dead_run))
    stored = {str(p) for p in out.iterdir()}
    assert stored == {f["uri"] for f in ledger.run(by_status["succeeded"]["id"])["files"]}


def test_a_stopping_daemon_releases_its_claims_and_another_runs_those_ticks_at_once(
    tmp_path, shared
):
    """SIGTERM: the run under way is interrupted after the grace, the run still waiting
    for a worker never starts; both claims are released, not left to their lease."""
    for name in ("a", "b"):
        write_scheduled_spec(tmp_path / "specs", name)
    clock = clocks.FakeClock(T0 + timedelta(seconds=5))
    holding = Holding()
    (stopping,) = daemons(tmp_path, shared, clock, 1, run=holding, max_parallel=1)
    (other,) = daemons(tmp_path, shared, clock, 1)
    clock.advance(5)
    stopping.step()  # claims both ticks; one runs, one waits for the worker
    eventually(lambda: holding.calls, "a run under way")
    stopping.request_stop(signal.SIGTERM)
    stopping.shutdown(grace=0.1)

    ledger = Ledger(shared)
    tick = T0 + timedelta(seconds=10)
    assert ledger.expired_claims(["a", "b"]) == [("a", tick), ("b", tick)]  # lease ended now
    other.step()
    assert other.wait_idle(timeout=30)
    other.shutdown(grace=5)
    for name in ("a", "b"):
        (claim,) = ledger.claims(name)
        assert claim["holder"] == other.holder and claim["outcome"] == "succeeded"
    assert counted(other, "ticks_taken_over", "a") + counted(other, "ticks_taken_over", "b") == 2
    runs = scheduled(shared)
    assert sorted((r["spec"], r["status"]) for r in runs) == [
        ("a", "succeeded"),
        ("b", "succeeded"),
    ]


def test_a_tick_abandoned_before_newer_ones_came_due_is_skipped_not_run(tmp_path, shared):
    """A restarted daemon finds a dead holder's claim three ticks old: the newer ticks
    supersede it (as `catch_up` decides for missed ticks), so it is settled as skipped,
    and the tick due now runs."""
    write_scheduled_spec(tmp_path / "specs", "items")  # every 10 seconds, catch_up none
    old = T0 + timedelta(seconds=10)
    ghost = Ledger(shared, clock=clocks.FakeClock(old))
    assert ghost.claim("items", old, "gone:1:x", "run-gone", LEASE).ours
    clock = clocks.FakeClock(old + timedelta(seconds=35))  # lease over, 3 ticks later
    (restarted,) = daemons(tmp_path, shared, clock, 1)
    clock.advance(5)  # the next tick, at +50 s, comes due
    restarted.step()
    assert restarted.wait_idle(timeout=30)
    restarted.shutdown(grace=5)

    claims = {c["tick"]: c for c in Ledger(shared).claims("items")}
    assert claims[old]["outcome"] == "skipped" and claims[old]["holder"] == restarted.holder
    runs = scheduled(shared)
    assert [(r["scheduled_at"], r["status"]) for r in runs] == [
        (T0 + timedelta(seconds=50), "succeeded")  # the daemon's first tick
    ]
    skipped = [e for e in Ledger(shared).audit_events(spec="items")
               if e["event"] == "run.tick_skipped"]  # fmt: skip
    assert len(skipped) == 1 and "newer tick" in skipped[0]["detail"]


def test_a_queued_tick_taken_over_meanwhile_is_not_run_again(tmp_path, shared):
    """A tick waits for the one worker while its daemon's lease runs out; another daemon
    takes it over and runs it. When the worker frees up, the first daemon finds its claim
    lost and does not run the tick a second time."""
    for name in ("a", "b"):  # no newer tick comes due while the lease runs out
        write_scheduled_spec(tmp_path / "specs", name, every="every 2 minutes")
    clock = clocks.FakeClock(T0 + timedelta(seconds=5))
    holding = Holding()
    (slow,) = daemons(tmp_path, shared, clock, 1, host="slow", run=holding, max_parallel=1)
    (other,) = daemons(tmp_path, shared, clock, 1, host="other")
    clock.advance(115)
    slow.step()  # claims both ticks: one runs (held), one waits for the worker
    eventually(lambda: holding.calls, "a run under way")
    clock.advance(LEASE.total_seconds() + 1)  # the waiting tick's lease is not renewed
    other.step()
    assert other.wait_idle(timeout=30)
    holding.release.set()
    assert slow.wait_idle(timeout=30)
    for daemon in (slow, other):
        daemon.shutdown(grace=5)

    assert len(holding.specs) == 1, holding.specs  # the queued tick was not run by `slow`
    (waited,) = {"a", "b"} - set(holding.specs)
    (claim,) = Ledger(shared).claims(waited)
    assert claim["holder"] == other.holder and claim["outcome"] == "succeeded"
    runs = scheduled(shared)
    assert len({(r["spec"], r["scheduled_at"]) for r in runs}) == len(runs)
