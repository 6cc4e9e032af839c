"""The filter language keeps the same rows in SQL (SQLite, PostgreSQL) as in pandas.

Each filter runs (a) as a WHERE clause through SqlSource and (b) through apply_filter
over the unfiltered rows that same source yields; both must keep the same row ids.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Before exportctl.sources, which (imported first) meets itself again through exportctl.spec.
import exportctl.model as m
from exportctl.errors import SourceError
from exportctl.sources.base import Request
from exportctl.sources.sql import lists as sql_lists
from exportctl.sources.sql.options import SqlOptions
from exportctl.sources.sql.source import SqlSource
from exportctl.transforms.filter import apply_filter
from tests.conftest import pg_url

TABLE = "proxies"
UTC = dt.UTC


def create_table(engine: sa.Engine, schema: str | None = None) -> sa.Table:
    table = sa.Table(
        TABLE,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("n", sa.Integer),
        sa.Column("x", sa.Float),
        sa.Column("t", sa.Text),
        sa.Column("flag", sa.Boolean),
        sa.Column("seen", sa.DateTime),
        sa.Column("seen_tz", sa.DateTime(timezone=True)),
        schema=schema,
    )
    table.create(engine)
    return table


@dataclass
class Database:
    """A table written through SQLAlchemy and read back as an export reads it."""

    engine: sa.Engine
    table: sa.Table
    source: SqlSource

    def load(self, rows: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.table.delete())
            if rows:
                conn.execute(self.table.insert(), rows)

    def ids_via_sql(self, node: m.Filter) -> set[int]:
        return ids(self.source.chunks(Request(m.Query(table=TABLE, where=node))))

    def unfiltered(self) -> list[pd.DataFrame]:
        return list(self.source.chunks(Request(m.Query(table=TABLE))))


def ids(chunks: Iterator[pd.DataFrame] | list[pd.DataFrame]) -> set[int]:
    return {int(i) for chunk in chunks for i in chunk["id"]}


def ids_via_pandas(chunks: list[pd.DataFrame], node: m.Filter) -> set[int]:
    return ids([apply_filter(chunk, node) for chunk in chunks])


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'filters.db'}"
    engine = sa.create_engine(url)
    source = SqlSource(SqlOptions(url=url), tmp_path)
    yield Database(engine, create_table(engine), source)
    source.close()
    engine.dispose()


@pytest.fixture
def postgresql_db(pg_engine: sa.Engine, pg_schema: str, tmp_path: Path) -> Iterator[Database]:
    source = SqlSource(SqlOptions(url=pg_url(pg_schema)), tmp_path)
    yield Database(pg_engine, create_table(pg_engine, pg_schema), source)
    source.close()


# --- random tables and random filters ---------------------------------------

# Small domains, so that equality, LIKE and ranges match often.
TEXT_ALPHABET = "aAb%_\\/é"
VALUES = {
    "n": st.integers(-3, 3),
    "x": st.sampled_from([-1.5, -0.0, 0.0, 0.5, 1.0, 2.0, 2.5]),
    "t": st.text(TEXT_ALPHABET, max_size=4),
    "flag": st.booleans(),
}
# Values a filter compares with: the column's kind, numbers of the other kind too.
OPERANDS = {
    **VALUES,
    "n": st.integers(-3, 3) | st.sampled_from([-0.5, 1.5, 2.0]),
    "x": VALUES["x"] | st.integers(-2, 3),
}
# Wildcards, ordinary characters, and escapes (\% \_ \\ and a needless \a).
LIKE_TOKENS = ["%", "_", "a", "A", "b", "é", "/", "\\%", "\\_", "\\\\", "\\a"]

rows_of_table = st.lists(
    st.fixed_dictionaries({name: st.none() | values for name, values in VALUES.items()}),
    max_size=12,
).map(lambda rows: [{"id": i, **row} for i, row in enumerate(rows)])


def field_tests(field: str) -> st.SearchStrategy[m.Filter]:
    operand = OPERANDS[field]
    return st.one_of(
        st.builds(
            m.Compare,
            st.just(field),
            st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"]),
            operand,
        ),
        st.builds(
            m.InSet,
            st.just(field),
            st.lists(operand, min_size=1, max_size=3).map(tuple),
            st.booleans(),
        ),
        st.builds(m.Between, st.just(field), operand, operand),
        st.builds(m.IsNull, st.just(field), st.booleans()),
    )


leaf_filters = st.one_of(
    *(field_tests(field) for field in VALUES),
    st.builds(
        m.Like, st.just("t"), st.lists(st.sampled_from(LIKE_TOKENS), max_size=5).map("".join)
    ),
    st.builds(m.Contains, st.just("t"), st.text(TEXT_ALPHABET, max_size=3)),
)
filters = st.recursive(
    leaf_filters,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda items: m.And(tuple(items))),
        st.lists(inner, min_size=1, max_size=3).map(lambda items: m.Or(tuple(items))),
        inner.map(m.Not),
    ),
    max_leaves=6,
)

# The fixture is reused across examples on purpose: each example reloads the table.
AGREEMENT = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_agreement(db: Database, rows: list[dict[str, Any]], nodes: list[m.Filter]) -> None:
    db.load(rows)
    unfiltered = db.unfiltered()
    assert ids(unfiltered) == {row["id"] for row in rows}
    for node in nodes:
        assert db.ids_via_sql(node) == ids_via_pandas(unfiltered, node), node


@settings(AGREEMENT, max_examples=100)
@given(rows=rows_of_table, nodes=st.lists(filters, min_size=1, max_size=4))
def test_sqlite_and_pandas_keep_the_same_rows(
    sqlite_db: Database, rows: list[dict[str, Any]], nodes: list[m.Filter]
) -> None:
    assert_agreement(sqlite_db, rows, nodes)


@pytest.mark.postgres
@settings(AGREEMENT, max_examples=40)
@given(rows=rows_of_table, nodes=st.lists(filters, min_size=1, max_size=4))
def test_postgresql_and_pandas_keep_the_same_rows(
    postgresql_db: Database, rows: list[dict[str, Any]], nodes: list[m.Filter]
) -> None:
    assert_agreement(postgresql_db, rows, nodes)


# --- golden cases, on each engine -------------------------------------------


def golden_row(
    id_: int,
    n: int | None,
    x: float | None,
    t: str | None,
    flag: bool | None,
    seen: dt.datetime | None,
) -> dict[str, Any]:
    seen_tz = None if seen is None else seen.replace(tzinfo=UTC)
    return {"id": id_, "n": n, "x": x, "t": t, "flag": flag, "seen": seen, "seen_tz": seen_tz}


GOLDEN_ROWS = [
    golden_row(1, 1, 1.5, "abc", True, dt.datetime(2024, 1, 1)),
    golden_row(2, 2, -0.0, "ABC", False, dt.datetime(2024, 6, 1, 12)),
    golden_row(3, None, None, None, None, None),
    golden_row(4, 3, 2.5, "a%c", True, dt.datetime(2023, 12, 31, 23, 30)),
    golden_row(5, -1, 0.0, "", False, dt.datetime(2024, 1, 1, 0, 0, 0, 1)),
]

GOLDEN_TYPES = {
    "id": pa.int64(),
    "n": pa.int64(),
    "x": pa.float64(),
    "t": pa.string(),
    "flag": pa.bool_(),
    "seen": pa.timestamp("us"),
    "seen_tz": pa.timestamp("us", tz="UTC"),
}

n, x, t = "n", "x", "t"
GOLDEN_CASES = {
    # NULL: a comparison with it is unknown, and `not unknown` is unknown
    "eq": (m.Compare(n, "eq", 1), {1}),
    "ne-excludes-null": (m.Compare(n, "ne", 1), {2, 4, 5}),
    "not-eq-excludes-null": (m.Not(m.Compare(n, "eq", 1)), {2, 4, 5}),
    "in": (m.InSet(n, (1, 2)), {1, 2}),
    "not-in-excludes-null": (m.InSet(n, (1, 2), negate=True), {4, 5}),
    "not-of-in-excludes-null": (m.Not(m.InSet(n, (1, 2))), {4, 5}),
    "is-null": (m.IsNull(n), {3}),
    "is-not-null": (m.IsNull(n, negate=True), {1, 2, 4, 5}),
    "empty-text-is-not-null": (m.Compare(t, "eq", ""), {5}),
    "or-with-is-null": (m.Or((m.Compare(n, "eq", 1), m.IsNull(n))), {1, 3}),
    "and": (m.And((m.Compare(n, "ne", 1), m.Compare(n, "lt", 3))), {2, 5}),
    "not-of-unknown-or": (m.Not(m.Or((m.Compare(n, "eq", 1), m.Compare(n, "eq", 9)))), {2, 4, 5}),
    "not-of-false-and": (
        m.Not(m.And((m.Compare(n, "eq", 1), m.Compare(t, "eq", "z")))),
        {1, 2, 4, 5},
    ),
    # BETWEEN includes both ends
    "between-ints": (m.Between(n, 1, 3), {1, 2, 4}),
    "between-floats": (m.Between(x, 1.5, 2.5), {1, 4}),
    "between-reversed-is-empty": (m.Between(n, 3, 1), set()),
    # LIKE and contains are case-sensitive; contains has no wildcards
    "like-lower": (m.Like(t, "a%"), {1, 4}),
    "like-upper": (m.Like(t, "A%"), {2}),
    "like-underscore": (m.Like(t, "a_c"), {1, 4}),
    "like-escaped-percent": (m.Like(t, "a\\%c"), {4}),
    "like-empty-pattern": (m.Like(t, ""), {5}),
    "contains-lower": (m.Contains(t, "b"), {1}),
    "contains-upper": (m.Contains(t, "B"), {2}),
    "contains-percent-is-literal": (m.Contains(t, "%"), {4}),
    "contains-underscore-is-literal": (m.Contains(t, "_"), set()),
    # numbers of the other kind, -0.0, and values beyond the column's type
    "float-in-int-column": (m.InSet(n, (1.0, 2.5)), {1}),
    "float-eq-int-column": (m.Compare(n, "eq", 2.5), set()),
    "int-eq-float-column": (m.Compare(x, "eq", 0), {2, 5}),
    "minus-zero-in": (m.InSet(x, (0.0,)), {2, 5}),
    "minus-zero-not-in": (m.InSet(x, (0.0,), negate=True), {1, 4}),
    "int-beyond-integer-column": (m.Compare(n, "lt", 2**40), {1, 2, 4, 5}),
    "bool-eq": (m.Compare("flag", "eq", False), {2, 5}),
    "bool-ordered": (m.Compare("flag", "lt", True), {2, 5}),
    # timestamp text: without an offset it is UTC
    "timestamp-date-text": (m.Compare("seen", "ge", "2024-01-01"), {1, 2, 5}),
    "timestamp-text-with-offset": (m.Compare("seen", "lt", "2024-01-01T01:00:00+01:00"), {4}),
    "timestamp-between": (m.Between("seen", "2024-01-01", "2024-01-01T00:00:00.000001Z"), {1, 5}),
    "aware-timestamp": (m.Compare("seen_tz", "ge", "2024-01-01T01:00:00+01:00"), {1, 2, 5}),
    "aware-timestamp-no-offset": (m.Compare("seen_tz", "lt", "2024-01-01"), {4}),
}


def golden_frame() -> pd.DataFrame:
    """The golden rows as an Arrow-backed frame, typed as SqlSource types them."""
    columns = {name: [row[name] for row in GOLDEN_ROWS] for name in GOLDEN_TYPES}
    return pa.Table.from_pydict(columns, pa.schema(GOLDEN_TYPES)).to_pandas(
        types_mapper=pd.ArrowDtype
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "pandas"])
def keep(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The ids of the golden rows a filter keeps, on one engine."""
    if request.param == "pandas":
        yield lambda node: ids_via_pandas([golden_frame()], node)
        return
    db: Database = request.getfixturevalue(f"{request.param}_db")
    db.load(GOLDEN_ROWS)
    yield db.ids_via_sql


@pytest.mark.parametrize(("node", "expected"), GOLDEN_CASES.values(), ids=GOLDEN_CASES.keys())
def test_golden_filter(keep: Any, node: m.Filter, expected: set[int]) -> None:
    assert keep(node) == expected


# --- long `in:` lists, bound as one array parameter ----------------------------

in_sets = st.one_of(
    *(
        st.builds(
            m.InSet,
            st.just(f),
            st.lists(OPERANDS[f], min_size=1, max_size=4).map(tuple),
            st.booleans(),
        )
        for f in VALUES
    )
)
in_filters = st.recursive(
    in_sets,
    lambda inner: (
        inner.map(m.Not)
        | st.lists(inner, min_size=1, max_size=2).map(lambda items: m.Or(tuple(items)))
    ),
    max_leaves=3,
)


@settings(AGREEMENT, max_examples=60)
@given(rows=rows_of_table, nodes=st.lists(in_filters, min_size=1, max_size=4))
def test_sqlite_lists_bound_as_arrays_keep_the_same_rows(
    sqlite_db: Database, rows: list[dict[str, Any]], nodes: list[m.Filter], monkeypatch
) -> None:
    """Every list through the array path (json_each), as pandas filters."""
    monkeypatch.setattr(sql_lists, "LONG_LIST", 0)
    assert_agreement(sqlite_db, rows, nodes)


@pytest.mark.postgres
@settings(AGREEMENT, max_examples=30)
@given(rows=rows_of_table, nodes=st.lists(in_filters, min_size=1, max_size=4))
def test_postgresql_lists_bound_as_arrays_keep_the_same_rows(
    postgresql_db: Database, rows: list[dict[str, Any]], nodes: list[m.Filter], monkeypatch
) -> None:
    """Every list through the array path (= ANY), as pandas filters."""
    monkeypatch.setattr(sql_lists, "LONG_LIST", 0)
    assert_agreement(postgresql_db, rows, nodes)


def _long_lists() -> list[m.Filter]:
    """100,000 values a list (integers with a float, text), negated too; and timestamps
    (2,000: past `LONG_LIST` too, and each is parsed on both sides)."""
    numbers = (*range(-50_000, 50_000 - 1), 2.5)
    texts = (*(f"t{i}" for i in range(99_999)), "abc")
    stamps = (*(f"2024-01-01T00:00:{i % 60:02d}.{i:06d}" for i in range(1_999)), "2024-06-01T12:00")
    return [
        m.InSet("n", numbers),
        m.InSet("n", numbers, negate=True),
        m.InSet("t", texts),
        m.InSet("t", texts, negate=True),
        m.InSet("seen", stamps),
    ]


def _agree_on_long_lists(db: Database) -> None:
    rows = [*GOLDEN_ROWS] + [
        golden_row(10 + i, i * 7919 % 120_000 - 60_000, float(i), f"t{i * 31}", i % 2 == 0, None)
        for i in range(300)
    ]
    db.load(rows)
    unfiltered = db.unfiltered()
    for node in _long_lists():
        kept = db.ids_via_sql(node)
        assert kept == ids_via_pandas(unfiltered, node), node.field
        assert kept  # each list keeps some rows


def test_sqlite_takes_an_in_list_of_100000_values(sqlite_db: Database) -> None:
    """ "too many SQL variables" (and a 301 KB message) before."""
    _agree_on_long_lists(sqlite_db)


@pytest.mark.postgres
def test_postgresql_takes_an_in_list_of_100000_values(postgresql_db: Database) -> None:
    _agree_on_long_lists(postgresql_db)


def test_a_long_value_is_quoted_short(sqlite_db: Database) -> None:
    """A 100,000-character value that is no timestamp: named by a prefix and its length."""
    sqlite_db.load([])
    with pytest.raises(SourceError) as error:
        sqlite_db.ids_via_sql(m.InSet("seen", ("2024-01-01", "x" * 100_000)))
    assert "'xxxxx" in str(error.value) and "(100,000 characters)" in str(error.value)
    assert len(str(error.value)) < 200
