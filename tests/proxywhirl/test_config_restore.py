"""proxywhirl's runtime settings, exported from one live API (`GET /api/v1/config`, with the
shipped `examples/proxywhirl-config.yaml`) and restored into a second, fresh one with
`exportctl restore EXPORT --to URL`: one PUT, after which its GET answers the same settings.
A secret in them (a CORS origin with credentials) is masked in the export and supplied from
the environment at restore; a PUT proxywhirl refuses is a clear error and changes nothing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from click.testing import CliRunner, Result

from exportctl.cli.main import main
from exportctl.plan.compiler import compile_plan
from exportctl.run import runner
from exportctl.spec.load import load_spec
from tests.proxywhirl.api_server import Api, running_api

REPO = Path(__file__).parents[2]
SECRET_ORIGIN = "https://admin:Orig1n-s3cret@dash.example"
#: Settings unlike proxywhirl's defaults, each of them.
SETTINGS = {
    "rotation_strategy": "random",
    "timeout": 45,
    "max_retries": 5,
    "rate_limits": {"default_limit": 70, "request_endpoint_limit": 20},
    "cors_origins": [SECRET_ORIGIN, "https://plain.example"],
}


@pytest.fixture(scope="module")
def source(proxywhirl_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    log = tmp_path_factory.mktemp("source") / "uvicorn.log"
    with running_api(proxywhirl_python, log, {}) as api:
        answer = requests.put(
            f"{api.url}/api/v1/config", json=SETTINGS, headers=api.headers, timeout=10
        )
        assert answer.status_code == 200, answer.text
        yield api


@pytest.fixture(scope="module")
def target(proxywhirl_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    log = tmp_path_factory.mktemp("target") / "uvicorn.log"
    with running_api(proxywhirl_python, log, {}) as api:
        yield api


def settings(api: Api) -> dict[str, Any]:
    answer = requests.get(f"{api.url}/api/v1/config", headers=api.headers, timeout=10)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["data"]
    return found


@pytest.fixture(scope="module")
def export(source: Api, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export")
    (root / "examples").mkdir()
    shutil.copy(REPO / "examples" / "proxywhirl-config.yaml", root / "examples")
    env = {"PROXYWHIRL_API_URL": source.url, "PROXYWHIRL_API_KEY": source.key}
    spec = load_spec(root / "examples" / "proxywhirl-config.yaml", env=env)
    result = runner.run(compile_plan(spec, now=datetime.now(UTC), run_id="config-1"))
    assert result.status == "succeeded", result.error
    return Path(result.uri)


def restore(export: Path, target: Api, *args: str, **env: str) -> Result:
    command = ["restore", str(export), "--to", f"{target.url}/api/v1/config"]
    command += ["--header-env", "X-API-Key=TARGET_API_KEY", *args]
    return CliRunner().invoke(main, command, env={"TARGET_API_KEY": target.key, **env})


def test_the_export_masks_the_secret_and_keeps_the_rest(export: Path, source: Api) -> None:
    text = export.read_text()
    (row,) = json.loads(text)
    assert SECRET_ORIGIN not in text and "Orig1n-s3cret" not in text and source.key not in text
    assert json.loads(row["cors_origins"]) == [
        "https://***:***@dash.example",
        "https://plain.example",
    ]
    assert {k: row[k] for k in ("rotation_strategy", "timeout", "max_retries")} == {
        "rotation_strategy": "random",
        "timeout": 45,
        "max_retries": 5,
    }
    assert json.loads(row["rate_limits"]) == SETTINGS["rate_limits"]
    assert row["auth_enabled"] is True


def test_without_its_secret_nothing_is_sent(export: Path, target: Api) -> None:
    before = settings(target)

    result = restore(export, target, "--secrets-from", "env")

    assert result.exit_code == 2, result.output
    assert "api/v1/config:cors_origins[0]" in result.output
    assert "EXPORTCTL_SECRET_CORS_ORIGINS_0" in result.output
    assert settings(target) == before


def test_a_put_proxywhirl_refuses_fails_clearly_and_changes_nothing(
    export: Path, target: Api, tmp_path: Path
) -> None:
    (row,) = json.loads(export.read_text())
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps([{**row, "rotation_strategy": "fastest-please"}]))
    before = settings(target)

    result = restore(
        broken, target, "--secrets-from", "env", EXPORTCTL_SECRET_CORS_ORIGINS_0=SECRET_ORIGIN
    )

    assert result.exit_code == 1, result.output
    assert "restoring to" in result.output and "HTTP 422" in result.output
    assert "rotation_strategy" in result.output and "refused" in result.output
    assert "Orig1n-s3cret" not in result.output and target.key not in result.output
    assert settings(target) == before


def test_restored_into_a_fresh_api_its_settings_equal_the_source(
    export: Path, source: Api, target: Api, tmp_path: Path
) -> None:
    assert settings(target) != settings(source)  # a fresh API has proxywhirl's defaults

    result = restore(
        export,
        target,
        "--secrets-from",
        "env",
        "--backup-dir",
        str(tmp_path / "backup"),
        "--json",
        EXPORTCTL_SECRET_CORS_ORIGINS_0=SECRET_ORIGIN,
    )

    assert result.exit_code == 0, result.output
    assert settings(target) == settings(source)
    report = json.loads(result.stdout)
    schema = json.loads((REPO / "schemas" / "cli" / "restore.json").read_text())
    jsonschema.validate(report, schema)
    assert (report["status"], report["verified"], report["read_only"]) == (
        "restored",
        True,
        ["auth_enabled"],
    )
    assert report["changed"] == sorted(SETTINGS)
    assert "Orig1n-s3cret" not in result.output and target.key not in result.output
    (backup,) = (tmp_path / "backup").iterdir()
    assert json.loads(backup.read_text())["timeout"] == 30  # the target's default, before
    assert backup.stat().st_mode & 0o777 == 0o600


def test_a_wrong_api_key_is_refused_without_showing_it(export: Path, target: Api) -> None:
    result = CliRunner().invoke(
        main,
        ["restore", str(export), "--to", f"{target.url}/api/v1/config"]
        + ["--header-env", "X-API-Key=WRONG_KEY", "--secrets-from", "env"],
        env={"WRONG_KEY": "not-the-key-41", "EXPORTCTL_SECRET_CORS_ORIGINS_0": SECRET_ORIGIN},
    )

    assert result.exit_code != 0
    assert "HTTP 401" in result.output and "not-the-key-41" not in result.output
