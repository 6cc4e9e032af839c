"""Scale-out: the demo's metric samples exported on the local engine and on Dask.

Exports the `metric_samples` table of a demo system (`demo init --metrics N`) to CSV.gz
and Parquet, each run an `exportctl apply` process of its own, in turn:

- `local`: the local engine, unpartitioned (the baseline);
- `local, 8 partitions`: the local engine, the rows cut into 8 key ranges;
- `dask, own cluster`: the Dask engine with no `address` (the run starts a cluster of one
  worker process per core on this machine and stops it; its start-up is in the time);
- `dask, running cluster`: `dask scheduler` and two `dask worker` processes started
  beforehand on loopback, as a deployment has them (`--engine dask --address`).

Wall time and the driver's peak RSS come from wait4; every output is read back (rows
counted by DuckDB over the parts) and must equal the table's rows. Medians of
`--repeat` rounds, the variants interleaved. Results go to docs/benchmarks.md.

    python bench/scale_out.py [--metrics 5000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import write_section

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / ".data"
BIN = Path(sys.executable).parent
SPEC = """\
version: 1
name: samples-{name}
source: {{type: sql, url: "sqlite:///{db}"}}
query: {{table: metric_samples, order_by: [id]}}
format: {fmt}
{compression}
destination: "{out}/samples-{name}.{ext}"
{engine}
"""
VARIANTS = {
    "local": "",
    "local, 8 partitions": "engine: {type: local, partitions: {by: id, count: 8}}",
    "dask, own cluster": "engine: {type: dask, partitions: {by: id, count: 8}}",
    "dask, running cluster": "engine: {type: dask, partitions: {by: id, count: 8}}",
}
FORMATS = {"csv.gz": ("csv", "compression: gzip", "csv.gz"), "parquet": ("parquet", "", "parquet")}


def demo(metrics: int) -> Path:
    folder = DATA / f"scale-out-{metrics}"
    if not (folder / "warehouse.db").exists():
        print(f"generating {metrics:,} metric samples in {folder} ...", flush=True)
        command = [str(BIN / "exportctl"), "demo", "init", str(folder), "--proxies", "1000"]
        command += ["--metrics", str(metrics), "--log-lines", "1000", "--force"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return folder


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_cluster(workers: int) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """`dask scheduler` and `workers` single-threaded `dask worker` processes on loopback."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    dask = str(BIN / "dask")
    processes = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            **quiet,
        )  # fmt: skip
    ]
    processes += [
        subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard"], **quiet)
        for _ in range(workers)
    ]
    code = (
        "from distributed import Client\n"
        f"with Client({address!r}, timeout=60) as c: c.wait_for_workers({workers}, timeout=60)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    return address, processes


def apply(spec: Path, state: str, extra: list[str]) -> tuple[float, float]:
    """One `exportctl apply`: wall seconds and peak RSS (MiB) of the driver."""
    argv = [str(BIN / "exportctl"), "apply", str(spec), "--state", state, *extra]
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)  # its peak RSS, which Popen.wait does not give
    seconds = time.perf_counter() - started
    assert os.waitstatus_to_exitcode(status) == 0, f"{spec.name}: exit status {status}"
    return seconds, usage.ru_maxrss / 1024


def rows_written(out: Path, name: str, ext: str) -> int:
    """The rows of the export's data files (its manifest's parts, or its one file), by DuckDB."""
    import duckdb

    manifest = json.loads((out / f"samples-{name}.{ext}.manifest.json").read_text())
    whole = [{"uri": str(out / f"samples-{name}.{ext}")}]
    files = [part["uri"] for part in manifest.get("parts") or whole]
    if ext == "parquet":
        return int(duckdb.sql(f"SELECT count(*) FROM read_parquet({files!r})").fetchall()[0][0])
    # A CSV's parts continue its document: only the first has the header.
    counted = 0
    for index, file in enumerate(files):
        header = "true" if index == 0 else "false"
        query = f"SELECT count(*) FROM read_csv('{file}', header={header}, all_varchar=true)"
        counted += int(duckdb.sql(query).fetchall()[0][0])
    return counted


Times = dict[tuple[str, str], list[tuple[float, float]]]


def export(
    root: Path, db: Path, fmt: str, variant: str, address: str, rows: int
) -> tuple[float, float]:
    """One variant's export of the table in `fmt`, checked whole; its seconds and RSS."""
    kind, compression, ext = FORMATS[fmt]
    name = variant.replace(",", "").replace(" ", "-") + "-" + kind
    out = root / "out"
    spec = root / f"{name}.yaml"
    engine = VARIANTS[variant]
    spec.write_text(
        SPEC.format(name=name, db=db, fmt=kind, ext=ext, out=out, compression=compression,
                    engine=engine)
    )  # fmt: skip
    extra = ["--address", address] if variant == "dask, running cluster" else []
    taken = apply(spec, f"sqlite:///{root / 'state.db'}", extra)
    written = rows_written(out, name, ext)
    assert written == rows, (variant, written)
    return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    folder = demo(args.metrics)
    db = folder / "warehouse.db"
    address, cluster = start_cluster(args.workers)
    times: Times = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-scale-out-") as scratch:
            for _ in range(args.repeat):
                for fmt in FORMATS:
                    for variant in VARIANTS:
                        taken = export(Path(scratch), db, fmt, variant, address, args.metrics)
                        times.setdefault((fmt, variant), []).append(taken)
    finally:
        for process in cluster:
            process.terminate()
            process.wait()
    report(args, times)


def report(args: argparse.Namespace, times: Times) -> None:
    lines = [
        "## Scale-out: the local engine and Dask",
        "",
        f"Produced by `python bench/scale_out.py --metrics {args.metrics} --repeat {args.repeat}"
        f" --workers {args.workers}` on {dt.date.today()}, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}.",
        "",
        f"The demo's {args.metrics:,} metric samples (SQLite, 6 columns) exported by `exportctl "
        "apply`, each run a process of its own; medians of the rounds, the variants in turn. "
        "Partitions: 8 ranges of `id`. `dask, own cluster` starts and stops a cluster of one "
        f"worker per core within the run; `dask, running cluster` uses {args.workers} `dask "
        "worker` processes started beforehand. Peak RSS is the driver's (the workers' own "
        "memory is not in it). Every export was read back by DuckDB: all rows.",
        "",
        "| format | engine | seconds | vs local | driver peak RSS MiB |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for fmt in FORMATS:
        base = statistics.median(s for s, _ in times[(fmt, "local")])
        for variant in VARIANTS:
            runs = times[(fmt, variant)]
            seconds = statistics.median(s for s, _ in runs)
            rss = statistics.median(m for _, m in runs)
            lines.append(
                f"| {fmt} | {variant} | {seconds:.1f} | {seconds / base:.2f}× | {rss:.0f} |"
            )
    text = "\n".join(lines)
    print(text)
    write_section("scale-out", text)


if __name__ == "__main__":
    main()
