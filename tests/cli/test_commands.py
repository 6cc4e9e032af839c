"""The command line as a user and a script meet it: exit codes, JSON, progress, secrets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from exportctl.cli.main import main
from exportctl.demo.build import init_demo
from tests.support.terminal import run_on_a_terminal

GOOD = """\
version: 1
name: {name}
source: {{type: sql, url: "sqlite:///{db}"}}
query: {{table: {table}, where: {{field: protocol, eq: socks5}}}}
fields: [url, protocol]
format: csv
destination: out/{name}.csv
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "demo"
    init_demo(folder, proxies=300, metrics=20, log_lines=20)
    return folder


@pytest.fixture
def specs(tmp_path: Path, demo: Path) -> Path:
    folder = tmp_path / "specs"
    folder.mkdir()
    db = demo / "system.db"
    (folder / "a-good.yaml").write_text(GOOD.format(name="good", db=db, table="proxy_identities"))
    (folder / "b-broken.yaml").write_text(GOOD.format(name="broken", db=db, table="no_such"))
    (folder / "c-also-good.yaml").write_text(
        GOOD.format(name="also-good", db=db, table="proxy_identities")
    )
    return folder


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def socks5_count(demo: Path) -> int:
    import sqlite3

    with sqlite3.connect(demo / "system.db") as db:
        return db.execute(
            "SELECT count(*) FROM proxy_identities WHERE protocol = 'socks5'"
        ).fetchone()[0]


def test_one_failing_spec_does_not_stop_the_others(specs: Path, demo: Path):
    result = invoke("apply", str(specs))
    assert result.exit_code == 1
    out = specs / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "also-good.csv",
        "also-good.csv.manifest.json",
        "good.csv",
        "good.csv.manifest.json",
    ]
    assert "no table `no_such`" in result.output
    rows = (out / "good.csv").read_text().splitlines()
    assert len(rows) == 1 + socks5_count(demo)


def test_json_summary_is_machine_readable(specs: Path, demo: Path):
    result = invoke("apply", str(specs), "--json")
    runs = {r["spec"]: r for r in json.loads(result.stdout)}
    assert {name: r["status"] for name, r in runs.items()} == {
        "good": "succeeded",
        "broken": "failed",
        "also-good": "succeeded",
    }
    assert runs["good"]["rows"] == socks5_count(demo)
    assert runs["good"]["sha256"] and runs["broken"]["sha256"] is None
    assert "no_such" in runs["broken"]["error"]


def test_only_runs_the_named_spec(specs: Path):
    result = invoke("apply", str(specs), "--only", "good")
    assert result.exit_code == 0
    assert sorted(p.name for p in (specs / "out").iterdir()) == [
        "good.csv",
        "good.csv.manifest.json",
    ]


def test_only_with_an_unknown_name_is_a_usage_error(specs: Path):
    result = CliRunner().invoke(main, ["apply", str(specs), "--only", "god"])
    assert result.exit_code == 2
    assert "no spec named god" in result.output
    assert not (specs / "out").exists()


def test_dry_run_and_plan_write_nothing(specs: Path, demo: Path):
    dry = invoke("apply", str(specs), "--dry-run", "--json")
    planned = invoke("plan", str(specs), "--json", "--count")
    assert dry.exit_code == planned.exit_code == 0
    assert not (specs / "out").exists()
    good = next(p for p in json.loads(planned.stdout) if p["name"] == "good")
    assert good["estimated_rows"] == socks5_count(demo)
    assert good["source"]["params"] == {"protocol_1": "socks5"}
    assert "WHERE protocol = :protocol_1" in good["source"]["sql"]
    assert good["destination"] == str(specs / "out" / "good.csv")


@pytest.mark.parametrize(
    "command", [[], ["validate"], ["plan"], ["apply"], ["demo"], ["demo", "init"]]
)
def test_every_command_has_help(command: list[str]):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Usage: " in result.output


def test_help_documents_the_exit_codes():
    assert "2    an invalid spec or invalid usage" in invoke("apply", "--help").output


def test_demo_init_refuses_a_folder_in_use(tmp_path: Path):
    (tmp_path / "precious.txt").write_text("keep me")
    result = subprocess.run(
        [sys.executable, "-m", "exportctl", "demo", "init", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "--force" in result.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_a_failed_connection_does_not_print_the_password(tmp_path: Path):
    secret = "s3cr3t-Pa55"
    spec = tmp_path / "pg.yaml"
    spec.write_text(
        GOOD.format(name="pg", db="", table="proxy_identities").replace(
            '"sqlite:///"', '"postgresql+psycopg://exporter:${PG_SECRET}@127.0.0.1:1/proxywhirl"'
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "exportctl", "apply", str(spec), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "PG_SECRET": secret},
    )
    assert result.returncode == 1
    run = json.loads(result.stdout)[0]
    assert run["status"] == "failed" and "127.0.0.1" in run["error"]
    assert secret not in result.stdout + result.stderr


COLOUR = re.compile(r"\x1b\[[0-9;]*3[0-7]m|\x1b\[[0-9;]*38;")


def test_progress_and_colour_on_a_terminal_only(specs: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "CI")}
    env.update(TERM="xterm-256color", COLUMNS="120")
    shown = run_on_a_terminal(["apply", str(specs / "a-good.yaml")], env)
    assert "rows/s" in shown
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert re.search(r"ETA (\d+:\d\d:\d\d|-:--:--)", plain)  # the time left, once counted
    assert COLOUR.search(shown)

    piped = subprocess.run(
        [sys.executable, "-m", "exportctl", "apply", str(specs / "a-good.yaml")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert "rows/s" not in piped.stderr + piped.stdout
    assert "\x1b[" not in piped.stderr + piped.stdout


def test_no_color_is_honoured(specs: Path):
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(TERM="xterm-256color", COLUMNS="120", NO_COLOR="1")
    shown = run_on_a_terminal(["apply", str(specs / "a-good.yaml")], env)
    assert "rows/s" in shown
    assert not COLOUR.search(shown)
