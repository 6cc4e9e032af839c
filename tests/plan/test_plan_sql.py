"""`plan` shows the SQL with named placeholders and its bound values as a table."""

from __future__ import annotations

import json
import re
import sqlite3
import string
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportctl.cli.main import main

SPEC = """\
version: 1
name: pool
source: {{type: sql, url: "{url}"}}
query:
  table: proxies
  where:
    - {{field: protocol, in: {choices}}}
    - {{field: port, lt: {port}}}
format: csv
destination: out.csv
"""
CHOICES = st.lists(st.text(string.ascii_letters, min_size=1, max_size=8), min_size=1, max_size=5)
PLACEHOLDER = re.compile(r"(?<!:):([A-Za-z_]\w*)")  # not a PostgreSQL ::cast


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plan") / "system.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE proxies (protocol TEXT, port INTEGER)")
    return path


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(choices=CHOICES, port=st.integers(1, 65535))
def test_bound_values_are_named_and_shown_as_a_table(
    tmp_path: Path, database: Path, kind: str, choices: list[str], port: int
) -> None:
    url = f"sqlite:///{database}" if kind == "sqlite" else "postgresql+psycopg://u@127.0.0.1/test"
    spec = tmp_path / "pool.yaml"
    spec.write_text(SPEC.format(url=url, choices=json.dumps(choices), port=port))

    result = CliRunner().invoke(main, ["plan", "--no-count", "--json", str(spec)])
    assert result.exit_code == 0, result.output
    source = json.loads(result.stdout)[0]["source"]
    sql, params = source["sql"], source["params"]
    assert "?" not in sql and "POSTCOMPILE" not in sql
    assert PLACEHOLDER.findall(sql) == list(params)  # every value named, in reading order
    assert list(params.values()) == [*choices, port]

    shown = CliRunner().invoke(main, ["plan", "--no-count", str(spec)]).stdout
    table = shown[shown.index("bound values:") :].splitlines()[1 : len(params) + 1]
    rows = [line.split(None, 1) for line in table]
    assert [(name, json.loads(value)) for name, value in rows] == [
        (f":{k}", v) for k, v in params.items()
    ]
