"""CSV, JSON and JSON Lines carry hostile values exactly, as readers that share no code
with the encoders see them.

Values are compared with `==` (floats bit for bit, -0.0 by its sign), never approximately;
timestamps must read `YYYY-MM-DDTHH:MM:SS.ffffffZ` and stand for the same instant.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import json
import math
import sqlite3
import sys
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from click.testing import CliRunner
from hypothesis import given

from exportctl import registry
from exportctl.cli.main import main
from exportctl.errors import FormatError
from exportctl.formats.csv import CsvEncoder
from exportctl.formats.json import JsonEncoder, JsonlEncoder
from exportctl.formats.options import CsvOptions, JsonlOptions, JsonOptions
from tests.support.encoding import (
    ARROW_TYPES,
    ROUND_TRIPS,
    assert_rows,
    empty_chunk,
    encode,
)
from tests.support.strategies import COLUMNS, HostileData, hostile_data

CSV_DIALECTS = {
    "default": CsvOptions(),
    "semicolon-quote-all-backslash-N": CsvOptions(delimiter=";", quoting="all", null="\\N"),
    "tab-lf-NULL": CsvOptions(delimiter="\t", line_terminator="lf", null="NULL"),
}
# Timestamps are text in every format; each reader gets them as text and parses them here.
DUCKDB_COLUMNS = (
    "{'text': 'VARCHAR', 'int': 'BIGINT', 'float': 'DOUBLE', 'bool': 'BOOLEAN', "
    "'naive_ts': 'VARCHAR', 'aware_ts': 'VARCHAR'}"
)


# Module-scoped, as hypothesis reruns a test many times within one fixture's life.


def arrow_frame(**columns: tuple[pa.DataType, list[Any]]) -> pd.DataFrame:
    """A frame of Arrow-backed columns: name=(type, values)."""
    arrays = {name: pa.array(values, arrow_type) for name, (arrow_type, values) in columns.items()}
    return pa.table(arrays).to_pandas(types_mapper=pd.ArrowDtype)


def read_csv_with_pyarrow(data: bytes, options: CsvOptions) -> list[dict[str, Any]]:
    table = pacsv.read_csv(
        io.BytesIO(data),
        parse_options=pacsv.ParseOptions(delimiter=options.delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=ARROW_TYPES,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[options.null],
        ),
    )
    assert table.column_names == list(COLUMNS)
    return table.to_pylist()


def read_with_duckdb(
    duck: duckdb.DuckDBPyConnection, query: str, path: Path, *params: str
) -> list[dict[str, Any]]:
    cursor = duck.execute(query, [str(path), *params])
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def read_csv_with_duckdb(
    duck: duckdb.DuckDBPyConnection, path: Path, options: CsvOptions
) -> list[dict[str, Any]]:
    query = (
        "SELECT * FROM read_csv(?, header = true, auto_detect = false, delim = ?, "
        "quote = '\"', escape = '\"', nullstr = ?, allow_quoted_nulls = false, "
        f"columns = {DUCKDB_COLUMNS})"
    )
    return read_with_duckdb(duck, query, path, options.delimiter, options.null)


def read_jsonl_with_duckdb(duck: duckdb.DuckDBPyConnection, path: Path) -> list[dict[str, Any]]:
    query = f"SELECT * FROM read_json(?, format = 'newline_delimited', columns = {DUCKDB_COLUMNS})"
    return read_with_duckdb(duck, query, path)


def json_lines(data: bytes) -> list[dict[str, Any]]:
    """Objects of a JSON Lines file, split on `\\n` alone, as the format defines lines."""
    *lines, last = data.decode("utf-8").split("\n")
    assert last == "", "the file must end with a line break"
    return [json.loads(line) for line in lines]


# --- round trips of hostile data --------------------------------------------


@pytest.mark.parametrize("options", CSV_DIALECTS.values(), ids=CSV_DIALECTS.keys())
@ROUND_TRIPS
@given(data=hostile_data())
def test_csv_reads_back_exactly_with_pyarrow(options: CsvOptions, data: HostileData) -> None:
    written = encode(CsvEncoder, options, data.chunks)
    assert_rows(read_csv_with_pyarrow(written, options), data)


@pytest.mark.parametrize("options", CSV_DIALECTS.values(), ids=CSV_DIALECTS.keys())
@ROUND_TRIPS
@given(data=hostile_data())
def test_csv_reads_back_exactly_with_duckdb(
    duck: duckdb.DuckDBPyConnection, scratch: Path, options: CsvOptions, data: HostileData
) -> None:
    path = scratch / "export.csv"
    path.write_bytes(encode(CsvEncoder, options, data.chunks))
    assert_rows(read_csv_with_duckdb(duck, path, options), data)


@pytest.mark.parametrize("indent", [None, 2])
@ROUND_TRIPS
@given(data=hostile_data())
def test_json_reads_back_exactly_with_json_loads(indent: int | None, data: HostileData) -> None:
    written = encode(JsonEncoder, JsonOptions(indent=indent), data.chunks)
    assert_rows(json.loads(written.decode("utf-8")), data)


@ROUND_TRIPS
@given(data=hostile_data())
def test_jsonl_reads_back_exactly_line_by_line(data: HostileData) -> None:
    written = encode(JsonlEncoder, JsonlOptions(), data.chunks)
    assert_rows(json_lines(written), data)


@ROUND_TRIPS
@given(data=hostile_data())
def test_jsonl_reads_back_exactly_with_duckdb(
    duck: duckdb.DuckDBPyConnection, scratch: Path, data: HostileData
) -> None:
    path = scratch / "export.jsonl"
    path.write_bytes(encode(JsonlEncoder, JsonlOptions(), data.chunks))
    assert_rows(read_jsonl_with_duckdb(duck, path), data)


# --- golden documents -------------------------------------------------------

SAMPLE: dict[str, tuple[pa.DataType, list[Any]]] = {
    "text": (pa.string(), ['say "hi", ok', "", None]),
    "int": (pa.int64(), [1, None, -2]),
    "float": (pa.float64(), [-0.0, 0.1 + 0.2, None]),
    "bool": (pa.bool_(), [True, None, False]),
}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(
            CsvOptions(),
            '"text","int","float","bool"\r\n'
            '"say ""hi"", ok",1,-0,true\r\n'
            '"",,0.30000000000000004,\r\n'
            ",-2,,false\r\n",
            id="default",
        ),
        pytest.param(
            CsvOptions(delimiter=";", quoting="all", null="\\N"),
            '"text";"int";"float";"bool"\r\n'
            '"say ""hi"", ok";"1";"-0";"true"\r\n'
            '"";\\N;"0.30000000000000004";\\N\r\n'
            '\\N;"-2";\\N;"false"\r\n',
            id="semicolon-quote-all-backslash-N",
        ),
        pytest.param(
            CsvOptions(header=False, line_terminator="lf"),
            '"say ""hi"", ok",1,-0,true\n"",,0.30000000000000004,\n,-2,,false\n',
            id="no-header-lf",
        ),
    ],
)
def test_csv_golden_document(options: CsvOptions, expected: str) -> None:
    assert encode(CsvEncoder, options, [arrow_frame(**SAMPLE)]).decode("utf-8") == expected


@pytest.mark.parametrize(
    ("encoder_type", "options", "expected"),
    [
        pytest.param(
            JsonEncoder,
            JsonOptions(),
            "[\n"
            '{"text":"say \\"hi\\", ok","int":1,"float":-0.0,"bool":true},\n'
            '{"text":"","int":null,"float":0.30000000000000004,"bool":null},\n'
            '{"text":null,"int":-2,"float":null,"bool":false}\n'
            "]\n",
            id="json",
        ),
        pytest.param(
            JsonlEncoder,
            JsonlOptions(),
            '{"text":"say \\"hi\\", ok","int":1,"float":-0.0,"bool":true}\n'
            '{"text":"","int":null,"float":0.30000000000000004,"bool":null}\n'
            '{"text":null,"int":-2,"float":null,"bool":false}\n',
            id="jsonl",
        ),
    ],
)
def test_json_golden_document(encoder_type: Any, options: Any, expected: str) -> None:
    chunks = [arrow_frame(**SAMPLE).iloc[:2], arrow_frame(**SAMPLE).iloc[2:]]
    assert encode(encoder_type, options, chunks).decode("utf-8") == expected


def test_json_indent_pretty_prints_each_object() -> None:
    frame = arrow_frame(name=(pa.string(), ["é"]), port=(pa.int64(), [None]))
    written = encode(JsonEncoder, JsonOptions(indent=2), [frame]).decode("utf-8")
    assert written == '[\n{\n  "name": "é",\n  "port": null\n}\n]\n'


# --- timestamps and dates ---------------------------------------------------

ST_JOHNS = ZoneInfo("America/St_Johns")


@pytest.mark.parametrize(
    ("arrow_type", "value", "expected"),
    [
        (pa.timestamp("s"), dt.datetime(2024, 2, 29, 23, 59, 59), "2024-02-29T23:59:59.000000Z"),
        (
            pa.timestamp("ms"),
            dt.datetime(2024, 1, 2, 3, 4, 5, 678000),
            "2024-01-02T03:04:05.678000Z",
        ),
        (pa.timestamp("us"), dt.datetime(1, 1, 1), "0001-01-01T00:00:00.000000Z"),
        (
            pa.timestamp("us"),
            dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
            "9999-12-31T23:59:59.999999Z",
        ),
        (pa.timestamp("ns"), dt.datetime(2024, 1, 2, 3, 4, 5, 6), "2024-01-02T03:04:05.000006Z"),
        (
            pa.timestamp("us", tz="Asia/Kolkata"),
            dt.datetime(2024, 1, 1, 5, 30, tzinfo=ZoneInfo("Asia/Kolkata")),
            "2024-01-01T00:00:00.000000Z",
        ),
        (
            pa.timestamp("s", tz="America/St_Johns"),
            dt.datetime(2024, 7, 1, tzinfo=ST_JOHNS),  # daylight time, UTC-02:30
            "2024-07-01T02:30:00.000000Z",
        ),
    ],
    ids=["s", "ms", "us-min", "us-max", "ns", "kolkata", "st-johns-dst"],
)
def test_timestamps_are_written_as_iso_utc_with_microseconds(
    arrow_type: pa.DataType, value: dt.datetime, expected: str
) -> None:
    frame = arrow_frame(seen=(arrow_type, [value, None]))
    assert json_lines(encode(JsonlEncoder, JsonlOptions(), [frame])) == [
        {"seen": expected},
        {"seen": None},
    ]
    csv = encode(CsvEncoder, CsvOptions(line_terminator="lf"), [frame]).decode("utf-8")
    assert csv == f'"seen"\n"{expected}"\n\n'


@pytest.mark.parametrize(
    ("encoder_type", "options"),
    [(CsvEncoder, CsvOptions()), (JsonEncoder, JsonOptions()), (JsonlEncoder, JsonlOptions())],
    ids=["csv", "json", "jsonl"],
)
def test_timestamps_finer_than_a_microsecond_are_refused(encoder_type: Any, options: Any) -> None:
    frame = arrow_frame(seen=(pa.timestamp("ns"), [pd.Timestamp("2024-01-01 00:00:00.000000001")]))
    with pytest.raises(FormatError, match="`seen`.*microsecond"):
        encode(encoder_type, options, [frame])


@pytest.mark.parametrize("indent", [None, 2])
def test_dates_are_written_as_iso_dates(indent: int | None) -> None:
    frame = arrow_frame(day=(pa.date32(), [dt.date(2024, 2, 29), None, dt.date(1, 1, 1)]))
    written = encode(JsonEncoder, JsonOptions(indent=indent), [frame])
    assert json.loads(written) == [{"day": "2024-02-29"}, {"day": None}, {"day": "0001-01-01"}]


# --- refusals and empty documents -------------------------------------------

JSON_ENCODERS = [
    pytest.param(JsonEncoder, JsonOptions(), id="json"),
    pytest.param(JsonEncoder, JsonOptions(indent=2), id="json-indent"),
    pytest.param(JsonlEncoder, JsonlOptions(), id="jsonl"),
]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(("encoder_type", "options"), JSON_ENCODERS)
def test_json_with_non_finite_error_refuses_them_without_writing_the_chunk(
    encoder_type: Any, options: Any, value: float
) -> None:
    good = arrow_frame(name=(pa.string(), ["a"]), ratio=(pa.float64(), [1.5]))
    bad = arrow_frame(name=(pa.string(), ["b", "c"]), ratio=(pa.float64(), [2.5, value]))
    stream = io.BytesIO()
    encoder = encoder_type(replace(options, non_finite="error"), stream)
    encoder.write(good)
    before = stream.getvalue()
    with pytest.raises(FormatError, match="field `ratio` holds"):
        encoder.write(bad)
    assert stream.getvalue() == before, "no part of the refused chunk may be written"


@pytest.mark.parametrize(("encoder_type", "options"), JSON_ENCODERS)
def test_json_refuses_binary_data(encoder_type: Any, options: Any) -> None:
    frame = arrow_frame(blob=(pa.binary(), [b"\x00\xff"]))
    with pytest.raises(FormatError, match="bytes"):
        encode(encoder_type, options, [frame])


@pytest.mark.parametrize("chunks", [[], [empty_chunk()], [empty_chunk()] * 3], ids=len)
@pytest.mark.parametrize("indent", [None, 2])
def test_json_of_zero_rows_is_an_empty_array(indent: int | None, chunks: list) -> None:
    assert json.loads(encode(JsonEncoder, JsonOptions(indent=indent), chunks)) == []


def test_jsonl_of_zero_rows_is_an_empty_file() -> None:
    assert encode(JsonlEncoder, JsonlOptions(), [empty_chunk()]) == b""


@pytest.mark.parametrize("options", CSV_DIALECTS.values(), ids=CSV_DIALECTS.keys())
def test_csv_of_zero_rows_is_the_header_alone(options: CsvOptions) -> None:
    written = encode(CsvEncoder, options, [empty_chunk(), empty_chunk()])
    eol = "\n" if options.line_terminator == "lf" else "\r\n"
    assert written.decode("utf-8") == options.delimiter.join(f'"{c}"' for c in COLUMNS) + eol
    assert read_csv_with_pyarrow(written, options) == []


def test_csv_header_comes_once_when_the_first_chunk_is_empty() -> None:
    frame = arrow_frame(port=(pa.int64(), [8080, 3128]))
    written = encode(CsvEncoder, CsvOptions(), [frame.iloc[:0], frame.iloc[:1], frame.iloc[1:]])
    assert written == b'"port"\r\n8080\r\n3128\r\n'


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"delimiter": '"'}, "cannot separate"),
        ({"delimiter": "\n"}, "cannot separate"),
        ({"null": 'N"A'}, "cannot hold a quote"),
        ({"null": "a,b"}, "the delimiter"),
        ({"delimiter": ";", "null": "a;b"}, "the delimiter"),
        ({"null": "\n"}, "a line break"),
        ({"null": "NULL\r"}, "a line break"),
    ],
)
def test_csv_options_refuse_markers_that_would_corrupt_the_file(
    options: dict[str, str], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        CsvOptions(**options)  # type: ignore[arg-type]


# --- a failing run leaves no encoder open ------------------------------------------------

#: A run fails after chunks were written: the source (a malformed log line), the
#: destination (`max_bytes` at commit), or the format (a later chunk that does not cast).
FAILURES = ("source", "max_bytes", "later-chunk-type")
FORMAT_OPTIONS: dict[str, dict[str, Any]] = {"text": {"template": "{{ message }}"}}


def failing_source(root: Path, failure: str) -> dict[str, Any]:
    if failure == "later-chunk-type":  # an untyped SQLite column: numbers, then text
        with closing(sqlite3.connect(root / "source.db")) as conn, conn:
            conn.execute("CREATE TABLE t (message)")
            conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(25)])
            conn.executemany("INSERT INTO t VALUES (?)", [(f"text {i}",) for i in range(15)])
        return {"type": "sql", "url": f"sqlite:///{root / 'source.db'}", "chunk_size": 5}
    logs = root / "logs"
    logs.mkdir()
    lines = [
        json.dumps({"time": f"2026-10-31T12:00:{i:02d}+00:00", "level": "INFO", "message": i})
        for i in range(40)
    ]
    if failure == "source":
        lines[30] = "{not json"
    (logs / "app.log").write_text("\n".join(lines) + "\n")
    return {"type": "logs", "path": "logs/app.log", "format": "jsonl", "chunk_size": 5}


def failing_spec(root: Path, fmt: str, failure: str, compression: str) -> Path:
    spec: dict[str, Any] = {
        "version": 1,
        "name": "fails",
        "source": failing_source(root, failure),
        **({"query": {"table": "t"}} if failure == "later-chunk-type" else {}),
        "format": {"type": fmt, **FORMAT_OPTIONS.get(fmt, {})},
        "compression": compression,
        "destination": {"uri": "out/fails.out" + (".gz" if compression == "gzip" else "")},
    }
    if failure == "max_bytes":
        spec["destination"]["max_bytes"] = 64
    path = root / "fails.yaml"
    path.write_text(json.dumps(spec))
    return path


#: Every format with and without gzip, but where its registry entry takes no outer codec
#: (Parquet compresses inside): left out, not skipped, as CI fails on a skip.
ENCODINGS = [
    (fmt, compression)
    for fmt in sorted(registry.FORMATS)
    for compression in ("none", "gzip")
    if compression in registry.FORMATS.entry(fmt).codecs
]


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize(("fmt", "compression"), ENCODINGS)
def test_a_failing_run_closes_its_encoder_before_its_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, failure: str, compression: str
) -> None:
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    spec = failing_spec(tmp_path, fmt, failure, compression)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EXPORTCTL_STATE", f"sqlite:///{tmp_path / 'state.db'}")

    result = CliRunner().invoke(main, ["apply", str(spec)])
    gc.collect()  # a writer left open would finish its file now, into a closed stream

    if failure != "later-chunk-type":  # that one may be written as text, or refused
        assert result.exit_code == 1, result.output
    assert [(u.exc_value, u.object) for u in unraisable] == []
    assert "Exception ignored" not in result.output
    if result.exit_code:
        assert not list(tmp_path.glob("out/*")), "a failed run leaves no file"
