"""Partitioned exports of real SQLite and PostgreSQL tables, through the CLI: the parts,
read back in order with readers of their own (csv, json, pyarrow), are the unpartitioned
export ordered by the key, row for row; NULL keys once; `exportctl verify` passes."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from exportctl.cli.main import main
from tests.conftest import pg_url
from tests.support.jsonlines import json_lines

SPEC = """\
version: 1
name: {name}
source: {{type: sql, url: "{url}", chunk_size: 7}}
query: {{table: items, {query}}}
format: {fmt}
destination: out/{name}.{fmt}
{engine}
"""
START = datetime(2026, 1, 1)


def _rows(count: int) -> list[tuple[Any, ...]]:
    """Sparse ids, every seventh NULL; names a CSV writer must quote, one not ASCII."""
    names = ["plain", "a,comma", 'a "quote"', "two\nlines", "naïve ☃"]
    return [
        (
            None if i % 7 == 3 else i * i - 40,
            f"{names[i % len(names)]} {i}",
            i * 1.25,
            START + timedelta(minutes=37 * i),
        )
        for i in range(count)
    ]


def _table(url: str, rows: list[tuple[Any, ...]]) -> None:
    engine = sa.create_engine(url)
    items = sa.Table(
        "items",
        sa.MetaData(),
        sa.Column("id", sa.BigInteger),
        sa.Column("name", sa.Text),
        sa.Column("amount", sa.Float),
        sa.Column("ts", sa.DateTime),
    )
    with engine.begin() as conn:
        items.drop(conn, checkfirst=True)
        items.create(conn)
        if rows:
            conn.execute(items.insert(), [dict(zip(items.c.keys(), r, strict=True)) for r in rows])
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'items.db'}"
    request.getfixturevalue("pg_engine")
    return pg_url(request.getfixturevalue("pg_schema"))


def _apply(folder: Path, name: str, **parts: str) -> dict[str, Any]:
    spec = folder / f"{name}.yaml"
    spec.write_text(SPEC.format(name=name, **parts))
    result = CliRunner().invoke(main, ["apply", str(spec), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (done,) = json.loads(result.stdout)
    assert done["status"] == "succeeded", done
    return dict(done)


def _manifest(folder: Path, name: str, fmt: str) -> dict[str, Any]:
    return dict(json.loads((folder / "out" / f"{name}.{fmt}.manifest.json").read_text()))


def _read(fmt: str, files: list[Path]) -> list[Any]:
    """The files, concatenated in order, as rows, each format by a reader of its own."""
    if fmt == "parquet":
        return pa.concat_tables([pq.read_table(f) for f in files]).to_pylist()
    text = b"".join(f.read_bytes() for f in files).decode()
    if fmt == "csv":
        return list(csv.reader(io.StringIO(text, newline="")))
    return json_lines(text)


def _both(folder: Path, url: str, fmt: str, cut: str, query: str = "order_by: [id, name]"):
    """The partitioned export's parts read back, its manifest, and the unpartitioned one's
    rows (the same spec with no `engine`; the name orders NULL keys, as `id` ties them)."""
    engine = f"engine: {{type: local, partitions: {{{cut}}}}}"
    _apply(folder, "cut", url=url, fmt=fmt, query=query, engine=engine)
    _apply(folder, "whole", url=url, fmt=fmt, query=query, engine="")
    manifest = _manifest(folder, "cut", fmt)
    parts = [Path(p["uri"]) for p in manifest["parts"]]
    return _read(fmt, parts), manifest, _read(fmt, [folder / "out" / f"whole.{fmt}"])


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_the_parts_in_order_are_the_export_ordered_by_the_key(
    tmp_path: Path, url: str, fmt: str
) -> None:
    rows = _rows(150)
    _table(url, rows)
    parts, manifest, whole = _both(tmp_path, url, fmt, "by: id, count: 5")
    assert parts == whole
    assert manifest["rows"] == len(rows) == len(whole) - (fmt == "csv")
    ranges = [p["key_range"] for p in manifest["parts"]]
    nulls = [r for r in ranges if r.get("null")]
    assert nulls == [{"key": "id", "null": True}]  # NULL keys: one partition, one part
    null_rows = [p["rows"] for p in manifest["parts"] if p["key_range"].get("null")]
    assert null_rows == [sum(r[0] is None for r in rows)]
    keyed = [r for r in ranges if not r.get("null")]
    assert len(keyed) == 5 and keyed[0]["from"] is None and keyed[-1]["to"] is None
    assert [r["to"] for r in keyed[:-1]] == [r["from"] for r in keyed[1:]]


def test_a_timestamp_key_cut_by_size(tmp_path: Path, url: str) -> None:
    rows = _rows(90)
    _table(url, rows)
    parts, manifest, whole = _both(tmp_path, url, "jsonl", "by: ts, size: 20", "order_by: [ts]")
    assert parts == whole and len(parts) == 90
    keyed = [p["key_range"] for p in manifest["parts"] if not p["key_range"].get("null")]
    assert len(keyed) == 5  # 90 rows, about 20 each: 5 ranges of equal width
    assert datetime.fromisoformat(keyed[1]["from"]) > START


def test_a_skewed_key_cut_by_size_where_the_database_has_quantiles(
    tmp_path: Path, url: str
) -> None:
    """900 ids packed at the bottom, 100 spread up to a billion: PostgreSQL's quantiles
    cut pieces of about `size` rows; elsewhere the ranges are of equal width."""
    rows = [(i if i < 900 else i * 1_000_000, f"n{i}", 1.0, START) for i in range(1000)]
    _table(url, rows)
    parts, manifest, whole = _both(tmp_path, url, "jsonl", "by: id, size: 100", "order_by: [id]")
    assert parts == whole and len(parts) == 1000
    keyed = [p["rows"] for p in manifest["parts"] if not p["key_range"].get("null")]
    if url.startswith("postgresql"):
        assert len(keyed) == 10 and max(keyed) <= 101, keyed
    else:  # equal width: the packed ids all in the first range
        assert keyed[0] >= 900, keyed


def test_a_timestamp_key_cut_into_days(tmp_path: Path, url: str) -> None:
    """`every: 1d`: one partition per calendar day, midnight to midnight, each part's rows
    within its day; together the unpartitioned export."""
    rows = _rows(120)  # every 37 minutes from 2026-01-01: 74 hours, four calendar days
    _table(url, rows)
    parts, manifest, whole = _both(tmp_path, url, "jsonl", "by: ts, every: 1d", "order_by: [ts]")
    assert parts == whole and len(parts) == 120
    keyed = [p for p in manifest["parts"] if not p["key_range"].get("null")]
    edges = [datetime.fromisoformat(p["key_range"]["from"]) for p in keyed[1:]]
    assert [e.replace(tzinfo=None) for e in edges] == [START + timedelta(days=d) for d in (1, 2, 3)]
    days = {datetime.fromisoformat(r["ts"]).date() for r in parts}
    assert len(days) == len(keyed) == 4
    by_day = {d: sum(datetime.fromisoformat(r["ts"]).date() == d for r in parts) for d in days}
    assert [p["rows"] for p in keyed] == [by_day[d] for d in sorted(days)]


@pytest.mark.parametrize(
    ("rows", "cut", "files"),
    [
        # The first partition (NULL keys, on SQLite) writes the header even if empty; a
        # later empty one writes nothing.
        ([], "by: id, count: 4", [0]),
        (
            [(5, "a", 1.0, START), (5, "b", 2.0, START), (None, "c", 3.0, START)],
            "by: id, count: 8",
            [1, 2],
        ),
        (_rows(3), "by: id, count: 50", [0, 1, 1, 1]),  # a range per row at most
    ],
    ids=["empty", "one-distinct-key", "more-partitions-than-rows"],
)
def test_small_tables_export_every_row_once(
    tmp_path: Path, rows: list[tuple[Any, ...]], cut: str, files: list[int]
) -> None:
    url = f"sqlite:///{tmp_path / 'items.db'}"
    _table(url, rows)
    parts, manifest, whole = _both(tmp_path, url, "csv", cut)
    assert parts == whole
    assert len(parts) == len(rows) + 1  # the header once
    assert manifest["rows"] == len(rows)
    assert [p["rows"] for p in manifest["parts"]] == files


def test_the_bounds_are_those_of_the_filtered_rows(tmp_path: Path) -> None:
    """The boundary query reads the rows the export reads: the filter narrows the ranges."""
    url = f"sqlite:///{tmp_path / 'items.db'}"
    rows = _rows(100)
    _table(url, rows)
    query = "where: {field: id, ge: 5000}, order_by: [id, name]"
    parts, manifest, whole = _both(tmp_path, url, "csv", "by: id, count: 2", query)
    assert parts == whole
    wanted = sorted(r[0] for r in rows if r[0] is not None and r[0] >= 5000)
    assert [int(r[0]) for r in parts[1:]] == wanted
    keyed = [p["key_range"] for p in manifest["parts"] if not p["key_range"].get("null")]
    assert keyed[0]["to"] == wanted[0] + (wanted[-1] - wanted[0] + 1) // 2


def test_verify_passes_a_partitioned_export(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'items.db'}"
    _table(url, _rows(40))
    engine = "engine: {partitions: {by: id, count: 3}}"
    done = _apply(tmp_path, "cut", url=url, fmt="csv", query="order_by: [id]", engine=engine)
    shown = CliRunner().invoke(main, ["verify", done["run_id"], "--json"])
    assert shown.exit_code == 0, shown.output
    checks = json.loads(shown.stdout)
    assert len(checks) == 5 and all(c["ok"] for c in checks)  # 4 parts and the manifest


def test_the_parts_hold_the_tables_rows_as_sqlite3_reads_them(tmp_path: Path) -> None:
    """Every row once, NULL keys included, against a reader that is not the exporter's."""
    path = tmp_path / "items.db"
    _table(f"sqlite:///{path}", _rows(60))
    engine = "engine: {partitions: {by: id, count: 4}}"
    _apply(
        tmp_path, "cut", url=f"sqlite:///{path}", fmt="csv", query="order_by: [id]", engine=engine
    )
    manifest = _manifest(tmp_path, "cut", "csv")
    exported = _read("csv", [Path(p["uri"]) for p in manifest["parts"]])[1:]
    with sqlite3.connect(path) as conn:
        table = conn.execute("SELECT id, name FROM items").fetchall()
    assert sorted((r[0] or "", r[1]) for r in exported) == sorted(
        ("" if i is None else str(i), n) for i, n in table
    )


def test_incremental_runs_cut_only_their_window(tmp_path: Path) -> None:
    """Each run's bounds are its window's: the second run's ranges start past the first's
    rows, and the two runs' parts hold every keyed row once."""
    path = tmp_path / "items.db"
    rows = _rows(80)
    _table(f"sqlite:///{path}", rows[:50])
    engine = "engine: {partitions: {by: id, count: 3}}\nincremental: {cursor: id}"
    spec = dict(url=f"sqlite:///{path}", fmt="jsonl", query="where: {field: amount, ge: 0}")
    first = _apply(tmp_path, "cut", engine=engine, **spec)
    seen = _read("jsonl", [Path(p["uri"]) for p in _manifest(tmp_path, "cut", "jsonl")["parts"]])
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO items VALUES (?, ?, ?, ?)", [(*r[:3], str(r[3])) for r in rows[50:]]
        )
    second = _apply(tmp_path, "cut", engine=engine, **spec)
    assert first["run_id"] != second["run_id"]
    manifest = _manifest(tmp_path, "cut", "jsonl")
    later = _read("jsonl", [Path(p["uri"]) for p in manifest["parts"]])
    first_keys = [r["id"] for r in seen]
    assert first_keys == sorted(r[0] for r in rows[:50] if r[0] is not None)
    assert [r["id"] for r in later] == sorted(r[0] for r in rows[50:] if r[0] is not None)
    keyed = [p["key_range"] for p in manifest["parts"] if not p["key_range"].get("null")]
    assert keyed[1]["from"] > max(first_keys)


def test_a_postgresql_timestamptz_key(tmp_path: Path, pg_engine: sa.Engine, pg_schema: str) -> None:
    """Aware timestamps: the ranges' bounds carry their offset, and cut the same rows."""
    url = pg_url(pg_schema)
    with pg_engine.begin() as conn:
        conn.execute(
            sa.text(f'CREATE TABLE "{pg_schema}".items (id int, name text, ts timestamptz)')
        )
        conn.execute(
            sa.text(
                f"INSERT INTO \"{pg_schema}\".items SELECT i, 'n' || i, "
                "timestamptz '2026-03-29 00:30:00+01' + i * interval '7 minutes' "
                "FROM generate_series(1, 70) AS i"
            )
        )
        conn.execute(sa.text(f"INSERT INTO \"{pg_schema}\".items VALUES (0, 'none', NULL)"))
    parts, manifest, whole = _both(tmp_path, url, "parquet", "by: ts, count: 4", "order_by: [ts]")
    assert parts == whole and len(parts) == 71
    assert parts[-1]["ts"] is None  # PostgreSQL sorts NULLs last, and so do the partitions
    keyed = [p["key_range"] for p in manifest["parts"] if not p["key_range"].get("null")]
    assert len(keyed) == 4 and datetime.fromisoformat(keyed[1]["from"]).utcoffset() is not None


def test_a_key_neither_integer_nor_timestamp_fails_the_run_writing_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'items.db'}"
    _table(url, _rows(20))
    spec = tmp_path / "cut.yaml"
    engine = "engine: {partitions: {by: name, count: 3}}"
    spec.write_text(
        SPEC.format(name="cut", url=url, fmt="csv", query="order_by: [name]", engine=engine)
    )
    result = CliRunner().invoke(main, ["apply", str(spec), "--json"])
    assert result.exit_code == 1
    (done,) = json.loads(result.stdout)
    assert done["status"] == "failed"
    assert "partitions cut integer and timestamp keys; `name` holds str values" in done["error"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_failed_incremental_partitioned_run_leaves_no_part(tmp_path: Path) -> None:
    """Its retry cannot resume after parts written in key order: none is kept."""
    url = f"sqlite:///{tmp_path / 'items.db'}"
    _table(url, _rows(100))
    spec = tmp_path / "cut.yaml"
    engine = "engine: {partitions: {by: id, count: 4}}\nincremental: {cursor: id}"
    text = SPEC.format(
        name="cut", url=url, fmt="csv", query="where: {field: amount, ge: 0}", engine=engine
    )
    spec.write_text(
        text.replace("destination: out/cut.csv", "destination: {uri: out/cut.csv, max_bytes: 2500}")
    )
    result = CliRunner().invoke(main, ["apply", str(spec), "--json"])
    (done,) = json.loads(result.stdout)
    assert done["status"] == "failed" and "max_bytes" in done["error"]
    assert done["rows"] > 0  # parts were written before the limit, then removed
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


def test_sqlite_timestamps_stored_without_microseconds_still_fall_once(tmp_path: Path) -> None:
    """SQLite compares DATETIME as text: a stored `... 10:00:00` sorts before a bound of
    `... 10:00:00.000000`. The ranges compare alike on every side, so each row still falls
    in one, and in the order `order_by: [ts]` reads. (23 ranges of 0h..23h: every bound is
    a stored hour.)"""
    path = tmp_path / "items.db"
    _table(f"sqlite:///{path}", [])
    with sqlite3.connect(path) as conn:
        rows = [(i, f"n{i}", 1.0, f"2026-01-01 {i % 24:02d}:00:00") for i in range(48)]
        conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?)", rows)
    parts, _, whole = _both(
        tmp_path, f"sqlite:///{path}", "csv", "by: ts, count: 23", "order_by: [ts, id]"
    )
    assert parts == whole and len(parts) == 49
