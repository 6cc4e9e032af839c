"""Change mode at scale: a run over a million rows with 1% changed, against a full export.

Builds a SQLite table of N proxies (10 columns: text, integers, floats, timestamps, NULLs),
then times, each in its own `exportctl apply` process (wall time, peak RSS from wait4):
a full export of the table; the change mode's first run (every row an insert, and the
snapshot written); then, after changing 1% of the rows (half updated, a quarter deleted,
a quarter inserted), the change mode's second run. Results go to docs/benchmarks.md.
Reproduce with `python bench/changes.py --rows 1000000 --changed 0.01`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from report import write_section

SPEC = """\
version: 1
name: {name}
source: {{type: sql, url: "sqlite:///{db}"}}
query: {{table: proxies}}
{incremental}
format: parquet
destination: "{out}/{name}-{{{{ run.id }}}}.parquet"
"""


def build(db: Path, rows: int, rng: random.Random) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE proxies (url TEXT PRIMARY KEY, host TEXT, port INTEGER,"
            " protocol TEXT, country TEXT, score REAL, failures INTEGER,"
            " last_checked TIMESTAMP, healthy INTEGER, notes TEXT)"
        )
        conn.executemany(
            "INSERT INTO proxies VALUES (?,?,?,?,?,?,?,?,?,?)", (row(i, rng) for i in range(rows))
        )


def row(i: int, rng: random.Random) -> tuple[object, ...]:
    host = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
    port = 1024 + i % 50_000
    protocol = rng.choice(["http", "https", "socks5"])
    checked = dt.datetime(2026, 11, 1) + dt.timedelta(seconds=rng.randrange(2_592_000))
    notes = None if rng.random() < 0.7 else f"note {rng.random():.6f} ü"
    return (
        f"{protocol}://{host}:{port}/{i}",
        host,
        port,
        protocol,
        rng.choice(["US", "DE", "NL", "BR", "JP"]),
        rng.random(),
        rng.randrange(10),
        checked.isoformat(sep=" "),
        rng.random() < 0.8,
        notes,
    )


def change(db: Path, rows: int, share: float, rng: random.Random) -> dict[str, int]:
    """Update half of `share` of the rows, delete a quarter, insert a quarter."""
    count = int(rows * share)
    picked = rng.sample(range(rows), count * 3 // 4)
    updated, deleted = picked[: count // 2], picked[count // 2 :]
    with sqlite3.connect(db) as conn:
        urls = {i: u for i, u in conn.execute("SELECT rowid - 1, url FROM proxies")}
        conn.executemany(
            "UPDATE proxies SET failures = failures + 1, score = ? WHERE url = ?",
            [(rng.random(), urls[i]) for i in updated],
        )
        conn.executemany("DELETE FROM proxies WHERE url = ?", [(urls[i],) for i in deleted])
        fresh = (row(rows + i, rng) for i in range(count - len(picked)))
        conn.executemany("INSERT INTO proxies VALUES (?,?,?,?,?,?,?,?,?,?)", fresh)
    return {"updated": len(updated), "deleted": len(deleted), "inserted": count - len(picked)}


@dataclass
class Run:
    label: str
    seconds: float
    peak_mib: float
    rows: int
    output_mib: float


def apply(label: str, spec: Path, state: str, out: Path) -> Run:
    """One `exportctl apply` in its own process; its wall time and peak RSS (wait4)."""
    before = set(out.glob("*.parquet")) if out.exists() else set()
    started = time.perf_counter()
    argv = [sys.executable, "-m", "exportctl", "apply", str(spec), "--state", state]
    pid = os.spawnv(os.P_NOWAIT, sys.executable, argv)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    assert os.waitstatus_to_exitcode(status) == 0, f"{label}: exit {status}"
    (written,) = set(out.glob("*.parquet")) - before
    rows = pq.ParquetFile(written).metadata.num_rows
    return Run(label, seconds, usage.ru_maxrss / 1024, rows, written.stat().st_size / 2**20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-changes-") as folder:
        root = Path(folder)
        db, out, state = root / "pool.db", root / "out", f"sqlite:///{root / 'state.db'}"
        build(db, args.rows, rng)
        specs = {}
        for name, incremental in (
            ("full", ""),
            ("changes", "incremental: {mode: changes, key: [url]}"),
        ):
            specs[name] = root / f"{name}.yaml"
            specs[name].write_text(SPEC.format(name=name, db=db, out=out, incremental=incremental))
        runs = [
            apply("full export", specs["full"], state, out),
            apply("change mode, first run (every row an insert)", specs["changes"], state, out),
        ]
        changed = change(db, args.rows, args.changed, rng)
        runs.append(apply(f"change mode, {args.changed:.0%} changed", specs["changes"], state, out))
        snapshot = next((root / "snapshots").rglob("*.parquet")).stat().st_size / 2**20
    report(args, runs, changed, snapshot)


def report(
    args: argparse.Namespace, runs: list[Run], changed: dict[str, int], snapshot: float
) -> None:
    full = runs[0].seconds
    lines = [
        "## Change mode: 1% of a million rows changed, against a full export",
        "",
        f"Produced by `python bench/changes.py --rows {args.rows} --changed {args.changed}` on "
        f"{dt.date.today()}, {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}.",
        "",
        f"A SQLite table of {args.rows:,} proxies (10 columns: text, integers, floats, timestamps, "
        f"NULLs), exported to Parquet by `exportctl apply`, each run in its own process (wall "
        f"time; peak RSS from wait4). Between the change mode's two runs: {changed['updated']:,} "
        f"rows updated, {changed['deleted']:,} deleted, {changed['inserted']:,} inserted. The "
        f"snapshot (keys and 16-byte row hashes, Parquet) is {snapshot:.1f} MiB.",
        "",
        "| run | rows written | seconds | vs full export | peak RSS MiB | output MiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        lines.append(
            f"| {run.label} | {run.rows:,} | {run.seconds:.1f} | {run.seconds / full:.2f}× "
            f"| {run.peak_mib:.0f} | {run.output_mib:.1f} |"
        )
    text = "\n".join(lines)
    print(text)
    write_section("changes", text)


if __name__ == "__main__":
    main()
