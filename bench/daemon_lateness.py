"""How late the daemon starts scheduled runs: many specs on second-level schedules.

Runs the real `exportctl daemon` for a while on N small specs scheduled every few
seconds, stops it with SIGTERM, and reads each run's lateness (started_at minus
scheduled_at) from the ledger. The target (issue: SC-004) is every start within a
minute, 99% of the time; the aim here is p99 under one second.

It does so once per `--history`: a ledger that already holds that many past runs (as
one would after months of scheduling), so that lateness that grows with the ledger
shows. Results go to docs/benchmarks.md. Reproduce with
`python bench/daemon_lateness.py --specs 50 --every 5 --minutes 3 --history 0 500000`.
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
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from report import write_section

from exportctl.ledger import schema as tables
from exportctl.ledger.store import Ledger

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


def add_history(ledger: Ledger, specs: int, runs: int) -> None:
    """`runs` past runs spread over the specs, as months of a daemon leave them: one in 50
    failed, the others with their file and manifest deleted by retention, and three audit
    events each. They carry no tick, so that the daemon has no missed one to catch up."""
    then = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    who = {"user": "bench", "host": "host"}
    for first in range(0, runs, 50_000):  # in batches, to keep the bench's memory flat
        rows, files, events = [], [], []
        for n in range(first, min(runs, first + 50_000)):
            at = then + dt.timedelta(seconds=n)
            run = {"id": f"past-{n:09d}", "spec": f"tick-{n % specs:02d}"}
            data = f"/gone/{run['id']}.csv"
            status = "failed" if n % 50 == 0 else "succeeded"
            rows.append(
                run
                | who
                | {"spec_sha256": "", "trigger": "schedule", "pid": 1, "attempt": 1}
                | {"started_at": at, "heartbeat_at": at, "finished_at": at, "status": status}
                | {"destination": data, "rows": 200, "bytes": 8000}
            )
            if status == "succeeded":
                for uri, role in ((data, "data"), (f"{data}.manifest.json", "manifest")):
                    stored = {"uri": uri, "role": role, "bytes": 8000, "sha256": ""}
                    files.append(
                        {"run_id": run["id"], "spec": run["spec"], "deleted_at": at} | stored
                    )
            for event in ("run.started", "run.committed", "retention.deleted"):
                events.append(
                    {"at": at, "event": event, "spec": run["spec"], "run_id": run["id"]}
                    | who
                    | {"detail": "{}"}
                )
        with ledger.engine.begin() as conn:
            conn.execute(tables.runs.insert(), rows)
            conn.execute(tables.run_files.insert(), files)
            conn.execute(tables.audit.insert(), events)


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


@dataclass
class Outcome:
    history: int
    code: int
    #: (minutes since the first run, seconds late) of every run of this daemon, in start order.
    late: list[tuple[float, float]]
    statuses: dict[str, int]
    skipped: int


def lateness(
    ledger: Ledger, since: dt.datetime
) -> tuple[list[tuple[float, float]], dict[str, int], int]:
    """Each scheduled run's start and lateness, runs by status, and ticks skipped, since `since`."""
    runs, audit = tables.runs, tables.audit
    scheduled = (
        sa.select(runs.c.started_at, runs.c.scheduled_at, runs.c.status)
        .where(runs.c.scheduled_at.is_not(None), runs.c.started_at >= since)
        .order_by(runs.c.started_at)
    )
    skips = sa.select(sa.func.count()).where(
        audit.c.event == "run.tick_skipped", audit.c.at >= since
    )
    with ledger.engine.connect() as conn:
        rows = conn.execute(scheduled).all()
        skipped = conn.execute(skips).scalar_one()
    statuses: dict[str, int] = {}
    for *_, status in rows:
        statuses[status] = statuses.get(status, 0) + 1
    first = rows[0][0] if rows else since
    late = [
        ((started - first).total_seconds() / 60, max((started - tick).total_seconds(), 0.0))
        for started, tick, _ in rows
    ]
    return late, statuses, skipped


@contextmanager
def fresh_ledger(folder: Path, postgres: str | None) -> Iterator[str]:
    """The URL of an empty ledger: a SQLite file in `folder`, or a new schema in `postgres`
    (dropped afterwards)."""
    if postgres is None:
        yield f"sqlite:///{folder / 'state.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    server = sa.create_engine(postgres)
    with server.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            sa.engine.make_url(postgres)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with server.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        server.dispose()


def run_once(args: argparse.Namespace, history: int) -> Outcome:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        specs = make_specs(folder, args.specs, args.every)
        with fresh_ledger(folder, args.postgres) as state:
            ledger = Ledger(state)
            add_history(ledger, args.specs, history)
            since = dt.datetime.now(dt.UTC)
            code = run_daemon(specs, state, args.minutes * 60, args.max_parallel)
            late, statuses, skipped = lateness(ledger, since)
            ledger.close()
    if not late:
        raise SystemExit("the daemon recorded no scheduled run")
    return Outcome(history, code, late, statuses, skipped)


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))]


def row(outcome: Outcome, expected: float) -> str:
    late = sorted(seconds for _, seconds in outcome.late)
    first = sorted(seconds for minute, seconds in outcome.late if minute < 1)
    last_minute = outcome.late[-1][0] - 1
    last = sorted(seconds for minute, seconds in outcome.late if minute >= last_minute)
    cells = [
        f"{outcome.history:,}",
        f"{len(late):,}",
        f"{expected:,.0f}",
        f"{outcome.skipped:,}",
        *(f"{v:.3f}" for v in (statistics.median(late), percentile(late, 0.90))),
        *(f"{v:.3f}" for v in (percentile(late, 0.99), late[-1])),
        *(f"{percentile(v, 0.99):.3f}" for v in (first, last)),
        ", ".join(f"{k} {v:,}" for k, v in sorted(outcome.statuses.items())),
    ]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--specs", type=int, default=50)
    parser.add_argument("--every", type=int, default=5, help="seconds between a spec's runs")
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--max-parallel", type=int, default=4)
    parser.add_argument(
        "--history",
        type=int,
        nargs="+",
        default=[0, 500_000],
        help="past runs in the ledger before the daemon starts; one daemon run for each",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="keep the ledger in a fresh schema of this PostgreSQL database, not in SQLite",
    )
    args = parser.parse_args()
    outcomes = [run_once(args, history) for history in args.history]
    command = (
        f"python bench/daemon_lateness.py --specs {args.specs} --every {args.every} "
        f"--minutes {args.minutes:g} --max-parallel {args.max_parallel} "
        f"--history {' '.join(str(h) for h in args.history)}"
        + (" --postgres URL" if args.postgres else "")
    )
    expected = args.specs * args.minutes * 60 / args.every
    ledger_kind = "PostgreSQL" if args.postgres else "SQLite"
    codes = ", ".join(sorted({str(o.code) for o in outcomes}))
    text = "\n".join(
        [
            f"## Daemon: start lateness, {ledger_kind} ledger",
            "",
            f"Produced by `{command}` on {dt.date.today()}, {platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}.",
            "",
            f"{args.specs} specs, each `every {args.every} seconds` (a 200-row CSV export with "
            f"`retention: {{keep_last: 3}}`), run by one `exportctl daemon` with "
            f"`--max-parallel {args.max_parallel}` for {args.minutes:g} minutes, then SIGTERM "
            f"(exit {codes}); once per number of past runs already in its {ledger_kind} ledger (as "
            "months of scheduling leave them: files deleted by retention, audit events). "
            "Lateness is each run's `started_at - scheduled_at` in the ledger; the last two "
            "columns are the p99 of the first and of the last minute.",
            "",
            "| past runs | runs | expected ticks | skipped ticks | p50 s | p90 s | p99 s | max s "
            "| p99 first min s | p99 last min s | runs by status |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
            *(row(o, expected) for o in outcomes),
            "",
            "Target: p99 under 1 s (SC-004 asks for 1 minute, 99% of the time).",
        ]
    )
    write_section("daemon-postgres" if args.postgres else "daemon", text)
    print(text)


if __name__ == "__main__":
    main()
