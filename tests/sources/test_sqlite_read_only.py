"""A SQLite source is opened read-only: a missing file is said so and never created, on the
general read path and on the ADBC one, whatever characters its path holds."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from exportctl import model as m
from exportctl.cli.main import main
from exportctl.sources.base import Request
from exportctl.sources.sql import sqlite_arrow
from exportctl.sources.sql.options import SqlOptions
from exportctl.sources.sql.source import SqlSource
from tests.support.jsonlines import json_lines

#: Names SQLite's `file:` URIs and SQLAlchemy's URLs give a meaning to.
NAMES = ["plain.db", "a space, ?, # and %25.db", "ünï 密.db"]
READ_PATHS = ["arrow", "rows"]


def make_db(path: Path, mode: int | None = None, wal: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as conn, conn:
        if wal:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE proxies (id INTEGER PRIMARY KEY, url TEXT NOT NULL)")
        conn.executemany(
            "INSERT INTO proxies VALUES (?, ?)", [(i, f"http://p{i}:80") for i in range(7)]
        )
    if mode is not None:
        path.chmod(mode)


def export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, read_by: str, query: dict
) -> Result:
    monkeypatch.setenv(sqlite_arrow.SWITCH, "1" if read_by == "arrow" else "0")
    monkeypatch.setenv("EXPORTCTL_STATE", f"sqlite:///{tmp_path / 'state.db'}")
    spec = tmp_path / "specs" / "s.yaml"
    spec.parent.mkdir(exist_ok=True)
    document = {
        "version": 1,
        "name": "s",
        "source": {"type": "sql", "url": url},
        "query": query,
        "format": "jsonl",
        "destination": str(tmp_path / "out" / "s.jsonl"),
    }
    spec.write_text(yaml.safe_dump(document))
    return CliRunner().invoke(main, ["apply", str(spec), "--json"])


QUERIES = {"table": {"table": "proxies"}, "sql": {"sql": "SELECT id, url FROM proxies"}}


def url_of(path: Path, relative_to: Path | None) -> str:
    where = os.path.relpath(path, relative_to) if relative_to else str(path)
    return "sqlite:///" + where.replace("%", "%25").replace("?", "%3F").replace("#", "%23")


@pytest.mark.parametrize("query", list(QUERIES))
@pytest.mark.parametrize("read_by", READ_PATHS)
@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
@pytest.mark.parametrize("name", NAMES)
def test_a_missing_sqlite_file_is_named_and_never_created(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    relative: bool,
    read_by: str,
    query: str,
) -> None:
    missing = tmp_path / "data" / name
    (tmp_path / "data").mkdir()

    result = export(
        tmp_path,
        monkeypatch,
        url_of(missing, tmp_path / "specs" if relative else None),
        read_by,
        QUERIES[query],
    )

    assert result.exit_code == 1, result.output
    (summary,) = json.loads(result.stdout)
    assert f"{missing} does not exist" in summary["error"]
    assert list((tmp_path / "data").iterdir()) == []  # no file, no -journal, -wal or -shm
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize("read_by", READ_PATHS)
@pytest.mark.parametrize(
    ("mode", "wal"),
    [(None, False), (0o444, False), (None, True), (0o444, True)],
    ids=["rw", "0444", "wal", "wal-0444"],
)
@pytest.mark.parametrize("name", NAMES)
def test_an_existing_sqlite_file_is_read_and_left_unchanged(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    mode: int | None,
    wal: bool,
    read_by: str,
) -> None:
    path = tmp_path / "data" / name
    make_db(path, mode, wal)
    before = files(path.parent), path.read_bytes()

    result = export(tmp_path, monkeypatch, url_of(path, None), read_by, QUERIES["table"])

    assert result.exit_code == 0, result.output
    rows = json_lines((tmp_path / "out" / "s.jsonl").read_text())
    assert rows == [{"id": i, "url": f"http://p{i}:80"} for i in range(7)]
    assert (files(path.parent), path.read_bytes()) == before
    source = SqlSource(SqlOptions(url=url_of(path, None)), path.parent)
    chunks = list(source.chunks(Request(m.Query(table="proxies"))))
    assert source.read_by == read_by and sum(len(c) for c in chunks) == 7


def files(folder: Path) -> list[str]:
    """The folder's files but the -wal and -shm SQLite makes to read a WAL database."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(("-wal", "-shm")))
