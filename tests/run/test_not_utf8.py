"""Text that is not UTF-8 is named (table, column, row key) and validation takes its row."""

from __future__ import annotations

import sqlite3
from contextlib import closing, nullcontext
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.cli import apply, write_spec
from tests.support.jsonlines import json_lines
from tests.support.sqlite_paths import general_path


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


#: Bytes that are not UTF-8: stray continuation bytes, overlong forms, surrogates, cut-off
#: sequences, and whatever else hypothesis finds.
BAD = st.one_of(
    st.sampled_from([b"\xff", b"a\xc0\xafb", b"\xed\xa0\x80", b"\xe2\x82", b"ok\x80"]),
    st.binary(min_size=1, max_size=6).filter(_not_utf8),
)
VALUE = st.one_of(st.none(), st.text(max_size=5).filter(lambda t: "\x00" not in t), BAD)


def make_db(path: Path, names: list[str | bytes | None]) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE proxies (id INTEGER PRIMARY KEY, name TEXT, port INTEGER)")
        db.executemany(
            "INSERT INTO proxies VALUES (?, CAST(? AS TEXT), ?)",
            [(i, name, 8000 + i) for i, name in enumerate(names)],
        )


def read_rows(path: Path, fmt: str) -> list[dict[str, Any]]:
    if fmt == "parquet":
        return pq.read_table(path).to_pylist()
    return json_lines(path.read_text())


@settings(max_examples=20, deadline=None)
@given(
    names=st.lists(VALUE, min_size=1, max_size=9),
    chunk_size=st.integers(1, 4),
    fmt=st.sampled_from(["jsonl", "parquet"]),
    raw_sql=st.booleans(),
    fast=st.booleans(),
)
def test_quarantine_takes_exactly_the_rows_whose_text_is_not_utf8(
    tmp_path_factory: pytest.TempPathFactory,
    names: list[str | bytes | None],
    chunk_size: int,
    fmt: str,
    raw_sql: bool,
    fast: bool,
) -> None:
    folder = tmp_path_factory.mktemp("utf8")
    make_db(folder / "s.db", names)
    query = (
        {"sql": "SELECT id, name, port FROM proxies ORDER BY id"}
        if raw_sql
        else {"table": "proxies", "order_by": ["id"]}
    )
    spec = write_spec(
        folder,
        "names",
        {"type": "sql", "url": "sqlite:///s.db", "chunk_size": chunk_size},
        query=query,
        format=fmt,
        destination=f"out/names.{fmt}",
        validation={"on_invalid": "quarantine"},
    )
    bad = [i for i, n in enumerate(names) if isinstance(n, bytes)]

    with nullcontext() if fast else general_path():
        apply(spec)

    exported = read_rows(folder / "out" / f"names.{fmt}", fmt)
    assert [(r["id"], r["name"]) for r in exported] == [
        (i, n) for i, n in enumerate(names) if not isinstance(n, bytes)
    ]
    quarantine = folder / "out" / f"names.{fmt}.quarantine.jsonl"
    if not bad:
        assert not quarantine.exists()
        return
    lines = json_lines(quarantine.read_text())
    assert [line["row"]["id"] for line in lines] == bad
    for line, index in zip(lines, bad, strict=True):
        data = names[index]
        assert isinstance(data, bytes)
        assert line["row"]["name"] == data.decode("utf-8", "backslashreplace")
        where = f"the query, row {index + 1}" if raw_sql else f"table `proxies`, id={index}"
        assert line["reason"] == f"name: bytes that are not UTF-8 text ({where}): {data!r}"


@pytest.mark.parametrize("fast", [True, False])
def test_by_default_the_run_fails_naming_table_column_and_key(tmp_path: Path, fast: bool) -> None:
    make_db(tmp_path / "s.db", ["ok", b"a\xffb", "fine"])
    spec = write_spec(
        tmp_path,
        "names",
        {"type": "sql", "url": "sqlite:///s.db"},
        query={"table": "proxies"},
        format="csv",
        destination="out/names.csv",
    )
    with nullcontext() if fast else general_path():
        run = apply(spec, expect=1)
    assert "name: bytes that are not UTF-8 text (table `proxies`, id=1)" in run["error"]
    assert not (tmp_path / "out" / "names.csv").exists()
