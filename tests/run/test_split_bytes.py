"""Split exports by size: a part closes at the first write that brings it to `bytes` as stored.

The limits checked are the ones the schema documents for `destination.split.bytes`: every
part but the last stores at least `bytes`, and at most `bytes` plus its last write (at most
one source chunk) plus the codec's closing bytes; in practice the last write is about a row.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import sqlite3
import tempfile
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import zstandard
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportctl.cli.main import main
from exportctl.plan.compiler import compile_plan
from exportctl.run import runner
from exportctl.run.result import RunResult
from exportctl.spec.load import load_spec

ROWS = 400
EXTENSIONS = {"none": "", "gzip": ".gz", "zstd": ".zst"}
#: What a codec writes when it closes a part: gzip's final block and trailer, zstd's last block.
CLOSING = {"none": 0, "gzip": 10, "zstd": 7}
SPEC = """\
version: 1
name: {name}
source: {{type: sql, url: "sqlite:///{db}", chunk_size: {chunk}}}
query: {{table: {table}, order_by: [id], limit: {limit}}}
format: {fmt}
destination: {destination}
"""


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tables of text that compresses some: `items`, rows of much the same size (within
    a factor of six); `mixed`, short rows first, then rows ten times longer."""
    path = tmp_path_factory.mktemp("split-bytes") / "items.db"
    rng = random.Random(7)
    words = [rng.choice("abcdefghij") * rng.randint(1, 6) for _ in range(50)]

    def note(low: int, high: int) -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(low, high)))

    shapes = {
        "items": lambda i: note(10, 60),
        "mixed": lambda i: note(1, 4) if i <= ROWS // 4 else note(30, 60),
    }
    with closing(sqlite3.connect(path)) as conn, conn:
        for table, shape in shapes.items():
            conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, note TEXT, score REAL)")
            conn.executemany(
                f"INSERT INTO {table} VALUES (?, ?, ?)",
                [(i, shape(i), rng.random()) for i in range(1, ROWS + 1)],
            )
    return path


def spec_text(
    db: Path, name: str, fmt: str, destination: str, chunk: int, limit: int, table: str = "items"
) -> str:
    return SPEC.format(
        name=name, db=db, fmt=fmt, destination=destination, chunk=chunk, limit=limit, table=table
    )


def apply(folder: Path, text: str) -> dict:
    spec = folder / "spec.yaml"
    spec.write_text(text)
    result = CliRunner().invoke(main, ["apply", str(spec), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)[0]


def unpack(data: bytes, codec: str) -> bytes:
    """Decompressed with the codec's own module: gzip members and zstd frames in a row too."""
    if codec == "gzip":
        return gzip.decompress(data)
    if codec == "zstd":
        reader = zstandard.ZstdDecompressor().stream_reader(
            io.BytesIO(data), read_across_frames=True
        )
        return reader.read()
    return data


def read(data: bytes, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        return pd.read_csv(io.BytesIO(data))
    return pd.read_json(io.BytesIO(data), lines=True)


def row_lengths(document: bytes, fmt: str) -> list[int]:
    """The encoded length of each row (these rows hold no line breaks)."""
    lines = document.splitlines(keepends=True)
    return [len(line) for line in (lines[1:] if fmt == "csv" else lines)]


def slack(lengths: list[int], rows: int, codec: str) -> int:
    """Most a part may store past `bytes`: `rows` rows written last (deflate at worst grows
    data by an eighth, zstd by far less) and the codec's closing bytes."""
    return sum(sorted(lengths)[-rows:]) * 9 // 8 + 64 + CLOSING[codec]


@pytest.mark.parametrize("codec", ["none", "gzip", "zstd"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_parts_reach_the_limit_by_about_a_row_and_join_back(
    tmp_path: Path, db: Path, fmt: str, codec: str
):
    limit, chunk = (6000 if codec == "none" else 2500), 25
    name = f"items.{fmt}{EXTENSIONS[codec]}"
    apply(tmp_path, spec_text(db, "whole", fmt, f"whole/{name}", chunk, ROWS))
    destination = f"{{uri: split/{name}, split: {{bytes: {limit}}}}}"
    result = apply(tmp_path, spec_text(db, "split", fmt, destination, chunk, ROWS))

    whole = tmp_path / "whole" / name
    parts = sorted((tmp_path / "split").glob("items.*part-*"))
    sizes = [p.stat().st_size for p in parts]
    assert len(parts) >= 5
    document = unpack(whole.read_bytes(), codec)
    lengths = row_lengths(document, fmt)
    for size in sizes[:-1]:
        assert limit <= size <= limit + slack(lengths, 1, codec)  # usually one row past it
        assert size <= limit + slack(lengths, chunk, codec)  # never more than a chunk past it
    assert sizes[-1] <= limit + slack(lengths, chunk, codec)

    joined = unpack(b"".join(p.read_bytes() for p in parts), codec)
    assert joined == document
    expected = pd.read_csv(whole) if fmt == "csv" else pd.read_json(whole, lines=True)
    pd.testing.assert_frame_equal(read(joined, fmt), expected)
    assert expected["id"].tolist() == list(range(1, ROWS + 1))

    manifest = json.loads((tmp_path / "split" / f"{name}.manifest.json").read_text())
    assert result["rows"] == manifest["rows"] == sum(p["rows"] for p in manifest["parts"]) == ROWS
    assert [p["uri"] for p in manifest["parts"]] == [str(p) for p in parts]
    for index, (listed, path) in enumerate(zip(manifest["parts"], parts, strict=True)):
        assert listed["bytes"] == path.stat().st_size
        assert listed["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        header = fmt == "csv" and index == 0
        assert listed["rows"] == len(unpack(path.read_bytes(), codec).splitlines()) - header
    verified = CliRunner().invoke(main, ["verify", result["run_id"]])
    assert verified.exit_code == 0, verified.output


def test_a_part_ends_at_its_rows_or_its_bytes_whichever_comes_first(tmp_path: Path, db: Path):
    limit, rows = 2000, 20
    destination = f"{{uri: out/items.jsonl, split: {{rows: {rows}, bytes: {limit}}}}}"
    apply(tmp_path, spec_text(db, "both", "jsonl", destination, 7, ROWS, table="mixed"))

    parts = sorted((tmp_path / "out").glob("items.*part-*"))
    counted = [(len(p.read_bytes().splitlines()), p.stat().st_size) for p in parts]
    assert sum(n for n, _ in counted) == ROWS
    for n, size in counted[:-1]:
        assert (n == rows and size < limit) or (n < rows and size >= limit)
    assert (rows, True) in {(n, size < limit) for n, size in counted}  # the short rows
    assert any(n < rows for n, _ in counted[:-1])  # the long rows


def test_a_row_larger_than_the_limit_is_a_part_of_its_own(tmp_path: Path, db: Path):
    apply(tmp_path, spec_text(db, "tiny", "csv", "{uri: o/i.csv, split: {bytes: 1B}}", 9, 30))

    parts = sorted((tmp_path / "o").glob("i.*part-*"))
    assert len(parts) == 30
    assert [len(p.read_bytes().splitlines()) for p in parts] == [2] + [1] * 29  # header first


@pytest.mark.parametrize(
    ("fmt", "destination", "complaint"),
    [
        ("csv", "{uri: o.csv.zip, split: {bytes: 1MB}}", "split: zip archives do not join"),
        ("json", "{uri: o.json, split: {bytes: 1MB}}", "split: a JSON array cannot be split"),
        (
            "csv",
            "{uri: o.csv, split: {bytes: 1MB}, manifest: false}",
            "manifest: a split export needs its manifest",
        ),
        ("csv", "{uri: o.csv, split: {}}", "split: {} is empty: give at least one of `rows`"),
        ("csv", "{uri: o.csv, split: {bytes: 10 MiBs}}", 'split.bytes: "10 MiBs"'),
    ],
)
def test_splits_by_bytes_that_cannot_work_are_refused(
    tmp_path: Path, db: Path, fmt: str, destination: str, complaint: str
):
    spec = tmp_path / "bad.yaml"
    spec.write_text(spec_text(db, "bad", fmt, destination, 9, 9))
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 2
    assert f"$.destination.{complaint}" in result.output, result.output


def test_sizes_are_read_in_the_schemas_units(tmp_path: Path, db: Path):
    spec = tmp_path / "s.yaml"
    spec.write_text(spec_text(db, "s", "csv", "{uri: o.csv, split: {bytes: 1.5 KiB}}", 9, 9))
    assert load_spec(spec, env={}).destination.split_bytes == 1536


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    fmt=st.sampled_from(["csv", "jsonl"]),
    codec=st.sampled_from(["none", "gzip", "zstd"]),
    limit=st.integers(500, 8000),
    max_rows=st.none() | st.integers(5, 80),
    chunk=st.integers(1, 60),
    count=st.integers(0, 120),
)
def test_no_row_is_lost_or_repeated_whatever_the_limits(
    db: Path, fmt: str, codec: str, limit: int, max_rows: int | None, chunk: int, count: int
):
    split = f"{{bytes: {limit}}}" if max_rows is None else f"{{rows: {max_rows}, bytes: {limit}}}"
    name = f"items.{fmt}{EXTENSIONS[codec]}"
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        run(root, spec_text(db, "whole", fmt, f"whole/{name}", chunk, count, "mixed"))
        destination = f"{{uri: p/{name}, split: {split}}}"
        result = run(root, spec_text(db, "split", fmt, destination, chunk, count, "mixed"))
        whole = root / "whole" / name
        parts = sorted((root / "p").glob("items.*part-*"))
        assert [f[0] for f in result.files if f[1] == "part"] == [str(p) for p in parts]

        document = unpack(whole.read_bytes(), codec)
        assert unpack(b"".join(p.read_bytes() for p in parts), codec) == document
        if count:
            assert read(document, fmt)["id"].tolist() == list(range(1, count + 1))
        lengths = row_lengths(document, fmt) or [0]
        manifest = json.loads((root / "p" / f"{name}.manifest.json").read_text())
        for part in manifest["parts"]:
            assert part["bytes"] <= limit + slack(lengths, chunk, codec)
        for part in manifest["parts"][:-1]:
            assert part["bytes"] >= limit or part["rows"] == max_rows
        assert sum(p["rows"] for p in manifest["parts"]) == count
        assert all(p["rows"] >= 1 for p in manifest["parts"]) or count == 0
        assert max_rows is None or all(p["rows"] <= max_rows for p in manifest["parts"])


def run(root: Path, text: str) -> RunResult:
    spec = root / f"{len(list(root.glob('*.yaml')))}.yaml"
    spec.write_text(text)
    plan = compile_plan(load_spec(spec, env={}), now=datetime.now(UTC), run_id="r1")
    result = runner.run(plan)
    assert result.status == "succeeded", result.error
    return result
