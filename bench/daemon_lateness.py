"""How late the daemon starts scheduled runs: many specs on second-level schedules.

Runs the real `exportctl daemon` for a while on N small specs scheduled every few
seconds, stops it with SIGTERM, and reads each run's lateness (started_at minus
scheduled_at) from the ledger. The target (issue: SC-004) is every start within a
minute, 99% of the time; the aim here is p99 under one second.
Results go to docs/benchmarks.md. Reproduce with
`python bench/daemon_lateness.py --specs 50 --every 5 --minutes 3`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import write_section

SPEC = """\
version: 1
name: tick-{index:02d}
source: {{type: sql, url: "sqlite:///{db}"}}
query: {{table: proxies}}
format: csv
destination: "{out}/tick-{index:02d}-{{{{ run.id }}}}.csv"
schedule: every {every} seconds
retention: {{keep_last: 3}}
"""


def make_specs(folder: Path, count: int, every: int) -> Path:
    db = folder / "pool.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE proxies (host TEXT, port INTEGER, score REAL)")
        conn.executemany(
            "INSERT INTO proxies VALUES (?, ?, ?)",
            [(f"10.0.{i // 256}.{i % 256}", 1024 + i, i / 7) for i in range(200)],
        )
    specs = folder / "specs"
    specs.mkdir()
    for index in range(count):
        text = SPEC.format(index=index, db=db, out=folder / "out", every=every)
        (specs / f"tick-{index:02d}.yaml").write_text(text)
    return specs


def run_daemon(specs: Path, state: str, seconds: float, parallel: int) -> int:
    daemon = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exportctl",
            "daemon",
            str(specs),
            "--state",
            state,
            "--listen",
            "off",
            "--max-parallel",
            str(parallel),
        ],
        stderr=subprocess.DEVNULL,
    )
    time.sleep(seconds)
    daemon.send_signal(signal.SIGTERM)
    return daemon.wait(timeout=120)


def lateness(db: Path) -> tuple[list[float], dict[str, int], int]:
    """Seconds late of every scheduled run, runs by status, and ticks skipped."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT (julianday(started_at) - julianday(scheduled_at)) * 86400, status "
            "FROM runs WHERE scheduled_at IS NOT NULL"
        ).fetchall()
        skipped = conn.execute(
            "SELECT count(*) FROM audit WHERE event = 'run.tick_skipped'"
        ).fetchone()[0]
    statuses: dict[str, int] = {}
    for _, status in rows:
        statuses[status] = statuses.get(status, 0) + 1
    return sorted(max(late, 0.0) for late, _ in rows), statuses, skipped


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--specs", type=int, default=50)
    parser.add_argument("--every", type=int, default=5, help="seconds between a spec's runs")
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--max-parallel", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        specs = make_specs(folder, args.specs, args.every)
        db = folder / "state.db"
        code = run_daemon(specs, f"sqlite:///{db}", args.minutes * 60, args.max_parallel)
        late, statuses, skipped = lateness(db)
    if not late:
        raise SystemExit("the daemon recorded no scheduled run")
    command = (
        f"python bench/daemon_lateness.py --specs {args.specs} --every {args.every} "
        f"--minutes {args.minutes:g} --max-parallel {args.max_parallel}"
    )
    expected = args.specs * args.minutes * 60 / args.every
    text = "\n".join(
        [
            "## Daemon: start lateness",
            "",
            f"Produced by `{command}` on {dt.date.today()}, {platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}.",
            "",
            f"{args.specs} specs, each `every {args.every} seconds` (a 200-row CSV export with "
            f"`retention: {{keep_last: 3}}`), run by one `exportctl daemon` with "
            f"`--max-parallel {args.max_parallel}` for {args.minutes:g} minutes, then SIGTERM "
            f"(exit {code}). Lateness is each run's `started_at - scheduled_at` in the ledger.",
            "",
            "| runs | expected ticks | skipped ticks | p50 s | p90 s | p99 s | max s |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {len(late):,} | {expected:,.0f} | {skipped:,} | {statistics.median(late):.3f} | "
            f"{percentile(late, 0.90):.3f} | {percentile(late, 0.99):.3f} | {late[-1]:.3f} |",
            "",
            "Runs by status: " + ", ".join(f"{k} {v:,}" for k, v in sorted(statuses.items())) + ".",
            "Target: p99 under 1 s (SC-004 asks for 1 minute, 99% of the time).",
        ]
    )
    write_section("daemon", text)
    print(text)


if __name__ == "__main__":
    main()
