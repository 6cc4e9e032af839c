"""Split exports: parts of N rows, each committed alone, the manifest last."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from pathlib import Path

import pytest
import zstandard
from click.testing import CliRunner

from exportctl.cli.main import main
from exportctl.demo.build import init_demo
from exportctl.destinations.uris import part_uri, parts_tag, tag_of_part, written_for

SPEC = """\
version: 1
name: {name}
source: {{type: sql, url: "sqlite:///{db}", chunk_size: 7}}
query: {{table: proxy_identities, order_by: [url], limit: {limit}}}
format: {fmt}
destination: {destination}
"""


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("split") / "demo"
    init_demo(folder, proxies=250, metrics=10, log_lines=10)
    return folder / "system.db"


def apply(folder: Path, name: str, db: Path, fmt: str, destination: str, limit: int = 1000):
    spec = folder / f"{name}.yaml"
    spec.write_text(SPEC.format(name=name, db=db, fmt=fmt, destination=destination, limit=limit))
    result = CliRunner().invoke(main, ["apply", str(spec), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)[0]


def unpack(path: Path) -> bytes:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        return gzip.decompress(raw)
    if path.suffix == ".zst":
        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
    return raw


TAG = "20261207T034437Z-0123456789ab"


@pytest.mark.parametrize(
    ("uri", "index", "expected"),
    [
        ("out/pool.csv.gz", 3, f"out/pool.{TAG}.part-00003.csv.gz"),
        ("out/pool.jsonl", 1, f"out/pool.{TAG}.part-00001.jsonl"),
        ("s3://bucket/a/pool.v2.txt.ZST", 12, f"s3://bucket/a/pool.v2.{TAG}.part-00012.txt.ZST"),
        ("pool", 2, f"pool.{TAG}.part-00002"),
    ],
)
def test_part_names_keep_the_extensions_and_carry_the_run(uri: str, index: int, expected: str):
    assert part_uri(uri, index, TAG) == expected
    assert tag_of_part(uri, expected) == TAG
    assert written_for(uri)(expected)


@pytest.mark.parametrize(
    ("fmt", "extension"),
    [("csv", ".csv.gz"), ("jsonl", ".jsonl.zst"), ("{type: text, layout: url}", ".txt")],
)
def test_parts_concatenated_are_the_unsplit_export(tmp_path: Path, db: Path, fmt, extension):
    whole = apply(tmp_path, "whole", db, fmt, f"out/whole{extension}")
    split = apply(tmp_path, "split", db, fmt, f"{{uri: out/split{extension}, split: {{rows: 60}}}}")
    out = tmp_path / "out"
    parts = sorted(out.glob(f"split.*.part-*{extension}"))
    tag = parts_tag(split["run_id"])
    assert [p.name for p in parts] == [f"split.{tag}.part-0000{i}{extension}" for i in range(1, 6)]
    assert b"".join(unpack(p) for p in parts) == unpack(out / f"whole{extension}")
    assert split["rows"] == whole["rows"] == 250

    manifest = json.loads((out / f"split{extension}.manifest.json").read_text())
    assert [p["rows"] for p in manifest["parts"]] == [60, 60, 60, 60, 10]
    for listed, path in zip(manifest["parts"], parts, strict=True):
        assert listed["uri"] == str(path)
        assert listed["bytes"] == path.stat().st_size
        assert listed["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_empty_split_export_is_one_empty_part(tmp_path: Path, db: Path):
    done = apply(tmp_path, "none", db, "csv", "{uri: out/none.csv, split: {rows: 10}}", limit=0)
    parts = sorted((tmp_path / "out").glob("none.*part-*"))
    assert [p.name for p in parts] == [f"none.{parts_tag(done['run_id'])}.part-00001.csv"]
    assert parts[0].read_text().startswith('"url","protocol"')


def test_json_cannot_be_split(tmp_path: Path, db: Path):
    spec = tmp_path / "json.yaml"
    spec.write_text(
        SPEC.format(
            name="j", db=db, fmt="json", destination="{uri: o.json, split: {rows: 5}}", limit=9
        )
    )
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 2
    assert "$.destination.split" in result.output
