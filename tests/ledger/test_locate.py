"""Every command finds the same ledger from any folder, and reading never creates one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from exportctl.cli.main import main
from exportctl.ledger.locate import locate
from tests.support.daemon_specs import write_scheduled_spec

READ_ONLY = [
    ["history"],
    ["history", "--json"],
    ["status"],
    ["status", "--json"],
    ["audit"],
    ["audit", "--json"],
    ["watermark", "show", "x"],
    ["watermark", "show", "x", "--json"],
]


@pytest.fixture
def no_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No --state, no $EXPORTCTL_STATE: discovery decides. The user's default is in tmp."""
    monkeypatch.delenv("EXPORTCTL_STATE")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "exportctl" / "state.db"


def sqlite(path: Path) -> str:
    return f"sqlite:///{path}"


def test_the_order_is_state_then_environment_then_the_nearest_folder_then_the_default(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    specs = project / "deploy" / "specs"
    specs.mkdir(parents=True)
    env = {"XDG_STATE_HOME": str(tmp_path / "xdg")}

    assert locate(None, specs, env).url == sqlite(tmp_path / "xdg" / "exportctl" / "state.db")
    (project / ".exportctl").mkdir()
    found = locate(None, specs, env)
    assert found.url == sqlite(project / ".exportctl" / "state.db")
    assert locate(None, specs / "a.yaml", env).url == found.url  # a file: from its folder
    with_env = {**env, "EXPORTCTL_STATE": str(tmp_path / "env.db")}
    assert locate(None, specs, with_env).url == sqlite(tmp_path / "env.db")
    assert locate(str(tmp_path / "given.db"), specs, with_env).url == sqlite(tmp_path / "given.db")


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_a_read_only_command_never_creates_a_ledger(
    command: list[str], no_setting: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, command)

    assert result.exit_code == 0, result.output
    assert not no_setting.exists() and not (tmp_path / ".exportctl").exists()
    if "--json" in command:
        json.loads(result.stdout)  # one document, nothing else on stdout
    else:
        assert f"ledger: sqlite:///{no_setting} (the user's default): none there yet" in (
            " ".join(result.stderr.split())
        )


def test_verify_without_a_ledger_is_a_usage_error_and_creates_none(
    no_setting: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["verify", "20260101T000000Z-abc"])
    assert result.exit_code == 2 and "no ledger yet" in result.output
    assert not no_setting.exists()


def test_a_projects_ledger_is_found_from_its_specs_and_from_any_folder_below(
    no_setting: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / ".exportctl").mkdir(parents=True)
    spec = write_scheduled_spec(project / "specs", "items")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # apply from outside the project: its specs' folder decides

    applied = CliRunner().invoke(main, ["apply", str(spec), "--json"])

    assert applied.exit_code == 0, applied.output
    assert (project / ".exportctl" / "state.db").exists() and not no_setting.exists()
    (project / "specs" / "sub").mkdir()
    monkeypatch.chdir(project / "specs" / "sub")
    history = CliRunner().invoke(main, ["history"])
    assert history.exit_code == 0
    assert f"ledger: sqlite:///{project / '.exportctl' / 'state.db'}" in history.stderr
    runs = json.loads(CliRunner().invoke(main, ["history", "--json"]).stdout)
    assert [(r["spec"], r["status"]) for r in runs] == [("items", "succeeded")]
    run_id = json.loads(applied.stdout)[0]["run_id"]
    assert CliRunner().invoke(main, ["verify", run_id]).exit_code == 0


def test_audit_lists_the_trail_with_filters(ledger_dir: Path) -> None:
    spec_a = write_scheduled_spec(ledger_dir / "specs", "alpha")
    spec_b = write_scheduled_spec(ledger_dir / "specs", "beta")
    for spec in (spec_a, spec_b):
        assert CliRunner().invoke(main, ["apply", str(spec)]).exit_code == 0

    everything = json.loads(CliRunner().invoke(main, ["audit", "--json"]).stdout)
    alpha = json.loads(CliRunner().invoke(main, ["audit", "--json", "--spec", "alpha"]).stdout)
    latest = json.loads(CliRunner().invoke(main, ["audit", "--json", "--limit", "1"]).stdout)
    human = CliRunner().invoke(main, ["audit", "--spec", "beta"])

    assert {e["spec"] for e in everything} == {"alpha", "beta"}
    assert alpha and {e["spec"] for e in alpha} == {"alpha"}
    assert {e["event"] for e in alpha} >= {"run.started", "run.committed"}
    assert all(isinstance(e["detail"], dict) and e["at"].endswith("Z") for e in everything)
    assert latest == everything[-1:]
    assert human.exit_code == 0 and "beta" in human.stdout and "alpha" not in human.stdout
    too_new = json.loads(
        CliRunner().invoke(main, ["audit", "--json", "--since", "2999-01-01"]).stdout
    )
    assert too_new == []


@pytest.fixture
def ledger_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path
