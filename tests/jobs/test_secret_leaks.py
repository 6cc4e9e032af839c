"""No secret in any error, traceback, output or ledger byte, whichever way a run fails.

Secrets (random text with line breaks and any Unicode) are planted in every kind of
secret column of the demo's pool: the encrypted username and password (revealed), the
user info of the `url` column, a column named like a secret (`api_token`) and a column
a `redact` rule names (`note`); and in a destination URL's password. Then every
failing path is driven: a line break in a text template's line, a type check and
constraints in `validate`, a template that fails on the value, a destination that
cannot be reached. What the CLI printed (with `--debug`, so tracebacks too), the
ledger's raw bytes (database, WAL) and its audit table must hold no form of a secret.
"""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportctl.cli.main import main
from exportctl.demo.build import init_demo
from exportctl.ledger.store import Ledger
from tests.conftest import demo_env

KEY = "PROXYWHIRL_CACHE_ENCRYPTION_KEY"
HOST = "leak.example"
#: Text of any kind but NUL and lone surrogates (SQLite and UTF-8 refuse them).
PIECE = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=8, max_size=24
)
SECRET = st.tuples(PIECE, st.sampled_from(["\n", "\r\n", "\r"]), PIECE).map("".join)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("leaks") / "demo"
    init_demo(folder, proxies=5, metrics=5, log_lines=5, seed=3)
    return folder


def _encrypted(plain: str, key: str) -> str:
    """As proxywhirl stores it: `encrypted:` and the base64 of a Fernet token."""
    return "encrypted:" + base64.b64encode(Fernet(key).encrypt(plain.encode())).decode()


def _pool(demo: Path, folder: Path, secrets: dict[str, str], key: str) -> Path:
    """A copy of the demo pool with one more proxy whose every secret column holds one."""
    path = folder / "system.db"
    shutil.copy(demo / "system.db", path)
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE proxy_identities ADD COLUMN api_token TEXT")
        db.execute("ALTER TABLE proxy_identities ADD COLUMN note TEXT")
        db.execute(
            "INSERT INTO proxy_identities (url, protocol, host, port, username, password, "
            "discovered_at, api_token, note) VALUES (?, 'http', ?, 8080, ?, ?, "
            "'2024-01-01 00:00:00', ?, ?)",
            (
                f"http://u:{quote(secrets['url'], safe='')}@{HOST}:8080",
                HOST,
                _encrypted(secrets["username"], key),
                _encrypted(secrets["password"], key),
                secrets["api_token"],
                secrets["note"],
            ),
        )
    return path


def _specs(folder: Path, db: Path, destination_secret: str) -> None:
    """One spec per failing path, each reading the planted proxy only."""
    base = {
        "version": 1,
        "source": {"type": "sql", "url": f"sqlite:///{db}"},
        "query": {"table": "proxy_identities", "where": {"field": "host", "eq": HOST}},
        "credentials": "reveal",
        "redact": False,
        "retry": {"attempts": 1},
    }
    when = "{{ %s | strftime('%%Y') }}"  # fails on text that is no date, quoting it
    paths: dict[str, dict[str, Any]] = {
        "line-break": {
            "format": {"type": "text", "template": "{{host}}:{{port}}:{{username}}:{{password}}"}
        },
        "type-error": {
            "fields": [
                {"name": n, "type": "integer"} for n in ("username", "password", "api_token")
            ]
            + [{"name": "url", "type": "boolean"}],
        },
        "constraints": {
            "fields": [
                {"name": "password", "pattern": "^x$"},
                {"name": "username", "allowed": ["x"]},
                {"name": "api_token", "min": 0},
                {"name": "url", "pattern": "^x$"},
            ],
        },
        "template-password": {"fields": [{"as": "when", "template": when % "password"}]},
        "template-token": {"fields": [{"as": "when", "template": when % "api_token"}]},
        "template-redacted": {
            "fields": [{"as": "when", "template": when % "note"}],
            "redact": {"keys": {"add": ["note"]}},
        },
        "destination": {
            "fields": ["host"],
            "destination": f"http://user:{quote(destination_secret, safe='')}@127.0.0.1:9/o.csv",
        },
    }
    for name, more in paths.items():
        doc = {**base, "name": name, "format": "csv", "destination": f"out/{name}.csv", **more}
        (folder / f"{name}.yaml").write_text(json.dumps(doc))


def _escaped(text: str) -> set[str]:
    """`text` as repr and JSON (ASCII or not) escape it inside quotes."""
    return {
        text,
        repr(text)[1:-1],
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
    }


def _forms(secret: str) -> set[str]:
    """Every form a secret could leak in: raw, escaped once or twice (the repr of an
    exception whose message holds a repr), percent-encoded. (Not each of its lines:
    hypothesis finds lines such as `internal`, which every message may hold.)"""
    once = _escaped(secret)
    forms = set().union(*(_escaped(form) for form in once))
    return forms | {quote(secret, safe=""), quote(secret), quote_plus(secret)}


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    secrets=st.fixed_dictionaries(
        {k: SECRET for k in ("username", "password", "url", "api_token", "note", "destination")}
    )
)
def test_no_failing_path_leaks_a_secret(
    tmp_path: Path, demo: Path, secrets: dict[str, str]
) -> None:
    folder = tmp_path / uuid.uuid4().hex
    folder.mkdir()
    env = {**demo_env(demo), "EXPORTCTL_DEBUG": "1"}
    db = _pool(demo, folder, secrets, env[KEY])
    _specs(folder, db, secrets["destination"])
    state = folder / "state.db"
    runner = CliRunner()
    args = ["--state", f"sqlite:///{state}"]
    applied = runner.invoke(main, ["apply", str(folder), *args, "--json"], env=env)
    runs = json.loads(applied.stdout)
    assert applied.exit_code == 1, applied.output
    assert {r["status"] for r in runs} == {"failed"}, runs
    history = runner.invoke(main, ["history", *args, "--json"], env=env)
    texts = [applied.stdout, applied.stderr, history.stdout]
    audit = Ledger(f"sqlite:///{state}").audit_events()
    texts += [json.dumps(event, ensure_ascii=False, default=str) for event in audit]
    texts += [json.dumps(event, default=str) for event in audit]
    raw = b"".join(p.read_bytes() for p in folder.glob("state.db*"))
    for secret in secrets.values():
        for form in _forms(secret):
            assert not any(form in text for text in texts), (form, texts)
            assert form.encode() not in raw, form
    # --debug printed each (a chained cause adds its own "Traceback" header).
    assert applied.stderr.count("Traceback") >= len(runs)
