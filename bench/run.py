"""Benchmarks: exportctl against DuckDB's COPY, Sling and dlt on the demo system at scale.

One command (`make bench`, or `python bench/run.py`) generates the demo system
(1M proxies, 5M metric samples, 1M log lines by default; smaller with the options)
and times, in the same run, the same exports by each tool:

- the 1M proxies to CSV, CSV.gz, JSONL, JSONL.gz and Parquet;
- one week of metric samples (the demo's span is 30 days) to CSV and CSV.gz, and all
  of them to CSV.gz, to show memory does not grow with rows;
- the log lines at WARNING and above to JSONL.gz;
- the proxies' CSV compressed by each codec, level and gzip writer.

Each tool runs in its own process; wall time and peak RSS come from wait4(). This
process imports nothing heavy, since a child's peak RSS starts from its parent's size.
Results go to docs/benchmarks.md (section `exports`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from report import REPORT, write_section

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / ".data"
PYTHON = sys.executable
EXPORTCTL = [PYTHON, "-m", "exportctl"]
#: The demo's samples end here and span 30 days before it (exportctl/demo/times.py).
END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
TOOLS = ("exportctl", "duckdb", "sling", "dlt")


@dataclass(frozen=True)
class Case:
    """One export every tool is asked to do."""

    name: str
    table: str  # proxies, metrics or logs
    fmt: str  # csv, jsonl or parquet
    suffix: str  # the output's extension
    #: The other tools that run it (exportctl always does).
    tools: tuple[str, ...] = ("duckdb",)

    @property
    def gzip(self) -> bool:
        return self.suffix.endswith(".gz")


CASES = [
    Case("proxies csv", "proxies", "csv", ".csv", ("duckdb", "sling")),
    Case("proxies csv.gz", "proxies", "csv", ".csv.gz", ("duckdb", "sling", "dlt")),
    Case("proxies jsonl", "proxies", "jsonl", ".jsonl", ("duckdb",)),
    Case("proxies jsonl.gz", "proxies", "jsonl", ".jsonl.gz", ("duckdb", "sling", "dlt")),
    Case("proxies parquet", "proxies", "parquet", ".parquet", ("duckdb", "sling", "dlt")),
    Case("metrics week csv", "metrics_week", "csv", ".csv", ("duckdb",)),
    Case("metrics week csv.gz", "metrics_week", "csv", ".csv.gz", ("duckdb", "sling")),
    Case("metrics all csv.gz", "metrics", "csv", ".csv.gz", ("duckdb",)),
    Case("logs WARNING+ jsonl.gz", "logs", "jsonl", ".jsonl.gz", ("duckdb",)),
]


@dataclass
class Measure:
    tool: str
    case: Case
    rows: int
    seconds: float
    peak_mb: float
    out_bytes: int
    #: The output: a file, or the folder a tool wrote its files in (dlt).
    path: Path
    #: Bytes of the same rows uncompressed (the output itself when it is not compressed).
    raw_bytes: int | None = None
    note: str = ""

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


@dataclass
class Setup:
    folder: Path
    week: tuple[str, str]
    rows: dict[str, int] = field(default_factory=dict)


# --- running and timing one child ----------------------------------------------------


def run_child(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) of that process alone, and its standard output."""
    out_file = DATA / ".stdout"
    err_file = DATA / ".stderr"
    with out_file.open("w") as out, err_file.open("w") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        # wait4 rather than wait(): it reaps the child and keeps its own rusage.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        # The last lines, without terminal colours (Sling's): why it failed.
        text = re.sub(r"\x1b\[[0-9;]*m", "", err_file.read_text()).strip()
        tail = " ".join(text.splitlines()[-2:])[-300:]
        raise RuntimeError(f"{' '.join(command[:4])} failed ({process.returncode}): {tail}")
    return seconds, usage.ru_maxrss / 1024, out_file.read_text()


def python(script: str) -> list[str]:
    return [PYTHON, "-c", textwrap.dedent(script)]


# --- the demo and the tools' copies of it --------------------------------------------


def demo(proxies: int, metrics: int, lines: int) -> Path:
    folder = DATA / f"demo-{proxies}-{metrics}-{lines}"
    if not (folder / "warehouse.db").exists():  # older demos kept metrics in system.db
        print(f"generating the demo in {folder} ...", flush=True)
        command = [*EXPORTCTL, "demo", "init", str(folder), "--proxies", str(proxies)]
        command += ["--metrics", str(metrics), "--log-lines", str(lines), "--force"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    (folder / "out").mkdir(exist_ok=True)
    return folder


def duckdb_copy_of(folder: Path) -> Path:
    """The proxies and metric samples in DuckDB's own storage, loaded untimed, typed as the
    SQLite tables declare them (DuckDB's own SQLite reader is a download this machine
    cannot make; see `duckdb_sqlite_extension`)."""
    target = folder / "system.duckdb"
    if target.exists():
        return target
    script = f"""
        import duckdb, sqlite3, adbc_driver_sqlite.dbapi as adbc
        target = duckdb.connect({str(target) + ".tmp"!r})
        for file, table, name in (("system.db", "proxy_identities", "proxies"),
                                  ("warehouse.db", "metric_samples", "metrics")):
            source = {str(folder)!r} + "/" + file
            declared = sqlite3.connect(source)
            casts = []
            for _, column, kind, *_ in declared.execute(f"PRAGMA table_info({{table}})"):
                sql_type = {{"DATETIME": "TIMESTAMP", "BOOLEAN": "BOOLEAN"}}.get(kind.upper())
                cast = f"CAST({{column}} AS {{sql_type}}) AS {{column}}"
                casts.append(cast if sql_type else column)
            with adbc.connect(source) as db, db.cursor() as cursor:
                cursor.adbc_statement.set_options(**{{"adbc.sqlite.query.batch_rows": "100000"}})
                cursor.execute(f"SELECT * FROM {{table}}")
                batches = cursor.fetch_record_batch()
                target.execute(f"CREATE TABLE {{name}} AS SELECT {{', '.join(casts)}} FROM batches")
        target.close()
    """
    subprocess.run(python(script), check=True)
    Path(str(target) + ".tmp").rename(target)
    return target


def duckdb_sqlite_extension() -> str:
    """Whether DuckDB can read SQLite itself here (its extension is a download)."""
    script = """
        import duckdb
        try:
            duckdb.sql("INSTALL sqlite")
            print("installed")
        except Exception as exc:
            print(f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    """
    try:
        result = subprocess.run(python(script), capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "INSTALL sqlite timed out after 60 s"
    return result.stdout.strip() or result.stderr.strip()[-200:]


def setup(args: argparse.Namespace) -> Setup:
    folder = demo(args.proxies, args.metrics, args.log_lines)
    start = END - dt.timedelta(days=args.days)
    week = (start.strftime("%Y-%m-%d %H:%M:%S"), END.strftime("%Y-%m-%d %H:%M:%S"))
    found = Setup(folder, week)
    with sqlite3.connect(folder / "system.db") as db:
        found.rows["proxies"] = db.execute("SELECT count(*) FROM proxy_identities").fetchone()[0]
    # metric_samples is the demo's warehouse table, not proxywhirl's: warehouse.db.
    with sqlite3.connect(folder / "warehouse.db") as db:
        found.rows["metrics"] = db.execute("SELECT count(*) FROM metric_samples").fetchone()[0]
        found.rows["metrics_week"] = db.execute(
            "SELECT count(*) FROM metric_samples WHERE timestamp >= ? AND timestamp < ?",
            (f"{week[0]}.000000", f"{week[1]}.000000"),
        ).fetchone()[0]
    return found


# --- the tools -----------------------------------------------------------------------

SOURCES = {
    # `keep`: the credentials as stored, as the other tools' `SELECT *` writes them.
    "proxies": 'source: {{type: sql, url: "sqlite:///{folder}/system.db"}}\n'
    "query: {{table: proxy_identities}}\ncredentials: keep\n",
    "metrics": 'source: {{type: sql, url: "sqlite:///{folder}/warehouse.db"}}\n'
    "query: {{table: metric_samples}}\n",
    "metrics_week": 'source: {{type: sql, url: "sqlite:///{folder}/warehouse.db"}}\n'
    "query:\n  table: metric_samples\n  where:\n"
    '    - {{field: timestamp, ge: "{start}"}}\n    - {{field: timestamp, lt: "{end}"}}\n',
    "logs": 'source: {{type: logs, path: "{folder}/logs/proxywhirl*", min_level: WARNING}}\n',
}


def out_path(setup: Setup, tool: str, case: Case) -> Path:
    path = setup.folder / "out" / f"{tool}-{case.name.replace(' ', '_')}{case.suffix}"
    if path.is_dir():
        shutil.rmtree(path)
    path.unlink(missing_ok=True)
    return path


def run_exportctl(setup: Setup, case: Case) -> Measure:
    out = out_path(setup, "exportctl", case)
    source = SOURCES[case.table].format(
        folder=setup.folder, start=setup.week[0] + "Z", end=setup.week[1] + "Z"
    )
    spec = setup.folder / "out" / "bench.yaml"
    name = re.sub(r"[^a-z0-9]+", "-", case.name.lower()).strip("-")
    spec.write_text(
        f"version: 1\nname: bench-{name}\n{source}format: {case.fmt}\ndestination: {str(out)!r}\n"
    )
    ledger = setup.folder / "out" / "ledger.db"
    ledger.unlink(missing_ok=True)
    env = {**os.environ, "EXPORTCTL_STATE": f"sqlite:///{ledger}"}
    seconds, peak, stdout = run_child([*EXPORTCTL, "apply", str(spec), "--json"], env)
    result = json.loads(stdout)
    result = result[0] if isinstance(result, list) else result
    if result.get("status") != "succeeded":
        raise RuntimeError(f"exportctl {case.name}: {result.get('error')}")
    return Measure("exportctl", case, int(result["rows"]), seconds, peak, out.stat().st_size, out)


def duckdb_query(setup: Setup, case: Case) -> str:
    if case.table == "proxies":
        return "SELECT * FROM proxies"
    if case.table == "metrics":
        return "SELECT * FROM metrics"
    if case.table == "metrics_week":
        start, end = setup.week
        return f"SELECT * FROM metrics WHERE timestamp >= '{start}' AND timestamp < '{end}'"
    # The same fields the logs source gives, from the same loguru files.
    files = setup.folder / "logs" / "proxywhirl*"
    return (
        "SELECT record.time.timestamp AS timestamp, record.level.name AS level, "
        "record.message AS message, record.name AS logger, record.module AS module, "
        "record.function AS function, record.line AS line, record.process.id AS process, "
        "record.thread.id AS thread, record.exception AS exception, "
        "record.extra.component AS component, record.extra.request_id AS request_id, "
        "record.extra AS extra, record.file.path AS file "
        f"FROM read_json('{files}', format = 'newline_delimited', sample_size = -1) "
        "WHERE record.level.no >= 30"
    )


def run_duckdb(setup: Setup, case: Case) -> Measure:
    out = out_path(setup, "duckdb", case)
    options = {"csv": "FORMAT csv, HEADER", "jsonl": "FORMAT json", "parquet": "FORMAT parquet"}
    copy = f"COPY ({duckdb_query(setup, case)}) TO '{out}' ({options[case.fmt]}"
    copy += ", COMPRESSION gzip)" if case.gzip else ")"
    database = duckdb_copy_of(setup.folder) if case.table != "logs" else None
    where = str(database) if database else ":memory:"
    script = f"""
        import duckdb
        connection = duckdb.connect({where!r}, read_only={database is not None})
        connection.execute({copy!r})
    """
    seconds, peak, _ = run_child(python(script))
    rows = setup.rows.get(case.table, 0)
    return Measure("duckdb COPY", case, rows, seconds, peak, out.stat().st_size, out)


def sling_binary() -> str | None:
    try:
        import sling_linux_amd64  # noqa: F401 - only where the package is installed

        folder = Path(sling_linux_amd64.__file__).parent / "bin"
        found = next(iter(folder.glob("sling*")), None)
        return str(found) if found else None
    except ImportError:
        return shutil.which("sling")


def run_sling(setup: Setup, case: Case) -> Measure:
    binary = sling_binary()
    if binary is None:
        raise RuntimeError("the Sling binary is not installed (pip install '.[bench]')")
    out = out_path(setup, "sling", case)
    stream = {
        "proxies": "main.proxy_identities",
        "metrics_week": "SELECT * FROM metric_samples WHERE timestamp >= '{}' AND timestamp < '{}'",
    }[case.table].format(*setup.week)
    target = {"format": {"csv": "csv", "jsonl": "jsonlines", "parquet": "parquet"}[case.fmt]}
    if case.gzip:
        target["compression"] = "gzip"
    home = setup.folder / "out" / "sling-home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "SLING_HOME_DIR": str(home), "SLING_DISABLE_TELEMETRY": "true"}
    database = "system.db" if case.table == "proxies" else "warehouse.db"
    env["BENCH_SQLITE"] = f"sqlite://{setup.folder / database}"
    command = [binary, "run", "--src-conn", "BENCH_SQLITE", "--src-stream", stream]
    command += ["--tgt-object", f"file://{out}", "--tgt-options", json.dumps(target)]
    seconds, peak, _ = run_child(command, env)
    rows = setup.rows[case.table]
    return Measure("sling", case, rows, seconds, peak, _size(out), out)


def run_dlt(setup: Setup, case: Case) -> Measure:
    out = out_path(setup, "dlt", case)
    pipelines = setup.folder / "out" / "dlt-home"
    shutil.rmtree(pipelines, ignore_errors=True)
    script = f"""
        import dlt
        from dlt.destinations import filesystem
        from dlt.sources.sql_database import sql_table
        table = sql_table(credentials="sqlite:///{setup.folder / "system.db"}",
                          table="proxy_identities", backend="pyarrow", chunk_size=10000)
        pipeline = dlt.pipeline("bench", destination=filesystem(bucket_url="file://{out}"),
                                dataset_name="bench", pipelines_dir="{pipelines}")
        pipeline.run(table, loader_file_format="{case.fmt}")
    """
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"}
    if not case.gzip:
        env["DATA_WRITER__DISABLE_COMPRESSION"] = "true"
    seconds, peak, _ = run_child(python(script), env)
    data = [p for p in out.rglob("*") if p.is_file() and "proxy_identities" in p.parts]
    size = sum(p.stat().st_size for p in data)
    return Measure("dlt", case, setup.rows[case.table], seconds, peak, size, out)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


RUNNERS: dict[str, Callable[[Setup, Case], Measure]] = {
    "exportctl": run_exportctl,
    "duckdb": run_duckdb,
    "sling": run_sling,
    "dlt": run_dlt,
}


def uncompressed_bytes(path: Path) -> int:
    """The bytes a gzip file (one or many members) holds."""
    total = 0
    with gzip.open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            total += len(block)
    return total


# --- codecs and gzip writers on the proxies' CSV -------------------------------------

CODECS_SCRIPT = """
    import gzip, json, os, sys, time, zipfile
    from pathlib import Path
    import isal.igzip_threaded, zlib_ng.gzip_ng_threaded
    from exportctl.compression import compressed
    source = Path(sys.argv[1]); out = Path(sys.argv[2])
    data = source.read_bytes()
    def writer(opener):
        def write():
            with opener() as stream:
                for start in range(0, len(data), 1 << 20):
                    stream.write(data[start : start + (1 << 20)])
        return write
    def exportctl(codec, level):
        def opener():
            sink = out.open("wb")
            class Closing:
                def __enter__(self):
                    self.inner = compressed(sink, codec, level, "proxies.csv")
                    return self.inner.__enter__()
                def __exit__(self, *exc):
                    self.inner.__exit__(*exc); sink.close()
            return Closing()
        return opener
    cores = os.cpu_count() or 1
    cases = [
        ("gzip", "exportctl: zlib-ng, threaded", 1, exportctl("gzip", 1)),
        ("gzip", "exportctl: zlib-ng, threaded", 6, exportctl("gzip", None)),
        ("gzip", "exportctl: zlib-ng, threaded", 9, exportctl("gzip", 9)),
        ("gzip", "stdlib gzip (zlib), one core", 6, lambda: gzip.open(out, "wb", 6)),
        ("gzip", "python-isal igzip, threaded", 1,
            lambda: isal.igzip_threaded.open(out, "wb", compresslevel=1, threads=cores)),
        ("gzip", "python-isal igzip, threaded", 2,
            lambda: isal.igzip_threaded.open(out, "wb", compresslevel=2, threads=cores)),
        ("gzip", "python-isal igzip, threaded", 3,
            lambda: isal.igzip_threaded.open(out, "wb", compresslevel=3, threads=cores)),
        ("zstd", "exportctl: zstandard, threaded", 1, exportctl("zstd", 1)),
        ("zstd", "exportctl: zstandard, threaded", 3, exportctl("zstd", None)),
        ("zstd", "exportctl: zstandard, threaded", 9, exportctl("zstd", 9)),
        ("zip", "exportctl: zipfile (zlib)", 6, exportctl("zip", None)),
    ]
    results = []
    for codec, writer_name, level, opener in cases:
        start = time.perf_counter()
        writer(opener)()
        seconds = time.perf_counter() - start
        results.append([codec, writer_name, level, seconds, out.stat().st_size])
    out.unlink()
    print(json.dumps(results))
"""


def codecs(csv: Path) -> list[list]:
    out = csv.with_suffix(".codec")
    _, _, stdout = run_child([PYTHON, "-c", textwrap.dedent(CODECS_SCRIPT), str(csv), str(out)])
    return json.loads(stdout)


# --- the report ----------------------------------------------------------------------


def mib(n: int) -> str:
    return f"{n / 2**20:,.1f}"


def report(
    args: argparse.Namespace,
    setup: Setup,
    measures: list[Measure],
    failures: list[str],
    codec_rows: list[list],
    extension: str,
) -> str:
    command = (
        f"python bench/run.py --proxies {args.proxies} --metrics {args.metrics} "
        f"--log-lines {args.log_lines} --days {args.days}"
    )
    versions = ", ".join(f"{p} {_version(p)}" for p in ("duckdb", "dlt", "sling-linux-amd64"))
    lines = [
        "## Exports at scale: exportctl against DuckDB's COPY, Sling and dlt",
        "",
        f"Produced by `{command}` (what `make bench` runs, at the issue's sizes by default) "
        f"on {dt.date.today()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {versions}.",
        "",
        f"The demo system: {setup.rows['proxies']:,} proxies (`proxy_identities`, 19 columns: "
        "text with quotes, newlines and unicode, integers, floats, booleans, timestamps, NULLs), "
        f"{setup.rows['metrics']:,} metric samples over 30 days ({setup.rows['metrics_week']:,} "
        f"in the {args.days} days from {setup.week[0]} UTC), and "
        f"{args.log_lines:,} loguru log lines in three files (two gzipped).",
        "",
        "exportctl reads SQLite through the ADBC driver into Arrow and the log files through "
        "its `logs` source. DuckDB's COPY reads the tables from its own columnar storage, "
        "loaded beforehand and untimed, so it does strictly less work: its SQLite reader is "
        f"an extension it downloads, and here `INSTALL sqlite` gives: {extension}. It reads "
        "the log files itself (`read_json`), as exportctl does. Sling reads the SQLite file "
        "itself; dlt reads it through SQLAlchemy with its `pyarrow` backend (its fastest) and "
        "writes to its `filesystem` destination, so its time includes its extract, normalize "
        "and load steps. Each tool runs in its own process; time is wall time, memory the "
        "process's peak RSS. Compression: % smaller than the same rows uncompressed (the "
        "gzip file's own content; for Parquet, the tool's uncompressed CSV of the rows).",
        "",
        "| export | tool | rows | seconds | rows/s | peak RSS MiB | output MiB | "
        "% smaller | time vs DuckDB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    reference = {m.case.name: m for m in measures if m.tool == "duckdb COPY"}
    for m in measures:
        base = reference.get(m.case.name)
        ratio = f"{m.seconds / base.seconds:.2f}×" if base else "–"
        smaller = f"{100 * (1 - m.out_bytes / m.raw_bytes):.1f}%" if m.raw_bytes else "–"
        lines.append(
            f"| {m.case.name} | {m.tool} | {m.rows:,} | {m.seconds:.1f} | {m.rows_per_s:,.0f} | "
            f"{m.peak_mb:.0f} | {mib(m.out_bytes)} | {smaller} | {ratio} |"
        )
    if failures:
        lines += ["", "Runs that could not be made here:", ""]
        lines += [f"- {f}" for f in failures]
    csv_bytes = next(
        (m.out_bytes for m in measures if m.tool == "exportctl" and m.case.name == "proxies csv"),
        None,
    )
    if codec_rows and csv_bytes:
        lines += [
            "",
            f"### Codecs, levels and gzip writers on the proxies' CSV ({mib(csv_bytes)} MiB)",
            "",
            "In one process, the CSV in memory written through each writer in 1 MiB blocks; "
            "all gzip output is standard gzip (`gzip -d`, Python's `gzip` read it).",
            "",
            "| codec | writer | level | seconds | MiB/s | output MiB | % smaller |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for codec, writer, level, seconds, size in codec_rows:
            lines.append(
                f"| {codec} | {writer} | {level} | {seconds:.2f} | "
                f"{csv_bytes / 2**20 / seconds:,.0f} | {mib(size)} | "
                f"{100 * (1 - size / csv_bytes):.1f}% |"
            )
    lines += ["", "### Targets", ""]
    lines += targets(measures, codec_rows, csv_bytes)
    return "\n".join(lines) + "\n"


def targets(measures: list[Measure], codec_rows: list[list], csv_bytes: int | None) -> list[str]:
    """Each target of issue 3, met or not, from this run's figures."""
    ours = {m.case.name: m for m in measures if m.tool == "exportctl"}
    duck = {m.case.name: m for m in measures if m.tool == "duckdb COPY"}
    found = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    for name, m in ours.items():
        base = duck.get(name)
        if base is None:
            continue
        limit = 1.0 if m.case.gzip else 2.0
        ratio = m.seconds / base.seconds
        want = "at least as fast as DuckDB" if m.case.gzip else "within 2× of DuckDB"
        found.append(
            f"- {name}: {want}: {verdict(ratio <= limit)} ({m.seconds:.1f} s against "
            f"{base.seconds:.1f} s, {ratio:.2f}×)."
        )
    peak = max((m.peak_mb for m in ours.values()), default=0)
    found.append(
        f"- Peak RSS under 300 MiB in every export: {verdict(peak < 300)} (max {peak:.0f})."
    )
    week, everything = ours.get("metrics week csv.gz"), ours.get("metrics all csv.gz")
    if week and everything:
        growth = everything.peak_mb / week.peak_mb
        found.append(
            f"- Memory flat in rows: {verdict(growth < 1.15)}: {everything.peak_mb:.0f} MiB "
            f"for {everything.rows:,} samples, {week.peak_mb:.0f} MiB for {week.rows:,} "
            f"({growth:.2f}×)."
        )
    slowest = max((m.seconds for m in ours.values()), default=0)
    found.append(
        f"- Every export in seconds, far inside 5 minutes: {verdict(slowest < 60)} "
        f"(slowest {slowest:.1f} s)."
    )
    default_gzip = next((r for r in codec_rows if r[0] == "gzip" and r[2] == 6), None)
    if default_gzip and csv_bytes:
        smaller = 100 * (1 - default_gzip[4] / csv_bytes)
        found.append(
            f"- gzip at its default level at least 70% smaller than the CSV (SC-005): "
            f"{verdict(smaller >= 70)} ({smaller:.1f}%)."
        )
    for other in ("sling", "dlt"):
        pairs = [
            (m, ours[m.case.name]) for m in measures if m.tool == other and m.case.name in ours
        ]
        if pairs:
            speedups = ", ".join(f"{m.case.name} {m.seconds / o.seconds:.1f}×" for m, o in pairs)
            ok = all(m.seconds / o.seconds >= 2 for m, o in pairs)
            found.append(f"- Several times faster than {other}: {verdict(ok)} ({speedups}).")
    return found


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxies", type=int, default=1_000_000)
    parser.add_argument("--metrics", type=int, default=5_000_000)
    parser.add_argument("--log-lines", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=7, help="the metric slice, up to the end")
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    parser.add_argument("--no-codecs", action="store_true", help="skip the codec table")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    found = setup(args)
    extension = duckdb_sqlite_extension() if "duckdb" in args.tools else "not asked"
    measures: list[Measure] = []
    failures: list[str] = []
    for case in CASES:
        ours = run_exportctl(found, case)
        found.rows.setdefault(case.table, ours.rows)
        measures.append(ours)
        print(f"{case.name}: exportctl {ours.seconds:.1f} s", flush=True)
        for tool in case.tools:
            if tool not in args.tools:
                continue
            try:
                measure = RUNNERS[tool](found, case)
            except (RuntimeError, OSError) as exc:
                failures.append(f"{tool}, {case.name}: {exc}")
                print(f"{case.name}: {tool} failed: {exc}", flush=True)
                continue
            measures.append(measure)
            print(f"{case.name}: {measure.tool} {measure.seconds:.1f} s", flush=True)
    _fill_raw_bytes(measures)
    csv = found.folder / "out" / "exportctl-proxies_csv.csv"
    codec_rows = [] if args.no_codecs or not csv.exists() else codecs(csv)
    write_section("exports", report(args, found, measures, failures, codec_rows, extension))
    print(f"wrote {REPORT}")


def _fill_raw_bytes(measures: list[Measure]) -> None:
    """Each output's uncompressed size: its own for text, gunzipped for gzip, and for Parquet
    the same tool's CSV of the same rows (exportctl's where that tool wrote none)."""
    csv_of = {
        (m.tool, m.case.table): m.out_bytes
        for m in measures
        if m.case.fmt == "csv" and not m.case.gzip
    }
    for m in measures:
        if m.case.gzip:
            files = [m.path] if m.path.is_file() else sorted(m.path.rglob("proxy_identities/*"))
            try:
                m.raw_bytes = sum(uncompressed_bytes(f) for f in files)
            except OSError:
                m.note = "not gzip"
        elif m.case.fmt == "parquet":
            m.raw_bytes = csv_of.get(
                (m.tool, m.case.table), csv_of.get(("exportctl", m.case.table))
            )


if __name__ == "__main__":
    main()
