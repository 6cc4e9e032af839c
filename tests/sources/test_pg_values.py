"""PostgreSQL values come back exactly: json/jsonb, arrays, numeric, uuid, bytea, interval.

Each export is read back by an independent reader (json, csv, PyYAML, pyarrow, DuckDB) and
compared with what PostgreSQL itself says the value is (its text, read over psycopg).
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import pg_url
from tests.support.cli import apply, write_spec
from tests.support.jsonlines import json_lines

pytestmark = pytest.mark.postgres

FORMATS = ("jsonl", "json", "csv", "yaml", "parquet")


def exact(text: str) -> Any:
    """A JSON text as a value compared exactly: objects as their (key, value) pairs in order,
    numbers as decimals."""
    return json.loads(text, object_pairs_hook=list, parse_float=Decimal, parse_int=Decimal)


def read_back(path: Path, fmt: str) -> list[dict[str, Any]]:
    """The export's rows, each JSON value as `exact` gives it (YAML: as Python's values)."""
    data = path.read_bytes()
    if fmt == "jsonl":
        return [dict(exact(line)) for line in data.decode().splitlines()]
    if fmt == "json":
        return [dict(row) for row in exact(data.decode())]
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(data.decode(), newline="")))
        # NULL is the empty field; JSON text is never empty.
        return [
            {k: (exact(v) if v else None) for k, v in r.items() if k in ("j", "jb")} for r in rows
        ]
    if fmt == "yaml":
        return yaml.safe_load(data)
    rows = pq.read_table(path).to_pylist()
    return [{k: exact(v) if k in ("j", "jb") and v else v for k, v in r.items()} for r in rows]


def export(folder: Path, schema: str, fmt: str, **rest: Any) -> tuple[Path, dict[str, Any]]:
    spec = write_spec(
        folder,
        f"pg-{fmt}",
        {"type": "sql", "url": pg_url(schema)},
        query={"table": "t", "order_by": ["id"]},
        destination=f"out/pg.{fmt}",
        **{"format": fmt, **rest},
    )
    return folder / "out" / f"pg.{fmt}", apply(spec)


def pg_texts(engine: sa.Engine, schema: str, column: str) -> list[str | None]:
    """PostgreSQL's own text of each row's value, in key order."""
    with engine.connect() as conn:
        query = f'SELECT {column}::text FROM "{schema}".t ORDER BY id'
        return [r[0] for r in conn.execute(sa.text(query))]


# --- JSON and JSONB ------------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6)
)
JSON_DOCUMENTS = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["a", "b", "status", "pool", "é", "键"]), inner, max_size=4
        )
    ),
    max_leaves=10,
)


def make_json_table(engine: sa.Engine, schema: str, documents: list[Any]) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP TABLE IF EXISTS "{schema}".t'))
        conn.execute(sa.text(f'CREATE TABLE "{schema}".t (id int PRIMARY KEY, j json, jb jsonb)'))
        for index, doc in enumerate(documents):
            text = None if doc is None else json.dumps(doc, ensure_ascii=False)
            conn.execute(
                sa.text(
                    f'INSERT INTO "{schema}".t VALUES (:id, CAST(:j AS json), CAST(:jb AS jsonb))'
                ),
                {"id": index, "j": text, "jb": text},
            )


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(documents=st.lists(st.one_of(st.none(), JSON_DOCUMENTS), min_size=1, max_size=5))
def test_json_and_jsonb_export_as_the_same_json_value_in_every_format(
    pg_engine: sa.Engine,
    pg_schema: str,
    tmp_path_factory: pytest.TempPathFactory,
    documents: list[Any],
) -> None:
    make_json_table(pg_engine, pg_schema, documents)
    wanted = {c: pg_texts(pg_engine, pg_schema, c) for c in ("j", "jb")}
    folder = tmp_path_factory.mktemp("pg")
    for fmt, options in [*((f, {}) for f in FORMATS), ("json", {"indent": 2})]:
        path, _ = export(
            folder, pg_schema, fmt, **({"format": {"type": fmt, **options}} if options else {})
        )
        rows = read_back(path, fmt)
        for column, texts in wanted.items():
            got = [r[column] for r in rows]
            if fmt == "yaml":  # a YAML mapping has no order: the values, keys exact
                expected = [None if t is None else json.loads(t) for t in texts]
            else:
                expected = [None if t is None else exact(t) for t in texts]
            assert got == expected, (fmt, column)


def test_the_issues_jsonb_rows_keep_their_own_keys(
    pg_engine: sa.Engine, pg_schema: str, tmp_path: Path
) -> None:
    documents = [{"status": "200", "proxy_id": "p1"}, {"status": "503", "pool": "eu"}]
    make_json_table(pg_engine, pg_schema, documents)
    for fmt in FORMATS:
        path, _ = export(tmp_path, pg_schema, fmt)
        got = [r["jb"] for r in read_back(path, fmt)]
        if fmt == "yaml":
            assert got == documents
        else:
            assert [dict(v) for v in got] == documents, fmt
    # `json: true` on a JSON column keeps it as it is
    path, _ = export(tmp_path, pg_schema, "jsonl", fields=["id", {"name": "jb", "json": True}])
    assert [json.loads(line)["jb"] for line in path.read_text().splitlines()] == documents


def test_a_table_with_a_collated_column_reflects_and_keeps_its_json(
    pg_engine: sa.Engine, pg_schema: str, tmp_path: Path
) -> None:
    """Reflection reads a column's collation as JSON from the catalog: it must not go
    through the loader that keeps row values' JSON as text (a TypeError in SQLAlchemy)."""
    with pg_engine.begin() as conn:
        conn.execute(
            sa.text(f'CREATE TABLE "{pg_schema}".t (id int, name text COLLATE "C", jb jsonb)')
        )
        conn.execute(sa.text(f"""INSERT INTO "{pg_schema}".t VALUES (1, 'b', '{{"k": 1}}')"""))
    path, result = export(tmp_path, pg_schema, "jsonl")
    assert result["status"] == "succeeded", result
    assert json_lines(path.read_text()) == [{"id": 1, "name": "b", "jb": {"k": 1}}]


def test_parquet_types_a_json_column_as_json_for_duckdb(
    pg_engine: sa.Engine, pg_schema: str, tmp_path: Path
) -> None:
    make_json_table(pg_engine, pg_schema, [{"a": {"b": [1, 2]}}, None])
    path, _ = export(tmp_path, pg_schema, "parquet")
    found = duckdb.sql(f"SELECT jb->'a'->'b'->>1 FROM '{path}' ORDER BY id").fetchall()
    assert found == [("2",), (None,)]


def test_yaml_fails_naming_the_field_for_a_number_a_float_cannot_hold(
    pg_engine: sa.Engine, pg_schema: str, tmp_path: Path
) -> None:
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f'CREATE TABLE "{pg_schema}".t (id int, jb jsonb)'))
        conn.execute(
            sa.text(
                f"""INSERT INTO "{pg_schema}".t VALUES (1, '{{"f": 0.10000000000000000001}}')"""
            )
        )
    spec = write_spec(
        tmp_path,
        "pg-yaml",
        {"type": "sql", "url": pg_url(pg_schema)},
        query={"table": "t"},
        format="yaml",
        destination="out/pg.yaml",
    )
    run = apply(spec, expect=1)
    assert "`jb`" in run["error"] and "0.10000000000000000001" in run["error"]
    path, _ = export(tmp_path, pg_schema, "jsonl")
    assert '"f":0.10000000000000000001' in path.read_text()


# --- arrays, numeric, uuid, bytea, interval, timestamptz -----------------------------------

OTHER_TYPES = """
CREATE TABLE "{schema}".t (
    id int PRIMARY KEY, ia int[], ta text[], n numeric(30, 10), tz timestamptz, u uuid,
    b bytea, iv interval
);
INSERT INTO "{schema}".t VALUES
    (1, '{{1,NULL,-3}}', '{{"a",NULL,"ä \\"q\\""}}', 12345678901234567890.0123456789,
     '2024-01-02 03:04:05.123456+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff',
     '1 mon 2 days 03:04:05.5'),
    (2, '{{}}', NULL, -0.0000000001, NULL, NULL, NULL, '-1 year');
"""


@pytest.fixture
def other_types(pg_engine: sa.Engine, pg_schema: str) -> str:
    with pg_engine.begin() as conn:
        for statement in OTHER_TYPES.format(schema=pg_schema).split(";"):
            if statement.strip():
                conn.execute(sa.text(statement))
    return pg_schema


def test_parquet_keeps_arrays_decimals_uuids_bytes_and_interval_text(
    other_types: str, tmp_path: Path
) -> None:
    path, _ = export(tmp_path, other_types, "parquet")
    rows = pq.read_table(path).to_pylist()
    assert [r["ia"] for r in rows] == [[1, None, -3], []]
    assert [r["ta"] for r in rows] == [["a", None, 'ä "q"'], None]
    assert [r["n"] for r in rows] == [
        Decimal("12345678901234567890.0123456789"),
        Decimal("-0.0000000001"),
    ]
    assert str(rows[0]["u"]) == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert [r["b"] for r in rows] == [b"\x00\xff", None]
    # A month has no fixed length: the interval is PostgreSQL's ISO 8601 text, not 32 days.
    assert [r["iv"] for r in rows] == ["P1M2DT3H4M5.5S", "P-1Y"]
    assert rows[0]["tz"].isoformat() == "2024-01-02T01:04:05.123456+00:00"


def test_text_formats_write_arrays_uuids_and_intervals_and_name_what_they_refuse(
    other_types: str, tmp_path: Path
) -> None:
    fields = ["id", "ia", "ta", "tz", "u", "iv"]
    path, _ = export(tmp_path, other_types, "jsonl", fields=fields)
    rows = json_lines(path.read_text())
    assert rows[0] == {
        "id": 1,
        "ia": [1, None, -3],
        "ta": ["a", None, 'ä "q"'],
        "tz": "2024-01-02T01:04:05.123456Z",
        "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "iv": "P1M2DT3H4M5.5S",
    }
    path, _ = export(tmp_path, other_types, "yaml", fields=fields)
    assert yaml.safe_load(path.read_text())[1]["iv"] == "P-1Y"
    path, _ = export(tmp_path, other_types, "csv", fields=["id", "u", "iv"])
    assert list(csv.DictReader(io.StringIO(path.read_text())))[0]["u"].startswith("a0eebc99")
    for fmt, column, why in (
        ("jsonl", "b", "binary"),
        ("yaml", "b", "binary"),
        ("yaml", "n", "decimal"),
        ("csv", "ia", "list"),
    ):
        spec = write_spec(
            tmp_path,
            f"refuse-{fmt}-{column}",
            {"type": "sql", "url": pg_url(other_types)},
            query={"table": "t"},
            fields=["id", column],
            format=fmt,
            destination=f"out/refused.{fmt}",
        )
        run = apply(spec, expect=1)
        assert column in run["error"] and why in run["error"], run["error"]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("numeric", "NaN"),
        ("numeric", "Infinity"),
        ("numeric", "-Infinity"),
        ("numeric", "1" * 80),
        ("numeric[]", "{1.5,NaN}"),
    ],
)
def test_a_numeric_no_decimal_can_hold_fails_naming_the_column(
    pg_engine: sa.Engine, pg_schema: str, tmp_path: Path, kind: str, value: str
) -> None:
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f'CREATE TABLE "{pg_schema}".t (id int, amount {kind})'))
        conn.execute(sa.text(f"INSERT INTO \"{pg_schema}\".t VALUES (1, '{value}')"))
    spec = write_spec(
        tmp_path,
        "pg-nan",
        {"type": "sql", "url": pg_url(pg_schema)},
        query={"table": "t"},
        format="parquet",
        destination="out/pg.parquet",
    )
    run = apply(spec, expect=1)
    assert "`amount`" in run["error"] and "amount::text" in run["error"]
    assert not (tmp_path / "out" / "pg.parquet").exists()


def test_redaction_walks_json_values_and_keeps_them_json(
    pg_engine: sa.Engine, pg_schema: str, tmp_path: Path
) -> None:
    documents = [
        {"password": "hunter2", "pool": {"url": "http://u:pw@proxy:8080"}, "n": 1},
        [1, {"api_key": "k-secret"}],
    ]
    make_json_table(pg_engine, pg_schema, documents)
    for fmt in ("jsonl", "parquet"):
        path, _ = export(tmp_path, pg_schema, fmt, redact=True)
        raw = path.read_bytes()
        assert b"hunter2" not in raw and b"k-secret" not in raw and b"u:pw" not in raw
        got = [r["jb"] for r in read_back(path, fmt)]
        assert got == [
            exact('{"n": 1, "pool": {"url": "http://***:***@proxy:8080"}, "password": "***"}'),
            exact('[1, {"api_key": "***"}]'),
        ]


def test_a_jsonb_array_is_the_json_array_of_its_values(
    pg_engine: sa.Engine, pg_schema: str, tmp_path: Path
) -> None:
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f'CREATE TABLE "{pg_schema}".t (id int PRIMARY KEY, jb jsonb[])'))
        conn.execute(
            sa.text(f'INSERT INTO "{pg_schema}".t VALUES (1, CAST(:a AS jsonb[])), (2, NULL)'),
            {"a": ['{"a": 1}', '{"b": [true]}', None]},
        )
    path, _ = export(tmp_path, pg_schema, "jsonl")
    rows = [json.loads(line)["jb"] for line in path.read_text().splitlines()]
    assert rows == [[{"a": 1}, {"b": [True]}, None], None]


def test_a_sqlite_json_column_keeps_each_rows_keys_and_refuses_text_that_is_not_json(
    tmp_path: Path,
) -> None:
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(tmp_path / "s.db")) as db, db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, jb JSON)")
        db.execute("""INSERT INTO t VALUES (1, '{"status": "200"}'), (2, '{"pool": "eu"}')""")
    spec = write_spec(
        tmp_path,
        "lite",
        {"type": "sql", "url": "sqlite:///s.db"},
        query={"table": "t", "order_by": ["id"]},
        destination="out/lite.jsonl",
    )
    apply(spec)
    rows = [
        json.loads(line)["jb"] for line in (tmp_path / "out/lite.jsonl").read_text().splitlines()
    ]
    assert rows == [{"status": "200"}, {"pool": "eu"}]
    with closing(sqlite3.connect(tmp_path / "s.db")) as db, db:
        db.execute("INSERT INTO t VALUES (3, '{oops')")
    run = apply(spec, expect=1)
    assert "not JSON" in run["error"]


@pytest.mark.parametrize(("kind", "value"), [("timestamptz", "infinity"), ("date", "-infinity")])
def test_a_date_or_timestamp_python_cannot_hold_fails_naming_the_column(
    pg_engine: sa.Engine, pg_schema: str, tmp_path: Path, kind: str, value: str
) -> None:
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f'CREATE TABLE "{pg_schema}".t (id int, seen {kind})'))
        conn.execute(sa.text(f"INSERT INTO \"{pg_schema}\".t VALUES (1, '{value}')"))
    spec = write_spec(
        tmp_path,
        "pg-inf",
        {"type": "sql", "url": pg_url(pg_schema)},
        query={"table": "t"},
        format="jsonl",
        destination="out/pg.jsonl",
    )
    run = apply(spec, expect=1)
    assert "in `seen`" in run["error"] and "::text" in run["error"]
