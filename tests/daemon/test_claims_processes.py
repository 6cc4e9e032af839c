"""Two real `exportctl daemon` processes on one PostgreSQL ledger: each tick of their specs
runs once, their /metrics add up, and when the host of one dies mid-run (the daemon and
its workers killed with SIGKILL) the other takes its tick over once the lease has passed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exportctl.ledger.store import Ledger
from tests.conftest import pg_url
from tests.support.daemon_specs import write_scheduled_spec
from tests.support.servers import free_port
from tests.support.waiting import eventually

LEASE = 5
#: Rows of the slow spec's table: a run of a second or two, to be killed in.
BIG = 300_000


def metrics(port: int) -> dict[tuple[str, str], float]:
    """The daemon's tick counters by (name, spec)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:  # noqa: S310
        text = answer.read().decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("exportctl_ticks_") and sample.name.endswith("_total"):
                found[(sample.name, sample.labels["spec"])] = sample.value
    return found


def ticks(seen: dict[tuple[str, str], float], name: str, spec: str = "fast") -> float:
    return seen.get((f"exportctl_ticks_{name}_total", spec), 0.0)


def start_daemon(tmp_path: Path, state: str, port: int, log: Any) -> subprocess.Popen[bytes]:
    """A daemon in a session of its own, so that its host's death is one killpg away."""
    command = [sys.executable, "-m", "exportctl", "daemon", "specs", "--state", state]
    command += ["--listen", f"127.0.0.1:{port}", "--max-parallel", "2", "--grace", "5"]
    return subprocess.Popen(
        [*command, "--lease", f"{LEASE}s"], cwd=tmp_path, stderr=log, start_new_session=True
    )


def slow_spec(folder: Path) -> None:
    spec = write_scheduled_spec(folder, "slow", every="every 2 seconds")
    with sqlite3.connect(folder.parent / "data.db") as conn:
        conn.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO big VALUES (?, 'a line of text')", ((i,) for i in range(BIG)))
    spec.write_text(
        spec.read_text()
        .replace("{table: items}", "{table: big}")
        .replace("url: ", "chunk_size: 500, url: ")
    )


Counters = list[dict[tuple[str, str], float]]


def quiet(ports: list[int], ledger: Ledger) -> tuple[Counters, int] | None:
    """Both daemons' counters and the ledger's runs of `fast`, taken when no run of it is
    in flight (the counters then add up to the runs); None at another moment."""
    seen = [metrics(port) for port in ports]
    runs = len(ledger.history("fast", limit=1000))
    return (seen, runs) if sum(ticks(s, "run") for s in seen) == runs else None


def since(
    before: tuple[Counters, int], after: tuple[Counters, int]
) -> tuple[list[float], list[float], int]:
    """Between two quiet moments: the ticks each daemon ran, those each saw claimed by
    the other, and the runs the ledger recorded."""
    pairs = list(zip(after[0], before[0], strict=True))
    ran = [ticks(a, "run") - ticks(b, "run") for a, b in pairs]
    saw = [ticks(a, "claimed_elsewhere") - ticks(b, "claimed_elsewhere") for a, b in pairs]
    return ran, saw, after[1] - before[1]


def listening(ports: list[int]) -> bool:
    try:
        return all(metrics(port) is not None for port in ports)
    except OSError:
        return False


@pytest.mark.postgres
def test_two_daemon_processes_share_the_ticks_and_one_takes_over_when_the_other_dies(
    tmp_path, pg_schema
):
    state = pg_url(pg_schema)
    write_scheduled_spec(tmp_path / "specs", "fast", every="every 2 seconds")
    slow_spec(tmp_path / "specs")
    ledger = Ledger(state)
    ports = [free_port(), free_port()]
    logs = [(tmp_path / f"daemon-{n}.log").open("w") for n in range(2)]
    daemons = [start_daemon(tmp_path, state, p, log) for p, log in zip(ports, logs, strict=True)]
    try:
        eventually(lambda: listening(ports), "both daemons listening", every=0.2, timeout=30)
        before = eventually(lambda: quiet(ports, ledger), "a quiet moment", every=0.05)

        def three_ticks_later() -> tuple[list[float], list[float], int] | None:
            """Once each tick since `before` was seen by both daemons (one's step can lag
            the other's run by a moment on a busy machine)."""
            after = quiet(ports, ledger)
            if not after:
                return None
            ran, saw, runs = since(before, after)
            both = [r + s for r, s in zip(ran, saw, strict=True)] == [runs, runs]
            return (ran, saw, runs) if runs >= 3 and both else None

        ran, saw, runs = eventually(three_ticks_later, "three ticks more", every=0.05)
        # Each tick of `fast` ran on one daemon and was seen claimed by the other.
        assert sum(ran) == runs and sum(saw) == runs

        # The host of the daemon running `slow` dies: the daemon and its workers at once.
        running = eventually(lambda: ledger.history("slow", status="running"), "a slow run")[0]
        (claim,) = [c for c in ledger.claims("slow") if c["run_id"] == running["id"]]
        (doomed,) = [p for p in daemons if f":{p.pid}:" in claim["holder"]]
        os.killpg(doomed.pid, signal.SIGKILL)
        killed_at = datetime.now(UTC)
        doomed.wait()
        (survivor,) = [p for p in daemons if p is not doomed]

        def taken_over() -> dict[str, Any] | None:
            (now,) = [c for c in ledger.claims("slow") if c["tick"] == claim["tick"]]
            return now if now["takeovers"] and now["finished_at"] else None

        taken = eventually(taken_over, "the takeover of the dead daemon's tick", timeout=30)
        # Newer ticks of `slow` (every 2 s) came due within the lease: the abandoned one is
        # settled as skipped, as a missed tick is, and the newer ones run.
        assert f":{survivor.pid}:" in taken["holder"] and taken["outcome"] == "skipped"
        assert ticks(metrics(ports[daemons.index(survivor)]), "taken_over", "slow") >= 1
        (took,) = [e for e in ledger.audit_events(spec="slow") if e["event"] == "claim.taken_over"]
        # Not before the lease had passed since the last renewal (a quarter of it before the
        # kill, unless the loop was late), and soon after.
        waited = (took["at"] - killed_at).total_seconds()
        assert LEASE * 0.4 <= waited <= LEASE + 8
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(timeout=30) == 143
    finally:
        for daemon in daemons:
            if daemon.poll() is None:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait()
        for log in logs:
            log.close()

    everything = ledger.history(limit=10_000)
    abandoned = [r for r in everything if (r["error"] or "").startswith("abandoned: ")]
    # The slow run, and any other the dead daemon had under way: each tick taken over.
    assert running["id"] in {r["id"] for r in abandoned}
    for run in abandoned:
        (then,) = [c for c in ledger.claims(run["spec"]) if c["tick"] == run["scheduled_at"]]
        assert f":{survivor.pid}:" in then["holder"] and then["takeovers"] == 1
    # No tick ran twice: per spec and tick, one run, besides the one its dead holder left.
    counts = Counter((r["spec"], r["scheduled_at"]) for r in everything if r not in abandoned)
    assert counts and max(counts.values()) == 1
    tick_runs = [r for r in everything if (r["spec"], r["scheduled_at"]) == ("slow", claim["tick"])]
    outcomes = {r["status"] for r in tick_runs}
    assert outcomes == {"interrupted"}
