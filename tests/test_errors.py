"""Messages never carry the credentials of a URL, wherever the URL came from."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import assume, given
from hypothesis import strategies as st

from exportctl.cli import main
from exportctl.errors import scrub

SECRET = "pa55-w0rd"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://bob:pw@db/x failed", "postgresql://***:***@db/x failed"),
        (
            "see http://a:b@h:1/p and s3://k:s@bucket",
            "see http://***:***@h:1/p and s3://***:***@bucket",
        ),
        ("socks5://[::1]:1080 is fine", "socks5://[::1]:1080 is fine"),
        ("no url here: a:b@c", "no url here: a:b@c"),
    ],
)
def test_scrub_masks_user_and_password(text: str, expected: str) -> None:
    assert scrub(text) == expected


@given(user=st.text("abc%-_.~", min_size=1), password=st.text("xyz%!$&'()*+,;=-_.~", min_size=1))
def test_scrub_never_leaves_the_password(user: str, password: str) -> None:
    assume(password != "***")  # a password that is the mask itself cannot be told from it
    assert f":{password}@" not in scrub(f"failed: https://{user}:{password}@host/path")


def test_a_failed_run_reports_its_error_without_credentials(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE t (a INTEGER)")
    spec = tmp_path / "s.yaml"
    table = f"postgresql://admin:{SECRET}@db.internal/prod"  # a table name no one should have
    spec.write_text(
        f'version: 1\nname: s\nsource: {{type: sql, url: "sqlite:///{db}"}}\n'
        f'query: {{sql: "SELECT * FROM \\"{table}\\""}}\nformat: csv\ndestination: out.csv\n'
    )
    result = CliRunner().invoke(main, ["apply", str(spec), "--json"])
    run = json.loads(result.stdout)[0]
    assert run["status"] == "failed" and "no such table" in run["error"]
    assert SECRET not in result.output


def test_plan_hides_credentials_a_source_reports(tmp_path: Path) -> None:
    spec = tmp_path / "logs.yaml"
    spec.write_text(
        "version: 1\nname: l\nsource: {type: logs, path: "
        f"'https://alice:{SECRET}@logs.example/app.log'}}\nformat: jsonl\ndestination: o.jsonl\n"
    )
    result = CliRunner().invoke(main, ["plan", str(spec), "--no-count", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["source"]["path"] == "https://***:***@logs.example/app.log"
    assert SECRET not in result.output


def test_a_missing_database_driver_fails_that_spec_only(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE t (a INTEGER)")
    base = "version: 1\nname: {n}\nsource: {{type: sql, url: '{u}'}}\nquery: {{table: t}}\n"
    tail = "incremental: {{cursor: a}}\nformat: csv\ndestination: {n}.csv\n"
    (tmp_path / "a.yaml").write_text((base + tail).format(n="a", u="mysql+nosuchdriver://h/d"))
    (tmp_path / "b.yaml").write_text((base + tail).format(n="b", u=f"sqlite:///{db}"))
    result = CliRunner().invoke(
        main, ["apply", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"), "--json"]
    )
    runs = {r["spec"]: r for r in json.loads(result.stdout)}
    assert result.exit_code == 1
    assert runs["a"]["status"] == "failed" and "nosuchdriver" in runs["a"]["error"]
    assert runs["b"]["status"] == "succeeded"
