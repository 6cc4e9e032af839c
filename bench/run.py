"""Benchmarks: exportctl against DuckDB's COPY, Sling and dlt on the demo system at scale.

One command (`make bench`, or `python bench/run.py`) generates the demo system
(1M proxies, 5M metric samples, 1M log lines by default; smaller with the options)
and times, in the same run, the same exports by each tool:

- the 1M proxies to CSV, CSV.gz, JSONL, JSONL.gz and Parquet;
- one week of metric samples (the demo's span is 30 days) to CSV and CSV.gz, and all
  of them to CSV.gz, to show memory does not grow with rows;
- the log lines at WARNING and above to JSONL.gz;
- the proxies' CSV compressed by each codec, level and gzip writer.

Each tool runs in its own process; wall time, CPU-seconds (user + system) and peak RSS
come from wait4(). The tools take turns (A B C A B C, `--repeat` rounds) and each figure is
the median of its rounds. DuckDB runs twice over: 2.0 reading its own storage, and 1.5.5
reading the same SQLite file through its sqlite scanner, from a venv of its own
(requirements/bench-duckdb-sqlite.lock: PyPI's duckdb-extension-sqlite ships the
extension, installed from that file, so nothing is downloaded). This process imports
nothing heavy, since a child's peak RSS starts from its parent's size. Results go to
docs/benchmarks.md (section `exports`), and as JSON to bench/.data/ with `--save`.
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
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from report import REPORT, write_section

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / ".data"
PYTHON = sys.executable
#: -P: not the current folder first on sys.path, so `--baseline`'s PYTHONPATH is what runs.
EXPORTCTL = [PYTHON, "-P", "-m", "exportctl"]
#: The demo's samples end here and span 30 days before it (exportctl/demo/times.py).
END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
TOOLS = ("exportctl", "duckdb-sqlite", "duckdb", "sling", "dlt")
#: DuckDB 1.5.5 with its sqlite scanner, in a venv of its own (bench.lock has DuckDB 2.0).
SCANNER_LOCK = ROOT / "requirements" / "bench-duckdb-sqlite.lock"
SCANNER_VENV = ROOT / "bench" / ".venv-duckdb-sqlite"
SCANNER_EXTENSIONS = SCANNER_VENV / "duckdb-extensions"


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


DUCKS = ("duckdb-sqlite", "duckdb")
CASES = [
    Case("proxies csv", "proxies", "csv", ".csv", (*DUCKS, "sling")),
    Case("proxies csv.gz", "proxies", "csv", ".csv.gz", (*DUCKS, "sling", "dlt")),
    Case("proxies jsonl", "proxies", "jsonl", ".jsonl", DUCKS),
    Case("proxies jsonl.gz", "proxies", "jsonl", ".jsonl.gz", (*DUCKS, "sling", "dlt")),
    Case("proxies parquet", "proxies", "parquet", ".parquet", (*DUCKS, "sling", "dlt")),
    Case("metrics week csv", "metrics_week", "csv", ".csv", DUCKS),
    Case("metrics week csv.gz", "metrics_week", "csv", ".csv.gz", (*DUCKS, "sling")),
    Case("metrics all csv.gz", "metrics", "csv", ".csv.gz", DUCKS),
    Case("logs WARNING+ jsonl.gz", "logs", "jsonl", ".jsonl.gz", DUCKS),
]


@dataclass
class Measure:
    tool: str
    case: Case
    rows: int
    seconds: float
    peak_mb: float
    out_bytes: int
    #: CPU-seconds, user and system, of the process and the children it waited for.
    cpu: float
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


@dataclass(frozen=True)
class Child:
    seconds: float
    cpu: float
    peak_mb: float
    stdout: str


def run_child(command: list[str], env: dict[str, str] | None = None) -> Child:
    """Wall seconds, CPU-seconds, peak RSS (MiB) of that process alone, its standard output."""
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
    cpu = usage.ru_utime + usage.ru_stime
    return Child(seconds, cpu, usage.ru_maxrss / 1024, out_file.read_text())


def python(script: str, interpreter: str = PYTHON) -> list[str]:
    return [interpreter, "-c", textwrap.dedent(script)]


def measured(tool: str, case: Case, rows: int, child: Child, size: int, path: Path) -> Measure:
    return Measure(tool, case, rows, child.seconds, child.peak_mb, size, child.cpu, path)


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
    SQLite tables declare them."""
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


def scanner_python() -> str:
    """DuckDB 1.5.5's venv, made from its lock, with the sqlite extension installed from the
    file duckdb-extension-sqlite ships (INSTALL of a local file: no download)."""
    python_bin = SCANNER_VENV / "bin" / "python"
    stamp = SCANNER_VENV / ".installed"
    if stamp.exists() and stamp.read_text() == SCANNER_LOCK.read_text():
        return str(python_bin)
    print(f"making {SCANNER_VENV} from {SCANNER_LOCK.name} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(SCANNER_VENV)], check=True)
    pip = [str(python_bin), "-m", "pip", "install", "--quiet", "--require-hashes"]
    subprocess.run([*pip, "-r", str(SCANNER_LOCK)], check=True)
    script = f"""
        import duckdb, importlib.resources
        packaged = importlib.resources.files("duckdb_extension_sqlite") / "extensions"
        extension = packaged / f"v{{duckdb.__version__}}" / "sqlite.duckdb_extension"
        db = duckdb.connect(config={{"extension_directory": {str(SCANNER_EXTENSIONS)!r}}})
        db.execute(f"INSTALL '{{extension}}'")
        db.execute("LOAD sqlite")
    """
    subprocess.run(python(script, str(python_bin)), check=True)
    stamp.write_text(SCANNER_LOCK.read_text())
    return str(python_bin)


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


#: A copy of exportctl's code (`--baseline`) timed beside this one as `exportctl before`.
BASELINE: dict[str, str] = {}


def run_exportctl(setup: Setup, case: Case, tool: str = "exportctl") -> Measure:
    out = out_path(setup, tool, case)
    source = SOURCES[case.table].format(
        folder=setup.folder, start=setup.week[0] + "Z", end=setup.week[1] + "Z"
    )
    spec = setup.folder / "out" / f"{tool}-bench.yaml"
    name = re.sub(r"[^a-z0-9]+", "-", case.name.lower()).strip("-")
    spec.write_text(
        f"version: 1\nname: bench-{name}\n{source}format: {case.fmt}\ndestination: {str(out)!r}\n"
    )
    ledger = setup.folder / "out" / f"{tool}-ledger.db"
    ledger.unlink(missing_ok=True)
    env = {**os.environ, "EXPORTCTL_STATE": f"sqlite:///{ledger}"}
    if tool == "exportctl-before":
        env["PYTHONPATH"] = BASELINE["code"]  # before the installed (editable) package
    child = run_child([*EXPORTCTL, "apply", str(spec), "--json"], env)
    result = json.loads(child.stdout)
    result = result[0] if isinstance(result, list) else result
    if result.get("status") != "succeeded":
        raise RuntimeError(f"exportctl {case.name}: {result.get('error')}")
    shown = "exportctl before" if tool == "exportctl-before" else tool
    return measured(shown, case, int(result["rows"]), child, out.stat().st_size, out)


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
    child = run_child(python(script))
    rows = setup.rows.get(case.table, 0)
    return measured("duckdb COPY", case, rows, child, out.stat().st_size, out)


#: The SQLite file and table each of the bench's tables is read from.
SQLITE_TABLES = {
    "proxies": ("system.db", "proxy_identities"),
    "metrics": ("warehouse.db", "metric_samples"),
    "metrics_week": ("warehouse.db", "metric_samples"),
}


def run_duckdb_sqlite(setup: Setup, case: Case) -> Measure:
    """DuckDB 1.5.5 exporting from the same SQLite file as exportctl, through its scanner
    (the logs through its own `read_json`, as `run_duckdb`)."""
    out = out_path(setup, "duckdb-sqlite", case)
    options = {"csv": "FORMAT csv, HEADER", "jsonl": "FORMAT json", "parquet": "FORMAT parquet"}
    query = duckdb_query(setup, case)
    attach = ""
    if case.table != "logs":
        file, table = SQLITE_TABLES[case.table]
        attach = f"ATTACH '{setup.folder / file}' AS source (TYPE sqlite, READ_ONLY)"
        query = re.sub(r"FROM \w+", f"FROM source.{table}", query, count=1)
    copy = f"COPY ({query}) TO '{out}' ({options[case.fmt]}"
    copy += ", COMPRESSION gzip)" if case.gzip else ")"
    script = f"""
        import duckdb
        config = {{"extension_directory": {str(SCANNER_EXTENSIONS)!r},
                  "autoinstall_known_extensions": False, "autoload_known_extensions": False}}
        connection = duckdb.connect(config=config)
        connection.execute("LOAD sqlite")
        if {attach!r}:
            connection.execute({attach!r})
        connection.execute({copy!r})
    """
    child = run_child(python(script, scanner_python()))
    rows = setup.rows.get(case.table, 0)
    return measured("duckdb sqlite", case, rows, child, out.stat().st_size, out)


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
    child = run_child(command, env)
    return measured("sling", case, setup.rows[case.table], child, _size(out), out)


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
    child = run_child(python(script), env)
    data = [p for p in out.rglob("*") if p.is_file() and "proxy_identities" in p.parts]
    size = sum(p.stat().st_size for p in data)
    return measured("dlt", case, setup.rows[case.table], child, size, out)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


RUNNERS: dict[str, Callable[[Setup, Case], Measure]] = {
    "exportctl": run_exportctl,
    "exportctl-before": lambda setup, case: run_exportctl(setup, case, "exportctl-before"),
    "duckdb-sqlite": run_duckdb_sqlite,
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
    child = run_child([PYTHON, "-c", textwrap.dedent(CODECS_SCRIPT), str(csv), str(out)])
    return json.loads(child.stdout)


# --- the report ----------------------------------------------------------------------


def mib(n: int) -> str:
    return f"{n / 2**20:,.1f}"


def report(
    args: argparse.Namespace,
    setup: Setup,
    measures: list[Measure],
    failures: list[str],
    codec_rows: list[list],
) -> str:
    command = (
        f"python bench/run.py --proxies {args.proxies} --metrics {args.metrics} "
        f"--log-lines {args.log_lines} --days {args.days} --repeat {args.repeat}"
    )
    versions = ", ".join(f"{p} {_version(p)}" for p in ("duckdb", "dlt", "sling-linux-amd64"))
    versions += ", duckdb 1.5.5 with duckdb-extension-sqlite 1.5.5"
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
        "its `logs` source. `duckdb sqlite` is DuckDB 1.5.5 reading the same SQLite file "
        "through its sqlite scanner (the extension PyPI's duckdb-extension-sqlite ships, in a "
        "venv of its own); `duckdb COPY` is DuckDB 2.0 reading the tables from its own "
        "columnar storage, loaded beforehand and untimed, so it does strictly less work. "
        "Both read the log files themselves (`read_json`), as exportctl does. "
        "Sling reads the SQLite file "
        "itself; dlt reads it through SQLAlchemy with its `pyarrow` backend (its fastest) and "
        "writes to its `filesystem` destination, so its time includes its extract, normalize "
        "and load steps. Each tool runs in its own process, the tools of an export in turn "
        f"(A B C A B C, {args.repeat} rounds); each figure is the median of its rounds: "
        "seconds of wall time, CPU-seconds (user + system), the process's peak RSS. "
        "Compression: % smaller than the same rows uncompressed (the "
        "gzip file's own content; for Parquet, the tool's uncompressed CSV of the rows).",
        "",
        "| export | tool | rows | seconds | CPU-s | rows/s | peak RSS MiB | output MiB | "
        "% smaller | time vs DuckDB sqlite | time vs DuckDB | CPU vs DuckDB sqlite |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    scanner = {m.case.name: m for m in measures if m.tool == "duckdb sqlite"}
    own = {m.case.name: m for m in measures if m.tool == "duckdb COPY"}
    for m in measures:
        smaller = f"{100 * (1 - m.out_bytes / m.raw_bytes):.1f}%" if m.raw_bytes else "–"
        lines.append(
            f"| {m.case.name} | {m.tool} | {m.rows:,} | {m.seconds:.2f} | {m.cpu:.2f} | "
            f"{m.rows_per_s:,.0f} | {m.peak_mb:.0f} | {mib(m.out_bytes)} | {smaller} | "
            f"{_ratio(m.seconds, scanner.get(m.case.name), 'seconds')} | "
            f"{_ratio(m.seconds, own.get(m.case.name), 'seconds')} | "
            f"{_ratio(m.cpu, scanner.get(m.case.name), 'cpu')} |"
        )
    absent = [t for t in ("sling", "dlt") if all(m.tool != t for m in measures)]
    if absent:
        lines += ["", f"Not run this time (`--tools`): {', '.join(absent)}."]
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
    """Each target of issue 20, met or not, from this run's figures."""
    ours = {m.case.name: m for m in measures if m.tool == "exportctl"}
    scanner = {m.case.name: m for m in measures if m.tool == "duckdb sqlite"}
    own = {m.case.name: m for m in measures if m.tool == "duckdb COPY"}
    found = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    for name, m in ours.items():
        for base, limit, against in _limits(m.case, scanner.get(name), own.get(name)):
            ratio = m.seconds / base.seconds
            found.append(
                f"- {name}: at most {limit}× {against}: {verdict(ratio <= limit)} "
                f"({m.seconds:.2f} s against {base.seconds:.2f} s, {ratio:.2f}×)."
            )
        base = scanner.get(name)
        if base is not None and not m.case.gzip and m.case.table != "logs":
            ratio = m.cpu / base.cpu
            found.append(
                f"- {name}: CPU-seconds at most 1.2× DuckDB sqlite's: {verdict(ratio <= 1.2)} "
                f"({m.cpu:.2f} against {base.cpu:.2f}, {ratio:.2f}×)."
            )
    peak = max((m.peak_mb for m in ours.values()), default=0)
    found.append(
        f"- Peak RSS under 256 MiB in every export: {verdict(peak < 256)} (max {peak:.0f})."
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


def _limits(
    case: Case, scanner: Measure | None, own: Measure | None
) -> list[tuple[Measure, float, str]]:
    """Issue 20's limits on an export's time, against each DuckDB that ran it."""
    if case.table == "logs":
        wanted = [(scanner, 1.0, "DuckDB 1.5.5 read_json"), (own, 1.0, "DuckDB 2.0 read_json")]
    elif case.gzip:
        wanted = [(scanner, 0.5, "DuckDB sqlite"), (own, 0.6, "DuckDB's own storage")]
    else:
        wanted = [(scanner, 1.0, "DuckDB sqlite"), (own, 1.5, "DuckDB's own storage")]
    return [(base, limit, against) for base, limit, against in wanted if base is not None]


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _ratio(value: float, base: Measure | None, attribute: str) -> str:
    return f"{value / getattr(base, attribute):.2f}×" if base else "–"


def median_of(rounds: list[Measure]) -> Measure:
    """One measure of a tool's rounds: the median of each figure."""
    first = rounds[0]
    first.seconds = statistics.median(m.seconds for m in rounds)
    first.cpu = statistics.median(m.cpu for m in rounds)
    first.peak_mb = statistics.median(m.peak_mb for m in rounds)
    return first


def measure_case(
    found: Setup, case: Case, tools: list[str], repeat: int, failures: list[str]
) -> list[Measure]:
    """Each tool in turn, `repeat` rounds (A B C A B C), medians; exportctl first."""
    rounds: dict[str, list[Measure]] = {}
    names = ["exportctl", *(t for t in ("exportctl-before", *case.tools) if t in tools)]
    for _ in range(repeat):
        for tool in names:
            if tool != "exportctl" and tool not in rounds and _failed(failures, tool, case):
                continue
            try:
                measure = RUNNERS[tool](found, case)
            except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
                if tool == "exportctl":
                    raise
                failures.append(f"{tool}, {case.name}: {exc}")
                print(f"{case.name}: {tool} failed: {exc}", flush=True)
                continue
            if tool == "exportctl":
                found.rows.setdefault(case.table, measure.rows)
            rounds.setdefault(tool, []).append(measure)
            print(
                f"{case.name}: {measure.tool} {measure.seconds:.2f} s, {measure.cpu:.2f} CPU-s",
                flush=True,
            )
    return [median_of(rounds[tool]) for tool in names if tool in rounds]


def _failed(failures: list[str], tool: str, case: Case) -> bool:
    return f"{tool}, {case.name}: " in "\n".join(failures)


def save(measures: list[Measure], path: Path) -> None:
    """The medians as JSON, for a before/after comparison (bench/compare.py)."""
    rows = []
    for m in measures:
        row = asdict(m)
        row["case"], row["path"] = m.case.name, str(m.path)
        rows.append(row)
    path.write_text(json.dumps(rows, indent=1))
    print(f"wrote {path}")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxies", type=int, default=1_000_000)
    parser.add_argument("--metrics", type=int, default=5_000_000)
    parser.add_argument("--log-lines", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=7, help="the metric slice, up to the end")
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; figures are medians")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="200k proxies, 1M samples, 200k lines, DuckDB only, no codecs: to iterate",
    )
    parser.add_argument("--cases", nargs="+", help="only the exports whose name holds one")
    parser.add_argument("--no-codecs", action="store_true", help="skip the codec table")
    parser.add_argument("--save", type=Path, help="also write the medians here as JSON")
    parser.add_argument("--no-report", action="store_true", help="leave docs/benchmarks.md")
    parser.add_argument("--report-from", type=Path, help="report a --save file's medians")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a copy of exportctl's code (`git archive REV exportctl schemas | tar -x -C DIR`) "
        "timed beside this one, in turn with the others, as `exportctl before`",
    )
    args = parser.parse_args()
    if args.quick:
        args.proxies, args.metrics, args.log_lines = 200_000, 1_000_000, 200_000
        args.tools = [t for t in args.tools if t in ("exportctl", *DUCKS)]
        args.no_codecs = True
    if args.baseline:
        BASELINE["code"] = str(args.baseline.resolve())
        args.tools = [*args.tools, "exportctl-before"]
    return args


def main() -> None:
    args = arguments()
    DATA.mkdir(parents=True, exist_ok=True)
    found = setup(args)
    measures: list[Measure] = []
    failures: list[str] = []
    if args.report_from:  # a saved run's medians, reported again (no export is run)
        measures = load(args.report_from)
    else:
        cases = [c for c in CASES if not args.cases or any(w in c.name for w in args.cases)]
        for case in cases:
            measures += measure_case(found, case, args.tools, args.repeat, failures)
        _fill_raw_bytes(measures)
    if args.save:
        save(measures, args.save)
    if args.no_report:
        return
    csv = found.folder / "out" / "exportctl-proxies_csv.csv"
    codec_rows = [] if args.no_codecs or not csv.exists() else codecs(csv)
    text = report(args, found, measures, failures, codec_rows)
    write_section("exports", text if codec_rows else _with_earlier_codecs(text))
    print(f"wrote {REPORT}")


def load(path: Path) -> list[Measure]:
    """The medians `save` wrote."""
    by_name = {case.name: case for case in CASES}
    found = []
    for row in json.loads(path.read_text()):
        row["case"], row["path"] = by_name[row["case"]], Path(row["path"])
        found.append(Measure(**row))
    return found


def _with_earlier_codecs(text: str) -> str:
    """The report, keeping the page's codec table when this run measured none."""
    page = REPORT.read_text() if REPORT.exists() else ""
    earlier = re.search(r"### Codecs.*?(?=### Targets)", page, re.S)
    if earlier is None or "### Codecs" in text:
        return text
    kept = earlier.group(0).replace("\n\n", "\n\n(From an earlier run.) ", 1)
    return text.replace("### Targets", kept + "### Targets", 1)


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
