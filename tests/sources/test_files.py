"""The `files` source: earlier exports and proxywhirl's L2 shards read back as records."""

from __future__ import annotations

import gzip
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportctl.plan.compiler import compile_plan
from exportctl.run import runner
from exportctl.spec.load import load_spec

NOW = datetime(2026, 12, 1, tzinfo=UTC)
text = st.one_of(
    st.none(), st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"))
)
rows_strategy = st.lists(
    st.tuples(text, st.integers(-(2**63), 2**63 - 1) | st.none()), min_size=0, max_size=25
)


def apply(folder: Path, name: str, source: str, fmt: str, destination: str) -> Any:
    spec = folder / f"{name}.yaml"
    spec.write_text(
        f"version: 1\nname: {name}\nsource: {source}\nformat: {fmt}\ndestination: {destination}\n",
        encoding="utf-8",
    )
    result = runner.run(compile_plan(load_spec(spec, env={}), now=NOW, run_id="r"))
    assert result.status == "succeeded", result.error
    return result


def database(folder: Path, rows: list[tuple[Any, Any]]) -> Path:
    path = folder / "source.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT, n INTEGER)")
        db.executemany("INSERT INTO t (note, n) VALUES (?, ?)", rows)
    db.close()
    return path


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows_strategy, first=st.sampled_from(["csv", "jsonl", "parquet"]))
def test_an_export_re_exported_through_files_is_the_table(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[Any, Any]], first: str
) -> None:
    folder = tmp_path_factory.mktemp("files")
    db = database(folder, rows)
    exported = f"{folder}/first.{first}" + ("" if first == "parquet" else ".gz")
    table = f"{{type: sql, url: 'sqlite:///{db}'}}\nquery: {{table: t, order_by: [id]}}"
    apply(folder, "first", table, first, exported)

    apply(
        folder,
        "again",
        f"{{type: files, path: '{exported}'}}",
        "parquet",
        f"{folder}/again.parquet",
    )

    got = pq.read_table(folder / "again.parquet").to_pylist()  # pyarrow, not our reader
    with sqlite3.connect(db) as connection:
        want = [
            {"id": i, "note": note, "n": n}
            for i, note, n in connection.execute("SELECT id, note, n FROM t ORDER BY id")
        ]
    connection.close()
    if first == "csv":  # CSV holds text: NULL and the empty string stay apart
        want = [{k: None if v is None else str(v) for k, v in row.items()} for row in want]
    assert got == want


def test_l2_shards_by_glob_gzipped_in_name_order(tmp_path: Path) -> None:
    shards = tmp_path / "proxies"
    shards.mkdir()
    records = [{"key": f"k{i}", "proxy_url": f"http://10.0.0.{i}:80", "n": i} for i in range(6)]
    for shard in range(3):
        part = [json.dumps(r) + "\n" for r in records[shard * 2 : shard * 2 + 2]]
        (shards / f"shard_{shard:02d}.jsonl.gz").write_bytes(gzip.compress("".join(part).encode()))

    apply(
        tmp_path,
        "l2",
        "{type: files, path: 'proxies/shard_*.jsonl.gz'}",
        "jsonl",
        f"{tmp_path}/out.jsonl",
    )

    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == records


def test_s3_glob(tmp_path: Path, s3_bucket) -> None:
    for name in ("a", "b"):
        s3_bucket.client.put_object(
            Bucket=s3_bucket.name, Key=f"exports/{name}.jsonl", Body=f'{{"x": "{name}"}}\n'.encode()
        )
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key="other/c.jsonl", Body=b'{"x": "c"}\n')

    source = f"{{type: files, path: 's3://{s3_bucket.name}/exports/*.jsonl'}}"
    apply(tmp_path, "s3", source, "jsonl", f"{tmp_path}/out.jsonl")

    assert (tmp_path / "out.jsonl").read_text().splitlines() == ['{"x":"a"}', '{"x":"b"}']


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a.csv": '"x"\n"1"\n', "b.csv": '"y"\n"2"\n'}, "b.csv: its columns differ from those of"),
        ({"a.jsonl": '{"x": 1}\n[1, 2]\n'}, "a.jsonl:2: a JSON list, not an object"),
        ({"a.jsonl": '{"x": 1}\n{"x": 1\n'}, "a.jsonl:2: not a JSON line"),
        ({"a.txt": "x\n"}, "a.txt: cannot tell its format from its name"),
    ],
)
def test_bad_files_fail_naming_file_and_line(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "version: 1\nname: bad\nsource: {type: files, path: 'a.*'}\nformat: jsonl\n"
        f"destination: {tmp_path}/out.jsonl\n".replace("'a.*'", "'[ab].*'")
    )

    result = runner.run(compile_plan(load_spec(spec, env={}), now=NOW, run_id="r"))

    assert result.status == "failed" and message in str(result.error)
    assert not (tmp_path / "out.jsonl").exists()
