"""Benchmarks: exportctl against DuckDB's COPY on the demo pool, at two sizes.

Each tool runs in its own process; wall time and peak RSS come from wait4().
This process imports nothing heavy, since a child's peak RSS starts from its
parent's size at fork.
Results go to docs/benchmarks.md. Reproduce with `make bench` (or
`python bench/run.py --sizes 200000 1000000`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from report import REPORT, write_section

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / ".data"
EXPORTCTL = [sys.executable, "-m", "exportctl"]
TABLE = "proxy_identities"
CASES = [("csv", "gzip", ".csv.gz"), ("jsonl", "zstd", ".jsonl.zst")]

SPEC = """\
version: 1
name: bench-{fmt}
source: {{type: sql, url: "sqlite:///{db}"}}
query: {{table: {table}}}
format: {fmt}
destination: "{out}"
"""


@dataclass(frozen=True)
class Measure:
    tool: str
    rows: int
    case: str
    seconds: float
    peak_mb: float
    out_mb: float
    #: (rows exported so far, peak RSS so far) while it ran
    trace: tuple[tuple[int, float], ...] = ()

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def timed(
    command: list[str], env: dict[str, str] | None = None, watch: Path | None = None
) -> tuple[float, float, list[tuple[int, float]]]:
    """Wall seconds and peak RSS (MiB) of one child process.

    With `watch` (a ledger), also (rows exported so far, peak RSS so far) every 0.2 s,
    read from the run's progress in the ledger and the process's VmHWM.
    """
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env)
    trace = []
    while True:
        # wait4 rather than poll(): it reaps the child and keeps its rusage.
        done, status, usage = os.wait4(process.pid, os.WNOHANG if watch else 0)
        if done:
            break
        assert watch is not None
        trace.append((_rows_so_far(watch), _peak_so_far(process.pid)))
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {command}")
    return seconds, usage.ru_maxrss / 1024, trace


def _rows_so_far(ledger: Path) -> int:
    try:
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=1) as db:
            row = db.execute("SELECT rows FROM runs WHERE status = 'running'").fetchone()
    except sqlite3.Error:
        return 0
    return row[0] if row else 0


def _peak_so_far(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    kib = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")), 0)
    return int(kib) / 1024


def demo(rows: int) -> Path:
    folder = DATA / f"demo-{rows}"
    if not (folder / "system.db").exists():
        subprocess.run(
            [
                *EXPORTCTL,
                "demo",
                "init",
                str(folder),
                "--proxies",
                str(rows),
                "--metrics",
                "10",
                "--log-lines",
                "10",
                "--force",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return folder


def duckdb_copy_of(folder: Path) -> Path:
    """The same table in DuckDB's own storage (loaded untimed), for COPY to read."""
    target = folder / "pool.duckdb"
    if not target.exists():
        script = textwrap.dedent(f"""
            import sqlite3, duckdb, pandas as pd
            connection = duckdb.connect({str(target)!r})
            source = sqlite3.connect({str(folder / "system.db")!r})
            query = "SELECT * FROM {TABLE}"
            for index, chunk in enumerate(pd.read_sql(query, source, chunksize=100_000)):
                verb = "CREATE TABLE pool AS" if index == 0 else "INSERT INTO pool"
                connection.execute(verb + " SELECT * FROM chunk")
        """)
        subprocess.run([sys.executable, "-c", script], check=True)
    return target


def run_exportctl(
    folder: Path, rows: int, fmt: str, codec: str, suffix: str, traced: bool = False
) -> Measure:
    """One timed run; `traced` also samples memory as rows go (apart, as sampling costs)."""
    out = folder / "out" / f"exportctl{suffix}"
    spec = folder / f"bench-{fmt}.yaml"
    spec.write_text(SPEC.format(fmt=fmt, db=folder / "system.db", table=TABLE, out=out))
    ledger = folder / "out" / f"ledger-{fmt}.db"
    ledger.unlink(missing_ok=True)
    env = {**os.environ, "EXPORTCTL_STATE": f"sqlite:///{ledger}"}
    command = [*EXPORTCTL, "apply", str(spec), "--json"]
    seconds, peak, trace = timed(command, env, ledger if traced else None)
    size = out.stat().st_size / 2**20
    return Measure("exportctl", rows, f"{fmt}+{codec}", seconds, peak, size, tuple(trace))


def run_duckdb(folder: Path, rows: int, fmt: str, codec: str, suffix: str) -> Measure:
    out = folder / "out" / f"duckdb{suffix}"
    options = "FORMAT csv, HEADER" if fmt == "csv" else "FORMAT json"
    script = textwrap.dedent(f"""
        import duckdb
        duckdb.connect({str(duckdb_copy_of(folder))!r}, read_only=True).execute(
            "COPY pool TO '{out}' ({options}, COMPRESSION {codec})")
    """)
    seconds, peak, _ = timed([sys.executable, "-c", script])
    return Measure("duckdb COPY", rows, f"{fmt}+{codec}", seconds, peak, out.stat().st_size / 2**20)


def report(measures: list[Measure], sizes: list[int], traces: list[Measure]) -> str:
    lines = [
        "## Exports against DuckDB's COPY",
        "",
        f"Produced by `python bench/run.py --sizes {' '.join(map(str, sizes))}` "
        f"on {dt.date.today()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, DuckDB {version('duckdb')}.",
        "",
        "The job: export the demo pool's `proxy_identities` table (19 columns: text with",
        "quotes, newlines and unicode, integers, floats, booleans, timestamps, NULLs) to a",
        "compressed file. exportctl reads the SQLite database through SQLAlchemy in chunks;",
        "DuckDB's COPY reads the same rows from its own columnar storage (loaded beforehand,",
        "untimed: DuckDB's SQLite reader is a download this machine cannot make), so the",
        "reference does strictly less work. Each tool runs in its own process; time is wall",
        "time, memory is the process's peak RSS.",
        "",
        "| rows | format | tool | seconds | rows/s | peak RSS MiB | output MiB | time vs DuckDB |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    reference = {(m.rows, m.case): m for m in measures if m.tool == "duckdb COPY"}
    for m in measures:
        ratio = m.seconds / reference[(m.rows, m.case)].seconds
        lines.append(
            f"| {m.rows:,} | {m.case} | {m.tool} | {m.seconds:.1f} | {m.rows_per_s:,.0f} | "
            f"{m.peak_mb:.0f} | {m.out_mb:.1f} | {ratio:.2f}× |"
        )
    lines += ["", "### Memory against row count", ""]
    small, large = min(sizes), max(sizes)
    for tool in ("exportctl", "duckdb COPY"):
        for case in sorted({m.case for m in measures}):
            peak = {m.rows: m.peak_mb for m in measures if m.tool == tool and m.case == case}
            lines.append(
                f"- {tool} {case}: peak RSS {peak[small]:.0f} MiB at {small:,} rows, "
                f"{peak[large]:.0f} MiB at {large:,} rows ({peak[large] / peak[small]:.2f}×)."
            )
    lines += _traces(traces, large)
    return "\n".join(lines) + "\n"


def _traces(measures: list[Measure], rows: int) -> list[str]:
    """Peak RSS as the largest export goes: flat once the first chunks are through."""
    lines = [
        "",
        f"Peak RSS so far as the {rows:,}-row exports progress (MiB), from a separate run",
        "that samples the process's VmHWM and the rows it has reported to the ledger:",
        "",
    ]
    marks = [rows * k // 10 for k in range(1, 11)]
    lines.append("| case | " + " | ".join(f"{m // 1000:,}k" for m in marks) + " |")
    lines.append("| --- |" + " ---: |" * len(marks))
    for m in measures:
        peaks = [max((p for r, p in m.trace if r <= mark), default=0.0) for mark in marks]
        lines.append(f"| {m.case} | " + " | ".join(f"{p:.0f}" for p in peaks) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 1_000_000])
    args = parser.parse_args()
    measures = []
    for rows in args.sizes:
        folder = demo(rows)
        (folder / "out").mkdir(exist_ok=True)
        for fmt, codec, suffix in CASES:
            for run in (run_duckdb, run_exportctl):
                measure = run(folder, rows, fmt, codec, suffix)
                print(measure.tool, measure.rows, measure.case, measure.seconds, flush=True)
                measures.append(measure)
    largest = demo(max(args.sizes))
    traces = [run_exportctl(largest, max(args.sizes), *case, traced=True) for case in CASES]
    write_section("exports", report(measures, args.sizes, traces))
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
