"""`exportctl restore EXPORT --to URL` against a small settings API on loopback: what is
checked before the one PUT, and what is refused with nothing sent. (proxywhirl's own API:
tests/proxywhirl/test_config_restore.py.)"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from exportctl.cli.main import main
from exportctl.sources.http_json.options import HttpJsonOptions

KEY = "settings-k3y-29"


class SettingsApi(ThreadingHTTPServer):
    """GET and PUT of one settings object behind an `X-API-Key`; no OpenAPI document."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.settings: dict[str, Any] = {"mode": "a", "limit": 3, "hosts": ["x"]}
        self.puts: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/settings"


class _Handler(BaseHTTPRequestHandler):
    server: SettingsApi

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path != "/settings":
            return self._answer(404, {"detail": "Not Found"})
        self._answer(200, {"data": self.server.settings})

    def do_PUT(self) -> None:  # noqa: N802
        if self.headers.get("X-API-Key") != KEY:
            return self._answer(401, {"detail": "bad key"})
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.puts.append(body)
        self.server.settings.update(body)
        self._answer(200, {"data": self.server.settings})

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def api() -> Iterator[SettingsApi]:
    server = SettingsApi()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def export(tmp_path: Path, *records: dict[str, Any], name: str = "settings.json") -> Path:
    path = tmp_path / name
    if name.endswith(".jsonl"):
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        path.write_text(json.dumps(list(records)))
    return path


def restore(document: Path, to: str, *args: str, **env: str) -> Result:
    command = ["restore", str(document), "--to", to, "--header-env", "X-API-Key=API_KEY", *args]
    return CliRunner().invoke(main, command, env={"API_KEY": KEY, **env})


def test_settings_written_as_jsonl_go_in_one_put_and_read_back(
    api: SettingsApi, tmp_path: Path
) -> None:
    document = export(tmp_path, {"mode": "b", "limit": 7, "hosts": '["y", "z"]'}, name="s.jsonl")

    result = restore(document, api.url, "--json")

    assert result.exit_code == 0, result.output
    assert api.puts == [{"mode": "b", "limit": 7, "hosts": ["y", "z"]}]  # JSON text read back
    report = json.loads(result.stdout)
    assert (report["status"], report["verified"]) == ("restored", True)
    assert report["changed"] == ["hosts", "limit", "mode"]
    assert report["warnings"] == [f"{api.url} publishes no OpenAPI schema for its PUT"]
    assert KEY not in result.output


def test_a_dry_run_shows_the_diff_and_sends_nothing(api: SettingsApi, tmp_path: Path) -> None:
    result = restore(export(tmp_path, {"mode": "b"}), api.url, "--dry-run")

    assert result.exit_code == 0, result.output
    assert '-  "mode": "a"' in result.output and '+  "mode": "b"' in result.output
    assert "would set 1 of 1 setting(s)" in result.output
    assert api.puts == []


@pytest.mark.parametrize(
    ("records", "args", "problem"),
    [
        ([{"mode": "b", "colour": "red"}], (), "has no setting `colour`"),
        ([{"limit": "many"}], (), "setting `limit` is a text in the export and a number"),
        ([{"hosts": "[not json"}], (), "setting `hosts` holds a list at the target"),
        ([{"mode": "a"}, {"mode": "b"}], (), "holds 2 records"),
        ([{"mode": "***"}], ("--secrets-from", "env"), "settings:mode"),
        ([{"mode": "b"}], ("--env-file", "x.env"), "--env-file is for restoring into a folder"),
    ],
)
def test_a_document_that_cannot_go_is_refused_with_nothing_sent(
    api: SettingsApi,
    tmp_path: Path,
    records: list[dict[str, Any]],
    args: tuple[str, ...],
    problem: str,
) -> None:
    result = restore(export(tmp_path, *records), api.url, *args)

    assert result.exit_code == 2, result.output
    assert problem in result.output
    assert api.puts == []


def test_a_masked_value_takes_its_secret_from_the_environment(
    api: SettingsApi, tmp_path: Path
) -> None:
    document = export(tmp_path, {"mode": "***", "limit": 4})

    result = restore(
        document, api.url, "--secrets-from", "env", EXPORTCTL_SECRET_MODE="s3cr3t-m0de"
    )

    assert result.exit_code == 0, result.output
    assert api.puts == [{"mode": "s3cr3t-m0de", "limit": 4}]
    assert "s3cr3t-m0de" not in result.output


def test_a_refused_put_names_the_status_and_reason_not_the_key(
    api: SettingsApi, tmp_path: Path
) -> None:
    result = restore(export(tmp_path, {"mode": "b"}), api.url, API_KEY="wrong-k3y-5")

    assert result.exit_code == 1, result.output
    assert f"restoring to {api.url} failed: HTTP 401 Unauthorized" in result.output
    assert "bad key" in result.output and "refused" in result.output
    assert "wrong-k3y-5" not in result.output
    assert api.settings["mode"] == "a"


@pytest.mark.parametrize(
    ("to", "args", "problem"),
    [
        ("URL", ("--header-env", "X-API-Key"), "--header-env takes NAME=VARIABLE"),
        ("URL", ("--header-env", "X-Other=UNSET_VARIABLE_9"), "UNSET_VARIABLE_9"),
        ("FOLDER", (), "--header-env is for restoring to an http(s) URL"),
    ],
)
def test_header_options_are_checked(
    api: SettingsApi, tmp_path: Path, to: str, args: tuple[str, ...], problem: str
) -> None:
    target = api.url if to == "URL" else str(tmp_path / "folder")

    result = restore(export(tmp_path, {"mode": "b"}), target, *args)

    assert result.exit_code == 2, result.output
    assert problem in result.output
    assert api.puts == []


def test_an_http_json_export_with_record_restores_into_another_api(
    api: SettingsApi, tmp_path: Path
) -> None:
    api.settings = {"mode": "c", "limit": 9, "hosts": ["p", "q"]}
    spec = tmp_path / "settings.yaml"
    spec.write_text(
        "version: 1\nname: settings\nsource:\n  type: http_json\n"
        f"  url: {api.url}\n  record: data\n"
        f"format: json\ndestination: {tmp_path}/settings.json\n"
    )
    exported = CliRunner().invoke(main, ["apply", str(spec), "--json"])
    assert exported.exit_code == 0, exported.output
    other = SettingsApi()
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        result = restore(tmp_path / "settings.json", other.url)

        assert result.exit_code == 0, result.output
        assert other.settings == api.settings
    finally:
        other.shutdown()
        other.server_close()


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"record": "data", "records": "items"}, "no `records` or pages"),
        ({"record": "data", "format": "ndjson"}, "no `records` or pages"),
        ({"record": "a..b"}, "must be a dotted path"),
    ],
)
def test_record_names_one_object(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        HttpJsonOptions(url="http://127.0.0.1/settings", **options)
