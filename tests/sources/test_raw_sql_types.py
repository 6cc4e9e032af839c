"""A raw `sql:` query's columns are typed by the database as a `table:` export's are:
every demo table exports to the same bytes either way, from SQLite and PostgreSQL, in
every typed format; and the demo's own LEFT JOIN exports one type whatever the chunk."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from exportctl.clock import FakeClock
from exportctl.demo.build import init_demo
from exportctl.plan.compiler import compile_plan
from exportctl.run import runner
from exportctl.spec.load import load_spec
from tests.conftest import copy_tables, pg_url

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
#: proxywhirl's own tables, in the demo's system.db.
KEYS = {
    "proxy_identities": "url",
    "proxy_statuses": "proxy_url",
    "validation_results": "id",
}
FORMATS = ("csv", "jsonl", "yaml", "parquet")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("raw")
    init_demo(root / "demo", proxies=60, metrics=20, log_lines=20, seed=5)
    return root / "demo"


def export(folder: Path, name: str, url: str, query: dict[str, Any], fmt: str, chunk: int) -> bytes:
    doc = {
        "version": 1,
        "name": "raw",
        "source": {"type": "sql", "url": url, "chunk_size": chunk},
        "query": query,
        "format": fmt,
        "credentials": "keep",
        "destination": f"{name}.{fmt}",
    }
    spec = folder / f"{name}.spec.yaml"  # never the export's own name (yaml)
    spec.write_text(json.dumps(doc))
    result = runner.run(compile_plan(load_spec(spec), now=NOW, run_id=name), clock=FakeClock(NOW))
    assert result.status == "succeeded", result.error
    return (folder / f"{name}.{fmt}").read_bytes()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_raw_sql_exports_a_table_as_table_does(
    tmp_path: Path, demo: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url, prefix = f"sqlite:///{demo / 'system.db'}", ""
    if backend == "postgresql":
        schema = request.getfixturevalue("pg_schema")
        copy_tables(demo / "system.db", request.getfixturevalue("pg_engine"), schema, list(KEYS))
        url, prefix = pg_url(schema), f"{schema}."
    for table, key in KEYS.items():
        for fmt in FORMATS:
            by_table = {"table": f"{prefix}{table}", "order_by": [key]}
            by_sql = {"sql": f"SELECT * FROM {prefix}{table}", "order_by": [key]}
            name = f"{table}-{fmt}"
            assert export(tmp_path, f"{name}-t", url, by_table, fmt, 7) == export(
                tmp_path, f"{name}-s", url, by_sql, fmt, 7
            ), (table, fmt)


def test_left_join_types_do_not_depend_on_the_chunk(tmp_path: Path, demo: Path) -> None:
    """The proxy-backup query, unmatched rows first: `avg_response_time_ms` was text at
    `chunk_size: 40`; its timestamps were stored text and its booleans 0 and 1."""
    query = {
        "sql": "SELECT i.*, s.health_status, s.last_check_at, s.avg_response_time_ms "
        "FROM proxy_identities i LEFT JOIN proxy_statuses s ON s.proxy_url = i.url",
        "order_by": ["avg_response_time_ms", "url"],  # NULLs (unmatched rows) first
    }
    url = f"sqlite:///{demo / 'system.db'}"
    tables = []
    for chunk in (2, 40, 1000):  # the demo has 3 NULL latencies: a first chunk of NULLs
        export(tmp_path, f"join-{chunk}", url, query, "parquet", chunk)
        table = pq.read_table(tmp_path / f"join-{chunk}.parquet")
        assert table.schema.field("avg_response_time_ms").type == pa.float64()
        assert table.schema.field("discovered_at").type == pa.timestamp("us", tz="UTC")
        assert table.schema.field("is_residential").type == pa.bool_()
        tables.append(table)
    assert all(t.equals(tables[0]) for t in tables)
    rows = export(tmp_path, "join-jsonl", url, query, "jsonl", 40).decode().splitlines()
    row = json.loads(rows[-1])
    assert row["discovered_at"].endswith("Z") and isinstance(row["is_residential"], bool)


def test_postgresql_raw_columns_take_their_types_from_the_oids(
    tmp_path: Path, pg_engine: Any, pg_schema: str
) -> None:
    """A raw query's first chunk NULL throughout: the OIDs type each column all the same."""
    with pg_engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {pg_schema}.t (k int PRIMARY KEY, x double precision, "
            "at timestamptz, ok boolean, n bigint)"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {pg_schema}.t VALUES (0, NULL, NULL, NULL, NULL), "
            "(1, NULL, NULL, NULL, NULL), (2, 1.5, '2024-01-02 03:04:05+01', true, 7)"
        )
    query = {"sql": f"SELECT k, x, at, ok, n, x * 2 AS twice FROM {pg_schema}.t", "order_by": ["k"]}
    export(tmp_path, "pg", pg_url(pg_schema), query, "parquet", 2)
    table = pq.read_table(tmp_path / "pg.parquet")
    utc = pa.timestamp("us", tz="UTC")
    assert [f.type for f in table.schema][1:] == [
        pa.float64(),
        utc,
        pa.bool_(),
        pa.int64(),
        pa.float64(),
    ]
    assert table.column("at").to_pylist()[2] == dt.datetime(2024, 1, 2, 2, 4, 5, tzinfo=dt.UTC)
