"""Messages never carry the credentials of a URL, wherever the URL came from."""

from __future__ import annotations

import json
import random
import sqlite3
import string
import time
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from exportctl.cli.main import main
from exportctl.errors import scrub
from exportctl.run.runner import failure_message

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


#: Pieces of URLs, the characters the scrubbing looks for, and letters between.
PIECES = ["a", "z9", ".", "-", "+", "://", ":", "@", "/", "?", "&", "=", "#", " ", "sig", "key"]


@settings(max_examples=25, deadline=None)
@given(pattern=st.lists(st.sampled_from(PIECES), min_size=1, max_size=6), seed=st.integers())
def test_scrub_takes_linear_time_on_adversarial_text(pattern: list[str], seed: int) -> None:
    """1 MB of repeated or random URL pieces is scrubbed within a CPU-second (it
    backtracked). CPU time, not wall time: other processes on a busy machine don't count."""
    unit = "".join(pattern)
    repeated = (unit * (1_000_000 // len(unit) + 1))[:1_000_000]
    mixed = "".join(random.Random(seed).choices(PIECES, k=200_000))
    for text in (repeated, mixed):
        started = time.thread_time()
        scrub(text)
        assert time.thread_time() - started < 1.0


URL_SAFE = string.ascii_letters + string.digits + "-._~%!$&'()*+,;=:@?#"


@given(
    scheme=st.sampled_from(["https", "postgresql+psycopg", "s3", "socks5h", "redis", "ftp"]),
    user=st.text(URL_SAFE.replace(":", "").replace("@", ""), max_size=12),
    password=st.text(URL_SAFE, min_size=1, max_size=16),
    host=st.sampled_from(["db.internal", "10.0.0.1:5432", "[::1]:1080", "bucket", ""]),
    tail=st.sampled_from(["", "/path?x=1", "/", " and more", "'", '"', ")", "\nnext line"]),
    before=st.sampled_from(["", "failed: ", "(", "'", "url=", "a://b "]),
)
def test_scrub_masks_credentials_in_urls_of_every_shape(
    scheme: str, user: str, password: str, host: str, tail: str, before: str
) -> None:
    """User and password are masked whatever they hold (`@` and `:` too); the host stays."""
    shown = scrub(f"{before}{scheme}://{user}:{password}@{host}{tail}")
    assert shown == f"{before}{scheme}://***:***@{host}{tail}"


def test_plan_of_a_100000_character_field_is_quick(tmp_path: Path) -> None:
    """The plan quotes the field in its SQL; scrubbing that took over 120 s."""
    db = tmp_path / "s.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE t (a INTEGER)")
    spec = tmp_path / "s.yaml"
    spec.write_text(
        f'version: 1\nname: s\nsource: {{type: sql, url: "sqlite:///{db}"}}\n'
        f"query: {{table: t, where: {{field: {'a.b-' * 25_000}, eq: 1}}}}\n"
        "format: csv\ndestination: out.csv\n"
    )
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["plan", str(spec), "--no-count", "--json"])
    assert result.exit_code == 0, result.output[:2000]
    assert time.perf_counter() - started < 10


def _failing_template_spec(tmp_path: Path) -> Path:
    """A run that fails in a library: a template's strftime on text that is no date."""
    db = tmp_path / "s.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE t (a TEXT)")
        conn.execute("INSERT INTO t VALUES (?)", (f"see https://bob:{SECRET}@h/x",))
        conn.commit()
    spec = tmp_path / "s.yaml"
    spec.write_text(
        f'version: 1\nname: s\nsource: {{type: sql, url: "sqlite:///{db}"}}\n'
        "query: {table: t}\nfields: [{as: d, template: \"{{ a | strftime('%Y') }}\"}]\n"
        "format: csv\ndestination: out.csv\n"
    )
    return spec


@pytest.mark.parametrize(
    ("flags", "env"),
    [([], {}), (["--debug"], {}), ([], {"EXPORTCTL_DEBUG": "1"})],
    ids=["quiet", "--debug", "EXPORTCTL_DEBUG"],
)
def test_a_library_failure_keeps_its_text_and_debug_prints_the_traceback(
    tmp_path: Path, flags: list[str], env: dict[str, str]
) -> None:
    """ "ValueError: Invalid isoformat string: ...", not only the class; the traceback on
    request, to stderr, with the URL's password scrubbed from both."""
    spec = _failing_template_spec(tmp_path)
    result = CliRunner().invoke(
        main, [*flags, "apply", str(spec), "--json"], env={"EXPORTCTL_DEBUG": None, **env}
    )
    (run,) = json.loads(result.stdout)
    assert run["error"] == (  # the field it failed in, then the library's own words
        "the template of field `d`: ValueError: Invalid isoformat string: 'see https://***:***@h/x'"
    )
    traced = "Traceback (most recent call last)" in result.stderr
    assert traced == bool(flags or env)
    if traced:
        assert "in _strftime" in result.stderr and "https://***:***@h/x" in result.stderr
    assert SECRET not in result.output + result.stderr


@given(size=st.integers(2_001, 400_000), cut=st.sampled_from(["x", "é", "\n", "://"]))
def test_a_failure_message_is_capped(size: int, cut: str) -> None:
    """A library's 301 KB message (every placeholder of a 100,000-value list) is cut short,
    saying how long it was."""
    text = (cut * size)[:size]
    message = failure_message(ValueError(text))
    assert len(message) < 2_100
    assert message.endswith(
        f"(message cut: {len(f'internal error: ValueError: {text}'):,} characters)"
    )
