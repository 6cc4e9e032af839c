"""The Dask engine on a real cluster: a `distributed.LocalCluster` of two single-threaded
worker processes, which the exports run on through `exportctl apply`. The parts, read back
in order with readers of their own (csv, gzip, json, pyarrow), are the local engine's
export of the same spec, row for row; a failed partition leaves no part of the run; a
worker killed while it writes has its partition written again, under the same names."""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cloudpickle
import distributed
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from exportctl.cli.main import main
from exportctl.demo.build import init_demo
from exportctl.plan.compiler import compile_plan
from exportctl.plan.partitions import KeyRange
from exportctl.run import runner
from exportctl.run.dask_engine import DaskEngine
from exportctl.run.dask_task import PartitionTask
from exportctl.run.recipe import rebuilt, recipe_of
from exportctl.run.result import Observer
from exportctl.spec.load import load_spec
from tests.support.dask_runs import gzip_members, read_rows, temp_files
from tests.support.servers import AWS_TEST_ENV, MotoServer, S3Bucket
from tests.support.waiting import eventually

SPEC = """\
version: 1
name: {name}
source: {{type: sql, url: "sqlite:///{db}", chunk_size: {chunk}}}
query: {{table: {table}{order}}}
format: {fmt}
destination: {destination}
engine: {engine}
{more}
"""
NOW = datetime(2026, 1, 1, tzinfo=UTC)
ORDER = ", order_by: [id]"


@pytest.fixture(scope="module")
def cluster(moto_server: MotoServer) -> Iterator[distributed.LocalCluster]:
    """Two single-threaded worker processes, with S3 credentials (moto's) in their
    environment: the tasks carry none."""
    env = {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": moto_server.endpoint}
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, env=env
    ) as started:
        yield started


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's system.db: about 1,750 validation results."""
    folder = tmp_path_factory.mktemp("demo")
    init_demo(folder, proxies=1000, metrics=10, log_lines=10)
    return folder / "system.db"


def _write_spec(folder: Path, name: str, **spec: Any) -> Path:
    """FOLDER/NAME.yaml from SPEC, its keys defaulted where `spec` leaves them."""
    defaults = {"table": "validation_results", "chunk": 97, "more": "", "order": ORDER}
    path = folder / f"{name}.yaml"
    path.write_text(SPEC.format(name=name, **{**defaults, **spec}))
    return path


def _apply(folder: Path, name: str, ok: bool = True, **spec: Any) -> dict[str, Any]:
    path = _write_spec(folder, name, **spec)
    result = CliRunner().invoke(main, ["apply", str(path), "--json"], catch_exceptions=False)
    (done,) = json.loads(result.stdout)
    assert (result.exit_code == 0) == ok, result.output
    return dict(done)


def _manifest(destination: Path) -> dict[str, Any]:
    return dict(json.loads(Path(f"{destination}.manifest.json").read_text()))


def _engine(kind: str, cluster: distributed.LocalCluster | None = None, count: int = 4) -> str:
    address = f", address: {cluster.scheduler_address}" if cluster is not None else ""
    return f"{{type: {kind}{address}, partitions: {{by: id, count: {count}}}}}"


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "jsonl", "parquet"])
def test_the_parts_are_the_local_engines_row_for_row(
    tmp_path: Path, demo: Path, cluster: distributed.LocalCluster, fmt: str
) -> None:
    kind = fmt.split(".")[0]
    out = {e: tmp_path / e / f"results.{fmt}" for e in ("dask", "local")}
    runs = {
        e: _apply(tmp_path, e, db=demo, fmt=kind, destination=out[e], engine=_engine(e, c))
        for e, c in (("dask", cluster), ("local", None))
    }
    manifests = {e: _manifest(out[e]) for e in out}
    parts = {e: [Path(p["uri"]) for p in manifests[e]["parts"]] for e in out}
    rows = {e: read_rows(fmt, parts[e]) for e in out}
    with sqlite3.connect(demo) as conn:
        (count,) = conn.execute("SELECT count(*) FROM validation_results").fetchone()
    assert rows["dask"] == rows["local"]
    assert len(rows["dask"]) == count + (kind == "csv") > 1000  # the header once
    assert runs["dask"]["rows"] == count
    # The same parts, named alike: partition, then its part.
    assert [p.name.split(".part-")[1] for p in parts["dask"]] == [
        p.name.split(".part-")[1] for p in parts["local"]
    ]
    ranges = [p["key_range"] for p in manifests["dask"]["parts"]]
    assert ranges == [p["key_range"] for p in manifests["local"]["parts"]]
    assert ranges[0] == {"key": "id", "null": True}  # SQLite's NULLs first: empty, the header
    assert len(ranges) == 5 and ranges[1]["from"] is None and ranges[-1]["to"] is None
    assert [p["rows"] for p in manifests["dask"]["parts"]] == [
        p["rows"] for p in manifests["local"]["parts"]
    ]
    shown = CliRunner().invoke(main, ["verify", runs["dask"]["run_id"], "--json"])
    assert shown.exit_code == 0, shown.output
    assert [c["ok"] for c in json.loads(shown.stdout)] == [True] * (len(parts["dask"]) + 1)
    assert sorted(p.name for p in out["dask"].parent.iterdir()) == sorted(
        [*(p.name for p in parts["dask"]), f"results.{fmt}.manifest.json"]
    )


@pytest.mark.parametrize(("kind", "fmt"), [("dask", "csv.gz"), ("local", "parquet")])
def test_merge_joins_the_parts_into_the_one_file(
    tmp_path: Path, demo: Path, cluster: distributed.LocalCluster, kind: str, fmt: str
) -> None:
    """The merged file reads back as the unpartitioned export; it is made of the parts as
    they were (a gzip member each, Parquet row groups of at most a chunk's rows), and the
    parts are gone."""
    out = tmp_path / "merged" / f"results.{fmt}"
    engine = _engine(kind, cluster if kind == "dask" else None)
    engine = engine.replace("partitions:", "merge: true, partitions:")
    done = _apply(
        tmp_path,
        "merged",
        db=demo,
        fmt=fmt[:3].replace("par", "parquet"),
        destination=out,
        engine=engine,
    )
    whole = tmp_path / "whole" / f"results.{fmt}"
    _apply(
        tmp_path,
        "whole",
        db=demo,
        fmt=fmt[:3].replace("par", "parquet"),
        destination=whole,
        engine="{type: local}",
    )
    assert read_rows(fmt, [out]) == read_rows(fmt, [whole])
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name, f"{out.name}.manifest.json"]
    manifest = _manifest(out)
    assert "parts" not in manifest and manifest["rows"] == done["rows"] > 1000
    if fmt == "parquet":
        groups = pq.ParquetFile(out).metadata
        sizes = [groups.row_group(i).num_rows for i in range(groups.num_row_groups)]
        assert sum(sizes) == done["rows"] and max(sizes) <= 97 and len(sizes) > 4
    else:
        assert gzip_members(out.read_bytes()) == 5  # the (empty) NULL partition's and 4
    shown = CliRunner().invoke(main, ["verify", done["run_id"], "--json"])
    assert shown.exit_code == 0, shown.output


def test_a_failed_partition_fails_the_run_and_leaves_no_part(
    tmp_path: Path, demo: Path, cluster: distributed.LocalCluster
) -> None:
    """Ids past 1,500 fail validation: the last partitions fail, the first ones had
    committed their parts, and none is left."""
    more = "fields: [{name: id, type: integer, max: 1500}, {name: proxy_url}]"
    out = tmp_path / "out" / "results.csv"
    done = _apply(
        tmp_path,
        "cut",
        ok=False,
        db=demo,
        fmt="csv",
        destination=out,
        engine=_engine("dask", cluster),
        more=more,
    )
    assert done["status"] == "failed"
    assert re.match(r"partition 4 \(\d+ <= id\): \d+ row\(s\) failed validation", done["error"])
    assert not out.parent.exists() or sorted(out.parent.iterdir()) == []


class _Heard(Observer):
    """What the driver's observer hears: the rows read, the total, the parts."""

    wants_total = True

    def __init__(self) -> None:
        self.advanced: list[int] = []
        self.totals: list[int | None] = []
        self.parts = 0

    def total(self, rows: int | None) -> None:
        self.totals.append(rows)

    def advance(self, rows: int) -> None:
        self.advanced.append(rows)

    def committed(self, part: Any) -> None:
        self.parts += 1


def test_progress_sums_the_partitions(
    tmp_path: Path, demo: Path, cluster: distributed.LocalCluster
) -> None:
    """The tasks' rows, published as they go and at their end, add up to the rows read;
    the total is heard once, the sum of the partitions' counts."""
    path = _write_spec(
        tmp_path,
        "cut",
        db=demo,
        chunk=50,
        fmt="jsonl",
        destination=tmp_path / "out" / "cut.jsonl",
        engine=_engine("dask", cluster),
    )
    plan = compile_plan(load_spec(path), now=NOW, run_id="20260101T000000Z-abc123")
    heard = _Heard()
    result = runner.run(plan, heard, engine=DaskEngine(cluster.scheduler_address))
    assert result.status == "succeeded", result.error
    assert sum(heard.advanced) == result.rows > 1000
    assert heard.totals == [result.rows]
    assert heard.parts == len(result.files) - 1  # and the manifest


def test_max_bytes_holds_for_the_whole_export(
    tmp_path: Path, demo: Path, cluster: distributed.LocalCluster
) -> None:
    """Each task writes less than the limit; together they write more: the run fails and
    removes them all."""
    out = tmp_path / "out" / "results.csv"
    done = _apply(
        tmp_path,
        "cut",
        ok=False,
        db=demo,
        fmt="csv",
        destination=f"{{uri: {out}, max_bytes: 60000}}",
        engine=_engine("dask", cluster),
    )
    assert "would exceed `max_bytes` (60,000 bytes" in done["error"]
    assert sorted(out.parent.iterdir()) == []


def test_incremental_runs_ship_their_window(
    tmp_path: Path, cluster: distributed.LocalCluster
) -> None:
    """The second run's tasks rebuild its window: its parts hold the rows appended since
    the first, once each."""
    db = tmp_path / "items.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO items VALUES (?, ?)", ((i, f"n{i}") for i in range(500)))
    out = tmp_path / "out" / "items.jsonl"
    spec = dict(
        db=db,
        chunk=40,
        table="items",
        fmt="jsonl",
        destination=out,
        engine=_engine("dask", cluster, count=3),
        more="incremental: {cursor: id}",
        order="",
    )
    _apply(tmp_path, "inc", **spec)
    first = [r["id"] for r in read_rows("jsonl", [Path(p["uri"]) for p in _manifest(out)["parts"]])]
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO items VALUES (?, ?)", ((i, "n") for i in range(500, 730)))
    second_run = _apply(tmp_path, "inc", **spec)
    parts = [Path(p["uri"]) for p in _manifest(out)["parts"]]
    second = [r["id"] for r in read_rows("jsonl", parts)]
    assert first == list(range(500)) and second == list(range(500, 730))
    assert second_run["rows"] == 230


def test_a_task_carries_no_secret_and_the_worker_rebuilds_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan holds the password the spec reads from the environment; the task does not,
    and the plan rebuilt from it (with the worker's environment) is the same plan."""
    secret = "s3cr3t-Pa55word"
    monkeypatch.setenv("DB_PASSWORD", secret)
    path = _write_spec(
        tmp_path,
        "pg",
        db="x",
        chunk=10,
        table="items",
        fmt="csv",
        destination="out/pg.csv",
        engine=_engine("dask"),
    )
    path.write_text(
        path.read_text().replace(
            '"sqlite:///x"', '"postgresql+psycopg://u:${DB_PASSWORD}@127.0.0.1/test"'
        )
    )
    plan = compile_plan(load_spec(path), now=NOW, run_id="20260101T000000Z-abc123")
    task = PartitionTask(recipe_of(plan), 1, KeyRange("id", 5, 9), "topic", "abort")
    assert secret.encode() in pickle.dumps(plan)
    assert secret.encode() not in cloudpickle.dumps(task)
    assert rebuilt(task.recipe) == plan
    path.write_text(path.read_text() + "\n# changed\n")
    with pytest.raises(Exception, match="differs from the one the run was started with"):
        rebuilt(task.recipe)


def test_a_worker_killed_mid_partition_has_it_written_again(
    tmp_path: Path, cluster: distributed.LocalCluster
) -> None:
    """SIGKILL the worker holding a part half written (its unnamed temp file open in the
    destination folder): the partition runs again, writing the same part names; the run
    succeeds with every row once and nothing else in the folder."""
    db = tmp_path / "big.db"
    rows = 120_000
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO items VALUES (?, ?)", ((i, f"n{i}") for i in range(rows)))
    out = tmp_path / "out" / "items.csv"
    spec = _write_spec(
        tmp_path,
        "kill",
        db=db,
        chunk=200,
        table="items",
        fmt="csv",
        destination=f"{{uri: {out}, split: {{rows: 15000}}}}",
        engine=_engine("dask", count=2),
    )
    with distributed.Client(cluster, set_as_default=False) as client:
        pids = set(client.run(os.getpid).values())
    applying = subprocess.Popen(
        [sys.executable, "-m", "exportctl", "apply", str(spec), "--json"]
        + ["--engine", "dask", "--address", cluster.scheduler_address],
        stdout=subprocess.PIPE,
        text=True,
    )
    writing = eventually(
        lambda: next((p for p in pids if temp_files(p, out.parent)), None),
        "a worker writing a part",
        timeout=30,
    )
    committed = eventually(lambda: list(out.parent.glob("*.part-*")), "a committed part")
    assert applying.poll() is None  # the run goes on: the partition is not done
    os.kill(writing, signal.SIGKILL)
    stdout, _ = applying.communicate(timeout=60)
    (done,) = json.loads(stdout)
    assert applying.returncode == 0, done
    parts = [Path(p["uri"]) for p in _manifest(out)["parts"]]
    assert set(committed) <= set(parts)  # rewritten under the same names, none added
    assert sorted(out.parent.iterdir()) == sorted([*parts, Path(f"{out}.manifest.json")])
    ids = [int(r[0]) for r in read_rows("csv", parts)[1:]]
    assert ids == list(range(rows)) and done["rows"] == rows
    with distributed.Client(cluster, set_as_default=False) as client:
        assert writing not in set(client.run(os.getpid).values())  # its nanny started another


def test_a_worker_killed_mid_upload_leaves_no_upload_open(
    tmp_path: Path, cluster: distributed.LocalCluster, s3_bucket: S3Bucket
) -> None:
    """SIGKILL a worker while it holds a multipart upload open: its partition runs again,
    and the driver aborts the upload the dead task left; every row once, no stray key."""
    db = tmp_path / "big.db"
    rows = 80_000
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO items VALUES (?, ?)", ((i, f"n{i}") for i in range(rows)))
    uri = s3_bucket.uri("out/items.csv.gz")
    destination = f'{{uri: "{uri}", s3: {{endpoint_url: "{s3_bucket.endpoint}"}}}}'
    spec = _write_spec(
        tmp_path,
        "s3kill",
        db=db,
        chunk=200,
        table="items",
        fmt="csv",
        destination=destination,
        engine=_engine("dask", cluster, count=2),
    )
    with distributed.Client(cluster, set_as_default=False) as client:
        pids = client.run(os.getpid)
        applying = subprocess.Popen(
            [sys.executable, "-m", "exportctl", "apply", str(spec), "--json"],
            stdout=subprocess.PIPE,
            text=True,
        )
        eventually(s3_bucket.uploads, "an upload under way", timeout=30)
        busy = eventually(
            lambda: next((w for w, keys in client.processing().items() if keys), None),
            "a worker running a partition",
        )
        assert applying.poll() is None
        os.kill(pids[busy], signal.SIGKILL)
        stdout, _ = applying.communicate(timeout=60)
    (done,) = json.loads(stdout)
    assert applying.returncode == 0, done
    assert s3_bucket.uploads() == []
    manifest = json.loads(s3_bucket.read("out/items.csv.gz.manifest.json"))
    keys = [p["uri"].removeprefix(f"s3://{s3_bucket.name}/") for p in manifest["parts"]]
    assert sorted(s3_bucket.keys()) == sorted([*keys, "out/items.csv.gz.manifest.json"])
    data = b"".join(s3_bucket.read(k) for k in keys)
    (tmp_path / "joined.csv.gz").write_bytes(data)
    ids = [int(r[0]) for r in read_rows("csv.gz", [tmp_path / "joined.csv.gz"])[1:]]
    assert ids == list(range(rows)) and done["rows"] == rows


def test_without_dask_the_engine_says_what_to_install(tmp_path: Path, demo: Path) -> None:
    """In a process where `distributed` cannot be imported."""
    out = tmp_path / "out" / "r.csv"
    spec = _write_spec(
        tmp_path,
        "cut",
        db=demo,
        fmt="csv",
        destination=out,
        engine=_engine("dask"),
    )
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "distributed.py").write_text("raise ImportError('no distributed here')\n")
    env = {**os.environ, "PYTHONPATH": str(blocked)}
    done = subprocess.run(
        [sys.executable, "-m", "exportctl", "apply", str(spec), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    (result,) = json.loads(done.stdout)
    assert "install `exportctl[dask]`" in result["error"]
    assert not out.parent.exists() or sorted(out.parent.iterdir()) == []
