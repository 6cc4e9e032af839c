"""Fast paths give what the general paths give, value for value and byte for byte.

SQLite read by the ADBC driver straight into Arrow (sources/sql/sqlite_arrow.py) against
sqlite3 + SQLAlchemy; each on hostile rows in small chunks, so that batches, NULL-only
first batches and timestamps SQLAlchemy did not write all occur.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import exportctl.model as m
from exportctl.errors import SourceError
from exportctl.formats import json as json_format
from exportctl.formats.base import ISO_UTC, iso_utc
from exportctl.formats.csv import CsvEncoder
from exportctl.formats.json import JsonEncoder, JsonlEncoder
from exportctl.formats.options import CsvOptions, JsonlOptions, JsonOptions
from exportctl.sources.base import Request
from exportctl.sources.sql import sqlite_arrow
from exportctl.sources.sql.options import SqlOptions
from exportctl.sources.sql.source import SqlSource
from exportctl.values.not_utf8 import NotUtf8
from tests.support.jsonlines import json_lines
from tests.support.sqlite_paths import general_path
from tests.support.strategies import HostileData, float64s, hostile_data, hostile_text, int64s

COLUMNS = ("id", "n", "x", "t", "flag", "seen", "seen_tz")

# Timestamps as SQLAlchemy stores them, and text it also reads: no fraction, a date
# alone, a `T`; the general path decides what each means, the fast one must agree.
stored_times = st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31)).map(
    lambda d: d.strftime("%Y-%m-%d %H:%M:%S.%f")
)
other_times = st.sampled_from(
    ["2024-02-29 23:59:59", "2024-01-01", "2024-01-01 00:00:00.5", "0999-01-01 00:00:00.000001"]
)
times = st.one_of(st.none(), stored_times, other_times)

rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "n": st.one_of(st.none(), int64s),
            "x": st.one_of(st.none(), float64s.filter(lambda v: v == v)),  # SQLite: NaN is NULL
            "t": st.one_of(st.none(), hostile_text),
            "flag": st.one_of(st.none(), st.booleans()),
            "seen": times,
            "seen_tz": times,
        }
    ),
    max_size=25,
)


def make_db(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rows as raw SQLite values (timestamps as the text given), declared types as the demo's."""
    path.unlink(missing_ok=True)
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, x FLOAT, t VARCHAR, "
            "flag BOOLEAN, seen DATETIME, seen_tz TIMESTAMP WITH TIME ZONE)"
        )
        db.executemany(
            "INSERT INTO t VALUES (?,?,?,?,?,?,?)",
            [(i, *(r[c] for c in COLUMNS[1:])) for i, r in enumerate(rows)],
        )


def read(db: Path, request: Request, chunk_size: int = 4) -> tuple[list[pd.DataFrame], str]:
    source = SqlSource(SqlOptions(url=f"sqlite:///{db}", chunk_size=chunk_size), db.parent)
    try:
        return list(source.chunks(request)), str(source.read_by)
    finally:
        source.close()


def both(db: Path, request: Request) -> tuple[list[pd.DataFrame], list[pd.DataFrame], str]:
    fast, path = read(db, request)
    with general_path():
        general, general_by = read(db, request)
    assert general_by == "rows"
    return fast, general, path


def encoded(frames: list[pd.DataFrame]) -> tuple[bytes, bytes]:
    csv, jsonl = io.BytesIO(), io.BytesIO()
    csv_encoder, jsonl_encoder = CsvEncoder(CsvOptions(), csv), JsonlEncoder(JsonlOptions(), jsonl)
    for frame in frames:
        csv_encoder.write(frame)
        jsonl_encoder.write(frame)
    return csv.getvalue(), jsonl.getvalue()


def outcome(db: Path, request: Request) -> Any:
    """The frames a read gives, or the error it fails with."""
    try:
        return read(db, request)[0]
    except Exception as exc:
        return type(exc)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=rows_strategy)
def test_sqlite_arrow_reads_what_the_general_path_reads(tmp_path: Path, rows: list[dict]) -> None:
    db = tmp_path / "fast.db"
    make_db(db, rows)
    request = Request(m.Query(table="t"))
    fast = outcome(db, request)
    with general_path():
        general = outcome(db, request)
    if not isinstance(general, list) or not isinstance(fast, list):
        assert fast == general  # the same failure (a day that does not exist, say)
        return
    assert [len(f) for f in fast] == [len(g) for g in general]
    for one, other in zip(fast, general, strict=True):
        assert pa.Table.from_pandas(one).equals(pa.Table.from_pandas(other))
    assert encoded(fast) == encoded(general)


def test_the_fast_path_reads_typed_rows_in_chunks_with_filters_and_order(tmp_path: Path) -> None:
    db = tmp_path / "fast.db"
    rows = [
        {
            "n": i,
            "x": i / 3,
            "t": f'"{i}",\n é',
            "flag": i % 2 == 0,
            "seen": f"2024-01-{1 + i % 28:02d} 00:00:00.{i:06d}",
            "seen_tz": None,
        }
        for i in range(30)
    ]
    make_db(db, rows)
    where = m.And(
        (
            m.Compare("seen", "ge", "2024-01-05"),
            m.InSet("t", tuple(f'"{i}",\n é' for i in range(0, 30, 2))),
            m.Compare("flag", "eq", True),
        )
    )
    query = m.Query(table="t", where=where, order_by=(m.OrderKey("x", descending=True),), limit=9)
    fast, general, path = both(db, Request(query, ("x", "seen", "flag", "t")))
    assert path == "arrow"
    assert len(fast) == 3  # 9 rows in chunks of 4
    assert pd.concat(fast).equals(pd.concat(general))
    assert encoded(fast) == encoded(general)
    values = pd.concat(fast)
    assert list(values["seen"].astype(str))[:2] == [
        "2024-01-27 00:00:00.000026",  # 28 is on the 1st: before the bound
        "2024-01-25 00:00:00.000024",
    ]
    assert list(values["x"])[0] == 26 / 3


def test_a_first_batch_of_nulls_falls_back_to_the_general_path(tmp_path: Path) -> None:
    db = tmp_path / "fast.db"
    rows = [{c: None for c in COLUMNS[1:]} for _ in range(6)]
    rows.append({"n": 1, "x": 2.5, "t": "late", "flag": True, "seen": None, "seen_tz": None})
    make_db(db, rows)
    fast, general, path = both(db, Request(m.Query(table="t")))
    assert path == "rows"  # the driver would have typed `t` as an integer from the first batch
    assert encoded(fast) == encoded(general)
    assert pd.concat(fast)["t"].iloc[-1] == "late"


def test_mixed_types_fail_the_same_way_on_both_paths(tmp_path: Path) -> None:
    db = tmp_path / "fast.db"
    rows = [
        {"n": i, "x": 1.0, "t": "a", "flag": True, "seen": None, "seen_tz": None} for i in range(9)
    ]
    rows[7]["n"] = "seven"  # text in an INTEGER column, after the first batch
    make_db(db, rows)
    request = Request(m.Query(table="t"))
    with pytest.raises(SourceError, match="mixed"):
        read(db, request)
    with general_path(), pytest.raises(SourceError, match="mixed"):
        read(db, request)


# --- encoders: JSON rows built by Arrow, timestamps as Arrow's text --------------------


def row_by_row(chunks: list[pd.DataFrame], non_finite: str) -> bytes:
    """JSON Lines as the general path writes them: a dict per row, dumped by orjson."""
    dumps = json_format._dumps(None)
    return b"".join(
        obj + b"\n" for chunk in chunks for obj in json_format._objects(chunk, dumps, non_finite)
    )


def maps_column(draw: st.DrawFn, n: int) -> pa.Array:
    entries = st.lists(st.tuples(hostile_text, st.one_of(st.none(), hostile_text)), max_size=3)
    maps = draw(st.lists(st.one_of(st.none(), entries), min_size=n, max_size=n))
    return pa.array(maps, pa.map_(pa.string(), pa.string()))


@settings(max_examples=150, deadline=None)
@given(
    data=hostile_data(max_rows=12), non_finite=st.sampled_from(["string", "null"]), draw=st.data()
)
def test_json_rows_built_by_columns_are_the_rows_orjson_writes(
    data: HostileData, non_finite: str, draw: st.DataObject
) -> None:
    chunks = data.chunks
    # Text holding each control character, and a map column (a `json: true` field).
    controls = "".join(chr(c) for c in range(32)) + '\\"\x7f\u2028'
    extra = [c.assign(controls=[controls[: i % 34] for i in range(len(c))]) for c in chunks]
    extra = [
        c.assign(
            labels=pd.Series(
                maps_column(draw.draw, len(c)),
                dtype=pd.ArrowDtype(pa.map_(pa.string(), pa.string())),
                index=c.index,
            )
        )
        for c in extra
    ]
    stream = io.BytesIO()
    encoder = JsonlEncoder(JsonlOptions(non_finite=non_finite), stream)  # type: ignore[arg-type]
    for chunk in extra:
        encoder.write(chunk)
    assert stream.getvalue() == row_by_row(extra, non_finite)
    document = io.BytesIO()
    array = JsonEncoder(JsonOptions(non_finite=non_finite), document)  # type: ignore[arg-type]
    for chunk in extra:
        array.write(chunk)
    array.close()
    rows = json_lines(stream.getvalue())
    assert json.loads(document.getvalue()) == rows
    assert len(rows) == sum(len(c) for c in chunks)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.integers(-62_135_596_800_000_000, 253_402_300_799_999_999)),
        max_size=20,
    ),
    st.sampled_from([None, "UTC", "Asia/Kolkata"]),
)
def test_timestamps_as_text_are_strftime_text(values: list[int | None], zone: str | None) -> None:
    column = pa.chunked_array(
        [pa.array(values, pa.timestamp("us", tz=zone))], pa.timestamp("us", tz=zone)
    )
    utc = column.cast(pa.timestamp("us", tz="UTC"))
    assert iso_utc(utc).equals(pc.strftime(utc, format=ISO_UTC))


WRITER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
db.execute("INSERT INTO t (n, t) VALUES (1, 'late')")
print("locked", flush=True)
time.sleep(0.5)
db.execute("COMMIT")
"""


def test_the_fast_path_waits_for_a_writer_as_sqlite3_does(tmp_path: Path) -> None:
    """Another process writing for a moment delays the read; it does not fail it. (The
    writer is another process: two SQLite libraries in one process do not see each
    other's locks.)"""
    db = tmp_path / "fast.db"
    row = {"n": 1, "x": 0.5, "t": "a", "flag": True, "seen": None, "seen_tz": None}
    make_db(db, [row] * 3)
    wanted = [(pa.int64(), sqlite_arrow._same), (pa.string(), sqlite_arrow._same)]
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "locked"
        with sqlite_arrow.Batches(str(db), 4, "db") as batches:
            tables = batches.stream("SELECT n, t FROM t WHERE n = ?", (1,), ["n", "t"], wanted)
            assert tables is not None
            assert [v for t in tables for v in t.column("t").to_pylist()][-1] == "late"
    finally:
        assert writer.wait(10) == 0


def test_bytes_in_a_text_column_read_the_same_way_on_both_paths(tmp_path: Path) -> None:
    """A BLOB in a text column: text where its bytes are UTF-8, else a marker that validation
    takes as an invalid row naming the table, column and key (see tests/run/test_not_utf8.py)."""
    db = tmp_path / "fast.db"
    rows = [
        {"n": i, "x": 1.0, "t": "a", "flag": True, "seen": None, "seen_tz": None} for i in range(9)
    ]
    rows[7]["t"] = b"\xff\x00z"  # a BLOB: the driver would pass its bytes on as text
    rows[8]["t"] = "é".encode()  # a BLOB holding UTF-8
    make_db(db, rows)
    request = Request(m.Query(table="t"), ("n", "x", "t", "flag"))
    fast, general, path = both(db, request)
    assert path == "arrow"
    for chunks in (fast, general):
        values = [v for chunk in chunks for v in chunk["t"].tolist()]
        assert values[:7] == ["a"] * 7 and values[8] == "é"
        assert isinstance(values[7], NotUtf8) and values[7].data == b"\xff\x00z"
        assert values[7].where == "table `t`, row 8"  # its key `id` is not read
