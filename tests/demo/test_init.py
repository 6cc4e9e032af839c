"""`exportctl demo init`: deterministic, laid out as proxywhirl does, nasty where real data is."""

from __future__ import annotations

import base64
import gzip
import json
import re
import sqlite3
import tomllib
from datetime import datetime
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import sqlalchemy as sa
import yaml
from cryptography.fernet import Fernet, InvalidToken

from exportctl.demo import build as demo
from exportctl.demo.build import DemoSummary, init_demo
from exportctl.errors import UsageError
from tests.paths import REPO

SMALL = {"proxies": 600, "metrics": 500, "log_lines": 400}
SCHEMA_PATH = REPO / "schemas" / "export-spec.schema.json"
SCHEMA_COMMENT = "# yaml-language-server: $schema=../schemas/export-spec.draft-07.schema.json"

# Table -> "column TYPE, ..." exactly as proxywhirl declares them, in order.
LAYOUT = {
    "proxy_identities": """url VARCHAR, protocol VARCHAR, host VARCHAR, port INTEGER,
        username VARCHAR, password VARCHAR, country_code VARCHAR, country_name VARCHAR,
        region VARCHAR, city VARCHAR, latitude FLOAT, longitude FLOAT, asn INTEGER,
        isp_name VARCHAR, is_residential BOOLEAN, is_datacenter BOOLEAN, source VARCHAR,
        source_url TEXT, discovered_at DATETIME""",
    "proxy_statuses": """proxy_url VARCHAR, health_status VARCHAR, last_success_at DATETIME,
        last_failure_at DATETIME, last_check_at DATETIME, consecutive_successes INTEGER,
        consecutive_failures INTEGER, total_checks INTEGER, total_successes INTEGER,
        avg_response_time_ms FLOAT, success_rate_7d FLOAT, updated_at DATETIME""",
    "validation_results": """id INTEGER, proxy_url VARCHAR, validated_at DATETIME,
        is_valid BOOLEAN, response_time_ms FLOAT, error_type VARCHAR, error_message TEXT""",
}
#: Not proxywhirl's: warehouse.db's tables.
WAREHOUSE = {
    "metric_samples": """id INTEGER, timestamp DATETIME, name VARCHAR, type VARCHAR,
        labels TEXT, value FLOAT""",
    "request_logs": """id INTEGER, timestamp DATETIME, level VARCHAR, component VARCHAR,
        request_id VARCHAR, proxy_url VARCHAR, method VARCHAR, target_url TEXT,
        status_code INTEGER, latency_ms FLOAT, message TEXT""",
}
COLUMNS = {
    table: [tuple(column.split()) for column in columns.split(",")]
    for table, columns in (LAYOUT | WAREHOUSE).items()
}
PRIMARY_KEYS = {
    "proxy_identities": "url",
    "proxy_statuses": "proxy_url",
    "validation_results": "id",
    "metric_samples": "id",
    "request_logs": "id",
}
LOGURU_KEYS = {
    "elapsed", "exception", "extra", "file", "function", "level", "line", "message",
    "module", "name", "process", "thread", "time",
}  # fmt: skip
L3_URL = "sqlite:///../cache/db/proxywhirl.db"
SQLITE_DATETIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    return init_demo(tmp_path_factory.mktemp("demo") / "system", seed=7, **SMALL)


@pytest.fixture(scope="module")
def db(made: DemoSummary):
    connection = sqlite3.connect(made.database)
    # Unqualified names find warehouse.db's tables too (SQLite searches attached databases).
    connection.execute("ATTACH DATABASE ? AS warehouse", (str(made.target / "warehouse.db"),))
    yield connection
    connection.close()


def text_values(db: sqlite3.Connection) -> list[str]:
    """Every TEXT value stored anywhere in the database."""
    values = []
    for table, columns in COLUMNS.items():
        for column, _ in columns:
            rows = db.execute(f"SELECT {column} FROM {table} WHERE typeof({column}) = 'text'")
            values += [value for (value,) in rows]
    return values


def log_lines(made: DemoSummary) -> list[str]:
    lines = []
    for path in made.log_files:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8", newline="") as file:
            lines += file.read().splitlines(keepends=True)
    return lines


# --- determinism -------------------------------------------------------------------


def test_the_same_seed_gives_the_same_bytes(made: DemoSummary, tmp_path: Path) -> None:
    again = init_demo(tmp_path / "again", seed=7, **SMALL)
    assert again.database.read_bytes() == made.database.read_bytes()
    for first, second in zip(made.log_files, again.log_files, strict=True):
        assert first.name == second.name
        assert first.read_bytes() == second.read_bytes()
    for first, second in zip(made.config_files, again.config_files, strict=True):
        assert first.read_bytes() == second.read_bytes()
    # The rest of the installation too: cache tiers, logfmt, scrapes, pyproject, warehouse.
    for name in (
        "warehouse.db",
        "cache",
        "logs/logfmt",
        "metrics",
        "metrics.prom",
        "pyproject.toml",
    ):
        mine = sorted(p for p in (made.target / name).glob("**/*") if p.is_file()) or [
            made.target / name
        ]
        theirs = [again.target / p.relative_to(made.target) for p in mine]
        assert [p.read_bytes() for p in mine] == [p.read_bytes() for p in theirs], name


def test_another_seed_gives_other_data(made: DemoSummary, tmp_path: Path) -> None:
    other = init_demo(tmp_path / "other", seed=8, **SMALL)
    assert other.database.read_bytes() != made.database.read_bytes()
    assert other.log_files[-1].read_bytes() != made.log_files[-1].read_bytes()
    assert other.config_files[-1].read_bytes() != made.config_files[-1].read_bytes()


# --- system.db layout ----------------------------------------------------------------


def test_tables_and_columns_are_proxywhirls(db: sqlite3.Connection) -> None:
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == set(LAYOUT)  # system.db holds proxywhirl's tables only
    kept = db.execute("SELECT name FROM warehouse.sqlite_master WHERE type='table'")
    assert {name for (name,) in kept} == set(WAREHOUSE)
    for table, expected in COLUMNS.items():
        info = db.execute(f"PRAGMA table_info({table})").fetchall()
        assert [(row[1], row[2]) for row in info] == expected, table
        assert [row[1] for row in info if row[5]] == [PRIMARY_KEYS[table]], table


def test_sqlalchemy_reflects_the_types_and_reads_datetimes(made: DemoSummary) -> None:
    engine = sa.create_engine(f"sqlite:///{made.database}")
    try:
        table = sa.Table("proxy_statuses", sa.MetaData(), autoload_with=engine)
        assert isinstance(table.c.last_check_at.type, sa.DateTime)
        assert isinstance(table.c.avg_response_time_ms.type, sa.Float)
        identities = sa.Table("proxy_identities", sa.MetaData(), autoload_with=engine)
        assert isinstance(identities.c.is_datacenter.type, sa.Boolean)
        with engine.connect() as connection:
            found = connection.execute(sa.select(identities.c.discovered_at)).scalars().all()
    finally:
        engine.dispose()
    assert found and all(isinstance(value, datetime) for value in found)


def test_counts_match_the_arguments(made: DemoSummary, db: sqlite3.Connection) -> None:
    def count(table: str) -> int:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    assert count("proxy_identities") == count("proxy_statuses") == made.proxies == 600
    assert count("metric_samples") == made.metric_samples == 500
    assert count("request_logs") == made.request_logs == 400
    assert count("validation_results") == made.validation_results > 0
    assert len(log_lines(made)) == made.log_lines == 400


def test_datetimes_and_booleans_are_stored_as_sqlalchemy_does(db: sqlite3.Connection) -> None:
    for table, columns in COLUMNS.items():
        for column, declared in columns:
            values = {v for (v,) in db.execute(f"SELECT DISTINCT {column} FROM {table}")}
            values.discard(None)
            if declared == "DATETIME":
                assert all(SQLITE_DATETIME.fullmatch(v) for v in values), (table, column)
                assert max(values) < "2026-11-01", (table, column)  # anchored, not the clock
            if declared == "BOOLEAN":
                assert values <= {0, 1}, (table, column)


def test_urls_are_built_from_their_columns(db: sqlite3.Connection) -> None:
    rows = db.execute("SELECT url, protocol, host, port, username, password FROM proxy_identities")
    for url, protocol, host, port, username, password in rows:
        parts = urlsplit(url)
        assert parts.scheme == protocol in {"http", "https", "socks4", "socks5"}
        assert (parts.hostname, parts.port) == (host.lower(), port)
        assert ("[" in parts.netloc) == (":" in host)
        assert "@" not in url  # as proxywhirl keys proxies: credentials are stored apart
        assert (username is None) == (password is None)


def plain_credentials(made: DemoSummary, db: sqlite3.Connection) -> list[tuple[str, str, int]]:
    """(username, password, index of the key that opens them: 0 current, 1 previous)."""
    env = dict(
        line.split("=", 1)
        for line in (made.target / "config" / ".env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    keys = [
        Fernet(env[n]) for n in ("PROXYWHIRL_CACHE_ENCRYPTION_KEY", "PROXYWHIRL_CACHE_KEY_PREVIOUS")
    ]
    found = []
    for stored in db.execute(
        "SELECT username, password FROM proxy_identities WHERE username IS NOT NULL"
    ):
        assert all(v.startswith("encrypted:") for v in stored)
        tokens = [base64.b64decode(v.removeprefix("encrypted:"), validate=True) for v in stored]
        opens = [i for i, key in enumerate(keys) if _opens(key, tokens[0])]
        assert len(opens) == 1
        user, password = (keys[opens[0]].decrypt(t).decode() for t in tokens)
        found.append((user, password, opens[0]))
    return found


def _opens(key: Fernet, token: bytes) -> bool:
    try:
        key.decrypt(token)
    except InvalidToken:
        return False
    return True


def test_the_pool_is_mostly_healthy_but_mixed(db: sqlite3.Connection) -> None:
    shares = dict(db.execute("SELECT health_status, count(*) FROM proxy_statuses GROUP BY 1"))
    assert set(shares) == {"healthy", "degraded", "unhealthy", "dead", "unknown"}
    assert max(shares, key=shares.__getitem__) == "healthy"
    unknown = db.execute(
        "SELECT count(*) FROM proxy_statuses WHERE health_status = 'unknown'"
        " AND (last_check_at IS NOT NULL OR total_checks != 0)"
    )
    assert unknown.fetchone()[0] == 0


# --- nasty values ------------------------------------------------------------------------


def test_credentials_and_ipv6_hosts_are_present(made: DemoSummary, db: sqlite3.Connection) -> None:
    urls = [url for (url,) in db.execute("SELECT url FROM proxy_identities")]
    assert any("://[" in url for url in urls)
    credentials = plain_credentials(made, db)
    passwords = [password for _, password, _ in credentials]
    for awkward in (":", "@", "%", "/", " "):
        assert any(awkward in p for p in passwords), awkward
    assert any(not p.isascii() for p in passwords)
    # Part-way through a key rotation: some under the current key, some under the previous.
    assert {key for _, _, key in credentials} == {0, 1}


def test_free_text_is_as_nasty_as_real_data(db: sqlite3.Connection) -> None:
    values = text_values(db)
    for needle in ("\n", '"', ",", "\t", "\x01", "\x7f", "é", "東", "🚀"):
        assert any(needle in value for value in values), repr(needle)
    assert "" in values
    assert not any("\x00" in value for value in values)


def test_nullable_columns_hold_nulls(db: sqlite3.Connection) -> None:
    for table, column in [
        ("proxy_identities", "city"), ("proxy_identities", "asn"),
        ("proxy_identities", "username"), ("proxy_statuses", "last_success_at"),
        ("validation_results", "error_message"), ("request_logs", "status_code"),
    ]:  # fmt: skip
        nulls = db.execute(f"SELECT count(*) FROM {table} WHERE {column} IS NULL").fetchone()[0]
        assert nulls > 0, (table, column)


def test_floats_that_need_every_digit_are_present(db: sqlite3.Connection) -> None:
    values = {v for (v,) in db.execute("SELECT value FROM metric_samples")}
    assert {0.1 + 0.2, 1 / 3, 5e-324, 1.7976931348623157e308} <= values
    assert any(len(repr(v)) >= 18 for v in values)


# --- logs, config and specs -------------------------------------------------------------


def test_every_log_line_is_a_loguru_record_in_time_order(
    made: DemoSummary, db: sqlite3.Connection
) -> None:
    names = [path.name for path in made.log_files]
    assert names[-1] == "proxywhirl.log"
    rotated = re.compile(r"proxywhirl\.\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_\d{6}\.log\.gz")
    assert len(names) == 3 and all(rotated.fullmatch(name) for name in names[:-1])
    times = []
    for line in log_lines(made):
        entry = json.loads(line)
        record = entry["record"]
        assert set(record) == LOGURU_KEYS
        assert entry["text"].endswith("\n") and record["message"] in entry["text"]
        assert record["level"]["name"] in {"DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR"}
        assert set(record["extra"]) == {"component", "request_id"}
        times.append(record["time"]["timestamp"])
    assert times == sorted(times)
    messages = "".join(log_lines(made))
    assert "://***:***@" in messages and "%2A" not in messages  # masked as proxywhirl does
    secret = db.execute("SELECT url FROM proxy_identities WHERE username IS NOT NULL")
    assert not any(url in messages for (url,) in secret)


def test_config_holds_settings_and_secrets(made: DemoSummary) -> None:
    config = {path.name: path for path in made.config_files}
    settings = tomllib.loads(config["proxywhirl.toml"].read_text(encoding="utf-8"))
    assert settings["storage"]["database_path"] and settings["cache"]["encryption_key"]
    assert yaml.safe_load(config["logging.yaml"].read_text(encoding="utf-8"))["handlers"]
    env = dict(
        line.split("=", 1)
        for line in config[".env"].read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    assert all(name.startswith("PROXYWHIRL_") for name in env)
    assert env["PROXYWHIRL_API_KEY"] and env["PROXYWHIRL_CACHE_ENCRYPTION_KEY"]


def test_packaged_specs_are_valid_and_copied(made: DemoSummary) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    packaged = resources.files("exportctl.demo").joinpath("specs")
    names = sorted(p.name for p in packaged.iterdir() if p.name.endswith(".yaml"))
    assert names == sorted(
        f"{n}.yaml"
        for n in (
            "proxy-backup", "healthy-proxies", "proxy-list",
            "socks-proxies", "request-errors", "daily-metrics",
        )
    )  # fmt: skip
    for name in names:
        text = packaged.joinpath(name).read_text(encoding="utf-8")
        assert text.splitlines()[0] == SCHEMA_COMMENT
        assert text.splitlines()[1].startswith("# ")
        document = yaml.safe_load(text)
        assert list(validator.iter_errors(document)) == [], name
        assert document["name"] == name.removesuffix(".yaml")
        # proxywhirl's pool, or its L3 cache database (health_history)
        assert document["source"]["type"] == "sql"
        assert document["source"]["url"] in {"sqlite:///../system.db", L3_URL}
    assert [path.name for path in made.spec_files] == names


# --- an existing folder -------------------------------------------------------------------


def test_a_folder_with_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("mine")
    with pytest.raises(UsageError, match="not empty.*--force"):
        init_demo(tmp_path, proxies=10, metrics=10, log_lines=10)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.md"]


def test_force_rewrites_the_demo_and_nothing_else(tmp_path: Path) -> None:
    init_demo(tmp_path, proxies=20, metrics=10, log_lines=10, seed=1)
    (tmp_path / "notes.md").write_text("mine")
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "old.csv").write_text("a,b\n")
    (tmp_path / "specs" / "my-own.yaml").write_text("version: 1\n")
    made = init_demo(tmp_path, proxies=30, metrics=10, log_lines=10, seed=2, force=True)
    assert made.proxies == 30
    with sqlite3.connect(made.database) as db:
        assert db.execute("SELECT count(*) FROM proxy_identities").fetchone()[0] == 30
    assert (tmp_path / "notes.md").read_text() == "mine"
    assert (tmp_path / "exports" / "old.csv").read_text() == "a,b\n"
    assert (tmp_path / "specs" / "my-own.yaml").exists()
    assert not list(tmp_path.glob(".system.db.*"))


@pytest.mark.parametrize(
    "arguments",
    [{"proxies": 0}, {"proxies": demo.MAX_PROXIES + 1}, {"metrics": -1}, {"log_lines": -1}],
)
def test_impossible_counts_are_refused(tmp_path: Path, arguments: dict[str, int]) -> None:
    with pytest.raises(UsageError):
        init_demo(tmp_path / "demo", **arguments)
    assert not (tmp_path / "demo").exists()


def test_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "demo").write_text("")
    with pytest.raises(UsageError, match="not a folder"):
        init_demo(tmp_path / "demo", force=True)
