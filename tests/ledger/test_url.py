"""A SQLite ledger's URL, written and read without SQLAlchemy, exactly as SQLAlchemy does."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import URL, make_url

from exportctl.ledger.locate import sqlite_file
from exportctl.ledger.url import ledger_url, shown, sqlite_database, sqlite_url

# Paths as a user may name them: spaces, `%`, `?`, `#`, `@`, `:` and letters beyond ASCII.
paths = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)


@given(paths)
def test_a_files_url_is_the_one_sqlalchemy_writes_and_reads_back(path: str) -> None:
    url = sqlite_url(path)

    assert url == URL.create("sqlite", database=path).render_as_string(hide_password=False)
    assert sqlite_database(url) == make_url(url).database == path
    assert shown(url) == make_url(url).render_as_string(hide_password=True)


@given(paths)
def test_a_url_given_as_text_is_read_as_sqlalchemy_reads_it(rest: str) -> None:
    text = f"sqlite:///{rest}"
    database = sqlite_database(text)
    if "?" in rest:  # options: SQLAlchemy's to read
        assert database is None
        return
    assert database == make_url(text).database
    assert shown(text) == make_url(text).render_as_string(hide_password=True)
    assert ledger_url(text) == text


def test_the_sqlite_file_of_each_form() -> None:
    assert str(sqlite_file("sqlite:////srv/a%20b/state.db")) == "/srv/a b/state.db"
    assert str(sqlite_file("sqlite:////srv/state.db?timeout=5")) == "/srv/state.db"
    assert sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("sqlite://") is None
    assert sqlite_file("postgresql+psycopg://u@127.0.0.1/db") is None
    assert ledger_url("/srv/a?b/state.db") == "sqlite:////srv/a%3Fb/state.db"
