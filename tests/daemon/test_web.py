"""The daemon's status page and run API: a real daemon process, real HTTP, a real browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from exportctl.cli.main import main
from exportctl.daemon.loop import Daemon
from exportctl.daemon.service import api_token
from exportctl.daemon.web.app import App
from exportctl.errors import UsageError
from exportctl.ledger.store import Ledger
from tests.conftest import require
from tests.paths import REPO
from tests.support.daemon_specs import SLOW_SQL, write_scheduled_spec
from tests.support.servers import free_port
from tests.support.waiting import eventually

TOKEN = "a-test-token-9f2c"
ROOT = REPO
ARTIFACTS = Path(os.environ.get("EXPORTCTL_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))


@dataclass
class Site:
    url: str
    state: str
    folder: Path

    def call(
        self, method: str, path: str, token: str | None = None
    ) -> tuple[int, dict[str, Any] | list[Any]]:
        request = urllib.request.Request(self.url + path, method=method)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def html(self, path: str = "/") -> str:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:  # noqa: S310
            return str(response.read().decode())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A daemon with a spec that fails every 2 s, and two that run only when asked."""
    folder = tmp_path_factory.mktemp("site")
    specs = folder / "specs"
    write_scheduled_spec(specs, "healthy", every="every 12 hours")
    broken = write_scheduled_spec(specs, "broken", every="every 2 seconds")
    broken.write_text(broken.read_text().replace("{table: items}", "{table: no_such_table}"))
    slow = write_scheduled_spec(specs, "slow", every="every 12 hours")
    slow.write_text(
        slow.read_text()
        .replace("query: {table: items}", f'query: {{sql: "{SLOW_SQL}"}}')
        .replace("url: ", "chunk_size: 500, url: ")
        .replace("A test export.", "Slow <script>alert(1)</script> & loud")
    )
    state, port = f"sqlite:///{folder / 'state.db'}", free_port()
    command = [sys.executable, "-m", "exportctl", "daemon", "specs", "--state", state]
    command += ["--listen", f"127.0.0.1:{port}", "--grace", "0.5"]
    log = (folder / "daemon.log").open("w")
    env = os.environ | {"NO_COLOR": "1", "EXPORTCTL_API_TOKEN": TOKEN}
    process = subprocess.Popen(command, cwd=folder, stderr=log, env=env)
    site = Site(f"http://127.0.0.1:{port}", state, folder)
    try:
        eventually(lambda: _answers(site), "the daemon's API")
        eventually(lambda: Ledger(state).history("broken", status="failed"), "a failed run")
        yield site
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def _answers(site: Site) -> bool:
    try:
        return site.call("GET", "/api/v1/specs")[0] == 200
    except OSError:
        return False


# --- the API -------------------------------------------------------------------------


def test_specs_list_their_schedule_next_runs_and_last_run(site: Site) -> None:
    status, specs = site.call("GET", "/api/v1/specs")

    assert status == 200 and isinstance(specs, list)
    by_name = {s["name"]: s for s in specs}
    assert sorted(by_name) == ["broken", "healthy", "slow"]
    assert by_name["broken"]["last_run"]["status"] == "failed"
    assert "no_such_table" in by_name["broken"]["last_run"]["error"]
    assert by_name["healthy"]["last_run"] is None
    for spec in specs:
        assert len(spec["next_runs"]) == 3
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t) for t in spec["next_runs"])


def test_a_run_started_through_the_api_is_the_run_the_cli_shows(site: Site) -> None:
    assert site.call("POST", "/api/v1/specs/healthy/runs")[0] == 401
    assert site.call("POST", "/api/v1/specs/healthy/runs", token="wrong")[0] == 401

    status, started = site.call("POST", "/api/v1/specs/healthy/runs", token=TOKEN)

    assert status == 202 and isinstance(started, dict) and started["spec"] == "healthy"
    run_id = started["run_id"]
    finished = eventually(
        lambda: (
            (r := site.call("GET", f"/api/v1/runs/{run_id}"))[0] == 200
            and r[1]["status"] == "succeeded"
            and r[1]
        ),
        "the run to succeed",
    )
    assert finished["trigger"] == "api" and finished["rows"] == 20
    assert sorted(f["role"] for f in finished["files"]) == ["data", "manifest"]
    cli = CliRunner().invoke(
        main, ["history", "--state", site.state, "--spec", "healthy", "--json"]
    )
    (from_cli,) = [r for r in json.loads(cli.output) if r["run_id"] == run_id]
    assert {k: finished[k] for k in from_cli} == from_cli  # same names, ids and timestamps
    assert from_cli["started_at"].endswith("Z") and "T" in from_cli["started_at"]


def test_a_second_run_of_a_running_spec_is_refused_with_409(site: Site) -> None:
    status, started = site.call("POST", "/api/v1/specs/slow/runs", token=TOKEN)
    assert status == 202

    again, answer = site.call("POST", "/api/v1/specs/slow/runs", token=TOKEN)

    assert again == 409 and "being exported" in answer["error"]  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/api/v1/runs?status=bogus", 400),
        ("GET", "/api/v1/runs?limit=0", 400),
        ("GET", "/api/v1/runs?since=yesterdayish", 400),
        ("GET", "/api/v1/runs?colour=blue", 400),
        ("GET", "/api/v1/nothing", 404),
        ("GET", "/api/v1/runs/no-such-run", 404),
        ("POST", "/api/v1/specs/no-such-spec/runs", 404),
        ("GET", "/api/v1/specs/healthy/runs", 405),
    ],
)
def test_bad_requests_get_a_json_error(site: Site, method: str, path: str, code: int) -> None:
    status, answer = site.call(method, path, token=TOKEN)

    assert status == code and isinstance(answer, dict) and answer["error"]


def test_runs_and_audit_filter_as_the_cli_does(site: Site) -> None:
    failed = eventually(
        lambda: (
            len(r := site.call("GET", "/api/v1/runs?spec=broken&status=failed&limit=2")[1]) == 2
            and r
        ),
        "two failed runs of `broken`",
    )
    assert {r["spec"] for r in failed} == {"broken"} and {r["status"] for r in failed} == {"failed"}
    status, events = site.call("GET", "/api/v1/audit?spec=broken&since=1h")
    assert status == 200 and isinstance(events, list) and events
    assert {e["spec"] for e in events} == {"broken"}
    assert all(isinstance(e["detail"], dict) for e in events)


def test_the_openapi_description_covers_every_route(site: Site) -> None:
    status, described = site.call("GET", "/api/v1/openapi.json")

    assert status == 200 and isinstance(described, dict)
    assert described["openapi"].startswith("3.")
    documented = {re.sub(r"\{[^}]+\}", "([^/]+)", p) for p in described["paths"]}
    routed = {pattern for pattern, _, _ in App(None, None)._routes()}  # type: ignore[arg-type]
    assert routed - {"/", "/specs/([^/]+)"} == documented


# --- the page --------------------------------------------------------------------------


def test_the_page_escapes_what_specs_and_errors_say(site: Site) -> None:
    page = site.html("/specs/slow")

    assert "<script>alert(1)" not in page
    assert "Slow &lt;script&gt;alert(1)&lt;/script&gt; &amp; loud" in page


def test_in_a_browser_failures_progress_and_triggered_runs_show(site: Site) -> None:
    """Headless Chromium, as a person would look: a failed run, moving progress, a new run."""
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    require(bool(chromium and driver_path), "Debian's chromium and chromium-driver are needed")
    options = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1400,900"):  # fmt: skip
        options.add_argument(flag)
    options.binary_location = str(chromium)
    service = webdriver.ChromeService(executable_path=str(driver_path))
    browser = webdriver.Chrome(options=options, service=service)
    try:

        def broken_failed() -> str:  # `broken` runs every 2 s: a load can land during one
            browser.get(site.url + "/")
            text = browser.find_element("css selector", 'tr[data-spec="broken"]').text
            return text if "failed" in text else ""

        row_text = eventually(broken_failed, "`broken` shown as failed")
        assert "no_such_table" in row_text

        status, _ = site.call("POST", "/api/v1/specs/slow/runs", token=TOKEN)
        assert status in (202, 409)  # 409: the run an earlier test started still goes
        running = eventually(
            lambda: site.call("GET", "/api/v1/runs?spec=slow&status=running")[1],
            "a run of `slow` in the ledger",
        )

        def rows_shown() -> int:
            browser.refresh()
            found = browser.find_elements(
                "css selector", '#running tr[data-spec="slow"] td[data-rows]'
            )
            return int(found[0].get_attribute("data-rows")) if found else 0

        first = eventually(rows_shown, "the slow run's progress on the page")
        eventually(lambda: rows_shown() > first, "its progress to move")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "status-page.png"))

        browser.get(site.url + "/specs/slow")
        assert running[0]["run_id"] in browser.find_element("css selector", "table.runs").text
        browser.save_screenshot(str(ARTIFACTS / "status-page-spec.png"))
    finally:
        browser.quit()
    assert (ARTIFACTS / "status-page.png").stat().st_size > 10_000


# --- starting ----------------------------------------------------------------------------


def test_beyond_loopback_the_daemon_needs_a_token() -> None:
    with pytest.raises(UsageError, match="EXPORTCTL_API_TOKEN"):
        api_token(("0.0.0.0", 9180), {})  # noqa: S104
    with pytest.raises(UsageError):
        api_token(("proxies.example", 9180), {})
    assert api_token(("0.0.0.0", 9180), {"EXPORTCTL_API_TOKEN": "t"}) == "t"  # noqa: S104
    assert api_token(("127.0.0.1", 9180), {}) is None
    assert api_token(("::1", 9180), {}) is None


def test_the_daemon_command_refuses_a_wide_listen_without_a_token(tmp_path: Path) -> None:
    write_scheduled_spec(tmp_path / "specs", "healthy")
    result = CliRunner(env={"EXPORTCTL_API_TOKEN": None}).invoke(
        main, ["daemon", str(tmp_path / "specs"), "--listen", "0.0.0.0:0"]
    )
    assert result.exit_code == 2 and "EXPORTCTL_API_TOKEN" in result.output


def test_a_run_asked_for_in_process_reaches_the_ledger(tmp_path: Path, ledger: Ledger) -> None:
    """The same App without a server: the daemon object is the board."""
    write_scheduled_spec(tmp_path / "specs", "healthy")
    daemon = Daemon((tmp_path / "specs",), ledger)
    daemon.start()
    app = App(daemon, ledger)
    answer = app.handle("POST", "/api/v1/specs/healthy/runs", {})
    assert answer.status == 202
    daemon.wait_idle(60)
    run_id = json.loads(answer.body)["run_id"]
    assert ledger.run(run_id)["status"] == "succeeded"  # type: ignore[index]
    daemon.shutdown(0)
