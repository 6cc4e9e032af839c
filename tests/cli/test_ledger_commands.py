"""`exportctl history`, `status` and `verify` as people and scripts use them, and the live
progress of an export read from another process while it runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from exportctl.cli.main import main
from exportctl.demo.build import init_demo
from exportctl.ledger import schema as tables
from exportctl.ledger.runs import RunRecord
from exportctl.ledger.store import Ledger
from tests.conftest import pg_url
from tests.support.pool_runs import BIG, apply_here, big_demo, start_apply, write_pool_spec
from tests.support.waiting import eventually

PROXIES = 40


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def cli_json(*args: str) -> Any:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ledger-cli") / "demo"
    init_demo(root, proxies=PROXIES, metrics=10, log_lines=10)
    return root / "system.db"


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return big_demo(tmp_path_factory, BIG)


def run_id_of(result: Result) -> str:
    (done,) = json.loads(result.stdout)
    return done["run_id"]


# --- history --------------------------------------------------------------------------------


@pytest.fixture
def runs(demo: Path, tmp_path: Path, private_ledger: str) -> dict[str, str]:
    """Run ids: `old` (pool, started two hours ago), then `pool`, then `broken` (failed)."""
    pool = write_pool_spec(tmp_path, "pool", demo)
    broken = write_pool_spec(tmp_path, "broken", demo, query={"table": "no_such"})
    ids = {
        "old": run_id_of(apply_here(str(pool), "--json")),
        "pool": run_id_of(apply_here(str(pool), "--json")),
        "broken": run_id_of(apply_here(str(broken), "--json")),
    }
    ledger = Ledger(private_ledger)
    with ledger.engine.begin() as conn:
        conn.execute(
            sa.update(tables.runs)
            .where(tables.runs.c.id == ids["old"])
            .values(started_at=datetime.now(UTC) - timedelta(hours=2))
        )
    ledger.close()
    return ids


def run_ids(runs: list[dict[str, Any]]) -> list[str]:
    return [r["run_id"] for r in runs]


def test_history_lists_every_run_newest_first(runs):
    shown = cli_json("history")
    assert run_ids(shown) == [runs["broken"], runs["pool"], runs["old"]]
    broken = shown[0]
    assert (broken["spec"], broken["status"]) == ("broken", "failed")
    assert "no_such" in broken["error"]
    assert {"spec_sha256", "trigger", "user", "host", "started_at", "finished_at"} <= set(broken)


def test_history_filters_by_spec(runs):
    assert run_ids(cli_json("history", "--spec", "pool")) == [runs["pool"], runs["old"]]


def test_history_filters_by_status(runs):
    assert run_ids(cli_json("history", "--status", "failed")) == [runs["broken"]]
    assert cli_json("history", "--status", "interrupted") == []


def test_history_since_1h_leaves_out_older_runs(runs):
    assert run_ids(cli_json("history", "--since", "1h")) == [runs["broken"], runs["pool"]]


def test_history_since_a_time_with_an_offset_means_that_instant(runs):
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    in_india = an_hour_ago.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    assert run_ids(cli_json("history", "--since", in_india)) == [runs["broken"], runs["pool"]]


def test_history_filters_combine(runs):
    shown = cli_json("history", "--spec", "pool", "--status", "succeeded", "--since", "1h")
    assert run_ids(shown) == [runs["pool"]]


def test_history_for_people_is_a_table(runs):
    result = cli("history")
    assert result.exit_code == 0
    # Not a terminal: aligned text, a header and one line per run (tests/cli/test_tables.py).
    header, *rows = result.stdout.splitlines()
    assert header.split()[:3] == ["run", "spec", "status"]
    assert sorted(row.split()[0] for row in rows) == sorted(runs.values())


def test_history_refuses_a_since_it_cannot_read(runs):
    result = cli("history", "--since", "yesterday")
    assert result.exit_code == 2
    assert "neither an ISO date nor like 7d" in result.output


# --- verify ---------------------------------------------------------------------------------


@pytest.fixture
def exported(demo: Path, tmp_path: Path) -> tuple[str, Path]:
    """A succeeded run and the data file it wrote."""
    result = apply_here(str(write_pool_spec(tmp_path, "pool", demo)), "--json")
    return run_id_of(result), tmp_path / "out" / "pool.jsonl"


def verify(run_id: str) -> tuple[int, dict[str, dict[str, Any]]]:
    """The exit code, and each file's check by role."""
    result = cli("verify", run_id, "--json")
    return result.exit_code, {c["role"]: c for c in json.loads(result.stdout)}


def test_verify_passes_an_intact_run(exported):
    run_id, _ = exported
    shown = cli("verify", run_id)
    assert shown.exit_code == 0, shown.output
    assert shown.output.split().count("ok") == 2
    code, checks = verify(run_id)
    assert code == 0
    assert [(c["ok"], c["problem"]) for c in checks.values()] == [(True, None), (True, None)]


def test_verify_names_a_file_changed_by_one_byte(exported):
    run_id, data = exported
    content = bytearray(data.read_bytes())
    content[len(content) // 2] ^= 0x01
    data.write_bytes(bytes(content))

    code, checks = verify(run_id)

    assert code == 1
    assert checks["data"]["problem"] == "sha256 differs from the one recorded"
    assert checks["manifest"]["ok"]
    shown = cli("verify", run_id)
    assert shown.exit_code == 1
    assert "sha256" in shown.output.split()


def test_verify_names_a_truncated_file(exported):
    run_id, data = exported
    size = data.stat().st_size
    with data.open("r+b") as file:
        file.truncate(size - 10)

    code, checks = verify(run_id)

    assert code == 1
    assert checks["data"]["problem"].startswith(f"{size - 10} bytes, {size} recorded")


def test_verify_names_a_missing_file(exported):
    run_id, data = exported
    data.unlink()
    code, checks = verify(run_id)
    assert code == 1
    assert checks["data"]["problem"].startswith("cannot read it")


def test_verify_of_an_unknown_run_is_a_usage_error():
    result = cli("verify", "20000101T000000Z-000000")
    assert result.exit_code == 2
    assert "no run 20000101T000000Z-000000" in result.output


@pytest.mark.postgres
def test_an_unknown_run_message_hides_the_ledger_password(pg_schema):
    url = sa.engine.make_url(pg_url(pg_schema)).set(password="hunter2-ledger")
    result = cli("verify", "nosuch", "--state", url.render_as_string(hide_password=False))
    assert result.exit_code == 2
    assert "no run nosuch" in result.output
    assert "hunter2" not in result.output


# --- status ---------------------------------------------------------------------------------


def test_status_says_when_no_export_is_running():
    result = cli("status")
    assert result.exit_code == 0
    assert "No export is running." in result.output
    assert cli_json("status") == []


def test_status_of_a_finished_run(exported):
    run_id, _ = exported
    (shown,) = cli_json("status", run_id)
    assert (shown["run_id"], shown["spec"], shown["status"]) == (run_id, "pool", "succeeded")
    assert shown["rows"] == shown["total_rows"] == PROXIES
    assert (shown["percent"], shown["eta_seconds"]) == (100.0, 0)


def test_status_of_an_unknown_run_is_a_usage_error():
    assert cli("status", "nosuch").exit_code == 2


def test_status_shows_a_running_export_advancing_from_another_process(big, tmp_path):
    spec = write_pool_spec(
        tmp_path,
        "big",
        big,
        source={"type": "sql", "url": f"sqlite:///{big}", "chunk_size": 2000},
        format="json",
        destination=str(tmp_path / "out" / "big.json"),
    )
    process = start_apply(str(spec))

    def running(after: int) -> dict[str, Any] | None:
        assert process.poll() is None, process.communicate()
        shown = cli_json("status")
        # The count comes from a thread of its own: progress may show rows before it.
        counted = shown and shown[0]["total_rows"] is not None
        return shown[0] if counted and shown[0]["rows"] > after else None

    first = eventually(lambda: running(after=0), "the run's first counted progress", every=0.1)
    assert (first["spec"], first["status"], first["total_rows"]) == ("big", "running", BIG)
    assert first["rows_per_second"] > 0
    assert 0 < first["percent"] < 100
    assert first["eta_seconds"] > 0
    later = eventually(lambda: running(after=first["rows"]), "more rows", every=0.1)
    assert later["run_id"] == first["run_id"]
    assert later["percent"] > first["percent"]
    assert later["updated_at"] > first["updated_at"]

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    (final,) = cli_json("status", first["run_id"])
    assert final["status"] == "interrupted"
    assert later["rows"] <= final["rows"] < BIG
    assert cli_json("status") == []


# --- --state: a URL or a path ---------------------------------------------------------------


def commands_with_state(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command (subcommands included) that takes `--state`."""
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += commands_with_state(command, (*prefix, name))
        elif any(p.name == "state" for p in command.params):
            found.append((*prefix, name))
    return found


#: The arguments each command needs besides --state ({spec}: a spec that has no schedule).
STATE_COMMANDS = {
    ("apply",): ["{spec}"],
    ("history",): [],
    ("status",): [],
    ("verify",): ["nosuch"],
    ("prune",): ["{spec}"],
    ("daemon",): ["{spec}", "--listen", "off", "--max-parallel", "1"],
    ("watermark", "show"): ["pool"],
    ("watermark", "reset"): ["pool"],
    ("audit",): [],
}
#: The commands that record, and so create the ledger; the others only read it.
CREATING = {("apply",), ("prune",), ("daemon",)}


def test_the_state_cases_name_every_command_that_takes_state() -> None:
    assert sorted(commands_with_state(main)) == sorted(STATE_COMMANDS)


def state_command(command: tuple[str, ...], spec: Path, state: str) -> Result:
    args = [a.format(spec=spec) for a in STATE_COMMANDS[command]]
    return CliRunner().invoke(main, [*command, *args, "--state", state])


@pytest.mark.parametrize("command", list(STATE_COMMANDS), ids=" ".join)
def test_a_plain_path_as_state_is_a_sqlite_ledger(
    command: tuple[str, ...], demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_pool_spec(tmp_path, "pool", demo)
    monkeypatch.chdir(tmp_path)

    result = state_command(command, spec, "ledger.db")

    assert result.exit_code != 1 and not isinstance(result.exception, sa.exc.SQLAlchemyError)
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    if command not in CREATING:  # reading never creates a ledger
        assert not (tmp_path / "ledger.db").exists()
        return
    tables_there = sa.inspect(sa.create_engine(f"sqlite:///{tmp_path / 'ledger.db'}"))
    assert "runs" in tables_there.get_table_names()
    if command == ("apply",):
        assert Ledger(f"sqlite:///{tmp_path / 'ledger.db'}").history("pool", None, None, 5)


@pytest.mark.parametrize(
    "state",
    [
        "nosuchdialect://user:hunter2@host/db",
        "postgresql+nosuchdriver://user:hunter2@host/db",
        "sqlite:ledger.db",
        "postgresql://user:hunter2@host:notaport/db",
        "://hunter2",
    ],
)
@pytest.mark.parametrize("command", list(STATE_COMMANDS), ids=" ".join)
def test_an_unreadable_state_url_is_a_usage_error(
    command: tuple[str, ...], state: str, demo: Path, tmp_path: Path
) -> None:
    spec = write_pool_spec(tmp_path, "pool", demo)

    result = state_command(command, spec, state)

    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Usage:" in result.stderr and "--state" in result.stderr
    assert "hunter2" not in result.output
    assert not (tmp_path / "out").exists()


def test_exportctl_state_in_the_environment_is_read_as_state_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EXPORTCTL_STATE", "ledger.db")
    result = CliRunner().invoke(main, ["history"])
    assert result.exit_code == 0
    assert f"ledger: sqlite:///{tmp_path / 'ledger.db'} ($EXPORTCTL_STATE)" in result.stderr

    monkeypatch.setenv("EXPORTCTL_STATE", "nosuchdialect://user:hunter2@host/db")
    result = CliRunner().invoke(main, ["history"])
    assert result.exit_code == 2 and "--state" in result.stderr
    assert "hunter2" not in result.output


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGKILL, -9), (signal.SIGHUP, 129)])
def test_status_and_history_show_a_killed_run_as_interrupted_at_once(
    big, tmp_path, signum, exit_code
):
    """No later apply_here needed: status and history decide from the process itself. SIGHUP (a
    closed terminal) unwinds like SIGTERM: the run records itself as interrupted."""
    spec = write_pool_spec(
        tmp_path,
        "big",
        big,
        source={"type": "sql", "url": f"sqlite:///{big}", "chunk_size": 2000},
        format="json",
        destination=str(tmp_path / "out" / "big.json"),
    )
    process = start_apply(str(spec))

    def running() -> dict[str, Any] | None:
        assert process.poll() is None, process.communicate()
        shown = cli_json("status")
        return shown[0] if shown and shown[0]["rows"] > 0 else None

    seen = eventually(running, "the run's progress", every=0.1)
    process.send_signal(signum)
    process.communicate(timeout=60)
    assert process.returncode == exit_code
    assert cli_json("status") == []
    (final,) = cli_json("status", seen["run_id"])
    assert (final["status"], final["eta_seconds"]) == ("interrupted", None)
    (listed,) = cli_json("history")
    assert listed["status"] == "interrupted"
    assert [r["run_id"] for r in cli_json("history", "--status", "interrupted")] == [seen["run_id"]]
    assert cli_json("history", "--status", "running") == []


def _recorded_running(ledger: Ledger, run_id: str, host: str, pid: int, age: timedelta) -> None:
    started = datetime.now(UTC) - age
    ledger.start_run(RunRecord(run_id, "pool", "0" * 64, "cli", "/x", started, host=host, pid=pid))


def test_liveness_is_the_recording_process_itself_or_the_heartbeat_elsewhere(ledger):
    """Every way a recorded holder can be: alive here, gone here, a zombie here (exited,
    not yet reaped), its pid reused by a newer process here, beating elsewhere, silent
    elsewhere."""
    newer = subprocess.Popen(["sleep", "30"])  # started after the runs below: not their holder
    zombie = subprocess.Popen(["true"])  # not waited for until the end: a zombie meanwhile
    try:
        gone = subprocess.Popen(["true"])
        gone.wait()
        stat = Path(f"/proc/{zombie.pid}/stat")
        eventually(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "Z", "a zombie")
        here = ledger.host
        cases = {
            "alive": (here, os.getpid(), timedelta(0), "running"),
            "gone": (here, gone.pid, timedelta(0), "interrupted"),
            "zombie": (here, zombie.pid, timedelta(0), "interrupted"),
            "pid-reused": (here, newer.pid, timedelta(hours=1), "interrupted"),
            "beating-elsewhere": ("elsewhere", 1, timedelta(seconds=5), "running"),
            "silent-elsewhere": ("elsewhere", 1, timedelta(minutes=5), "interrupted"),
        }
        for run_id, (host, pid, age, _) in cases.items():
            _recorded_running(ledger, run_id, host, pid, age)
        shown = {r["id"]: r["status"] for r in ledger.history_as_seen()}
        assert shown == {run_id: case[3] for run_id, case in cases.items()}
        running = cli_json("status")
        assert sorted(r["run_id"] for r in running) == ["alive", "beating-elsewhere"]
    finally:
        newer.kill()
        newer.wait()
        zombie.wait()
