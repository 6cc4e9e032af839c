"""`exportctl apply --engine dask --address ...` as a user runs it: a `dask scheduler` and two
`dask worker` processes on loopback (the venv's console scripts), the workers holding the
S3 credentials in their environment, an export to moto's S3 server; and the options'
refusals."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from exportctl.cli.main import main
from exportctl.demo.build import init_demo
from tests.support.dask_runs import read_rows
from tests.support.servers import S3Bucket, free_port

BIN = Path(sys.executable).parent

SPEC = """\
version: 1
name: results
source: {{type: sql, url: "sqlite:///{db}", chunk_size: 101}}
query: {{table: validation_results, order_by: [id]}}
format: csv
destination:
  uri: "{uri}"
  s3: {{endpoint_url: "{endpoint}"}}
engine: {{partitions: {{by: id, count: 3}}}}
"""


@pytest.fixture
def scheduler(s3_bucket: S3Bucket, tmp_path: Path) -> Iterator[str]:
    """A scheduler and two workers, started as a user would; the workers inherit this
    process's environment, with the S3 credentials the bucket's fixture set."""
    address = f"tcp://127.0.0.1:{free_port()}"
    log = (tmp_path / "cluster.log").open("wb")
    started = [
        subprocess.Popen(
            [BIN / "dask", "scheduler", "--host", "127.0.0.1"]
            + ["--port", address.rsplit(":", 1)[1], "--no-dashboard"],
            stdout=log,
            stderr=log,
        )
    ]
    for name in ("one", "two"):
        started.append(
            subprocess.Popen(
                [BIN / "dask", "worker", address, "--name", name, "--nthreads", "1"]
                + ["--no-dashboard"],
                stdout=log,
                stderr=log,
            )
        )
    try:
        yield address
    finally:
        for process in started[1:]:  # the workers, then the scheduler they report to
            process.terminate()
        for process in [*started[1:], started[0]]:
            if process is started[0]:
                process.terminate()
            process.wait(timeout=30)
        log.close()


def test_apply_on_a_dask_scheduler_to_s3(
    tmp_path: Path, s3_bucket: S3Bucket, scheduler: str
) -> None:
    init_demo(tmp_path / "demo", proxies=500, metrics=10, log_lines=10)
    db = tmp_path / "demo" / "system.db"
    spec = tmp_path / "results.yaml"
    uri = s3_bucket.uri("exports/results.csv.gz")
    spec.write_text(SPEC.format(db=db, uri=uri, endpoint=s3_bucket.endpoint))
    applied = subprocess.run(
        [BIN / "exportctl", "apply", spec, "--engine", "dask", "--address", scheduler, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert applied.returncode == 0, applied.stderr
    (done,) = json.loads(applied.stdout)
    manifest = json.loads(s3_bucket.read("exports/results.csv.gz.manifest.json"))
    keys = [p["uri"].removeprefix(f"s3://{s3_bucket.name}/") for p in manifest["parts"]]
    assert sorted(s3_bucket.keys()) == sorted([*keys, "exports/results.csv.gz.manifest.json"])
    assert s3_bucket.uploads() == []
    local = tmp_path / "parts"
    local.mkdir()
    for key in keys:
        (local / key.rsplit("/", 1)[1]).write_bytes(s3_bucket.read(key))
    rows = read_rows("csv.gz", [local / k.rsplit("/", 1)[1] for k in keys])
    with sqlite3.connect(db) as conn:
        ids = [i for (i,) in conn.execute("SELECT id FROM validation_results ORDER BY id")]
    assert [int(r[0]) for r in rows[1:]] == ids and done["rows"] == len(ids)
    assert [p["key_range"].get("null") for p in manifest["parts"]] == [True, None, None, None]
    assert all(f".{done['run_id']}.part-" in k for k in keys)
    verified = CliRunner().invoke(main, ["verify", done["run_id"], "--json"])
    assert verified.exit_code == 0, verified.output


@pytest.mark.parametrize(
    ("args", "engine", "says"),
    [
        (["--address", "tcp://127.0.0.1:1"], "{partitions: {by: id, count: 2}}", "--engine dask"),
        (["--engine", "dask"], "{type: local}", "give it `partitions`"),
    ],
    ids=["address-without-dask", "dask-without-partitions"],
)
def test_the_engine_options_refuse_what_cannot_run(
    tmp_path: Path, args: list[str], engine: str, says: str
) -> None:
    spec = tmp_path / "cut.yaml"
    spec.write_text(
        "version: 1\nname: cut\nsource: {type: sql, url: 'sqlite:///x.db'}\n"
        f"query: {{table: t}}\nformat: csv\ndestination: out/cut.csv\nengine: {engine}\n"
    )
    refused = CliRunner().invoke(main, ["apply", str(spec), *args])
    assert refused.exit_code == 2
    assert says in refused.output
    assert not (tmp_path / "out").exists()


def test_dry_run_shows_the_engine_it_would_run_on(tmp_path: Path) -> None:
    spec = tmp_path / "cut.yaml"
    spec.write_text(
        "version: 1\nname: cut\nsource: {type: sql, url: 'sqlite:///x.db'}\n"
        "query: {table: t}\nformat: csv\ndestination: out/cut.csv\n"
        "engine: {partitions: {by: id, count: 2}}\n"
    )
    args = ["apply", str(spec), "--dry-run", "--json", "--engine", "dask"]
    shown = CliRunner().invoke(main, [*args, "--address", "tcp://10.0.0.5:8786"])
    assert shown.exit_code == 0, shown.output
    (plan,) = json.loads(shown.stdout)
    assert plan["engine"]["type"] == "dask"
    assert plan["engine"]["address"] == "tcp://10.0.0.5:8786"
