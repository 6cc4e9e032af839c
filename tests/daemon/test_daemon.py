"""The daemon's scheduling, driven by a fake clock over a real ledger: no test sleeps."""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from exportctl import clock as clocks
from exportctl.cli.main import main
from exportctl.daemon.loop import Daemon
from exportctl.daemon.service import parse_listen
from exportctl.daemon.slots import latest_tick
from exportctl.daemon.telemetry import JsonFormatter, Metrics, serve_http
from exportctl.daemon.workers import ORPHAN_GRACE, WATCH_EVERY, ProcessRuns
from exportctl.jobs.options import Options
from exportctl.jobs.stop import Stop
from exportctl.lang.schedule import parse
from exportctl.ledger.runs import RunRecord
from exportctl.ledger.store import Ledger
from exportctl.model import ExportSpec
from exportctl.run.result import RunResult
from exportctl.spec.load import load_specs
from tests.support.daemon_specs import SLOW_SQL, write_scheduled_spec
from tests.support.servers import free_port
from tests.support.waiting import eventually

#: A whole minute (a tick of `every 10 seconds` and of `every 20 seconds`), well in the
#: past, so real runs start after their ticks.
T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)


class FakeClock(clocks.FakeClock):
    def at(self, seconds: float) -> FakeClock:
        """Move the clock on to T0 + seconds."""
        ahead = (T0 + timedelta(seconds=seconds) - self.now()).total_seconds()
        assert ahead >= 0, "a fake clock never goes back"
        self.advance(ahead)
        return self


class Recorder:
    """A stand-in for jobs.run_spec that notes each call; it can hold runs until released."""

    def __init__(self, hold: bool = False, status: str = "succeeded"):
        self.calls: list[tuple[str, datetime | None, str]] = []
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.status = status
        self.running = self.most = 0
        self.lock = threading.Lock()

    def __call__(
        self,
        spec: ExportSpec,
        ledger: Ledger,
        options: Options,
        now: datetime,
        _obs,
        stop: Stop,
        _clock: clocks.Clock,
    ) -> RunResult:
        assert options.trigger == "schedule"
        with self.lock:
            self.calls.append((spec.name, options.scheduled_for, spec.digest))
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            while not self.release.wait(0.01):
                stop.check()  # as a real run does at each chunk
        finally:
            with self.lock:
                self.running -= 1
        stamp = now.isoformat()
        return RunResult(spec.name, "r", self.status, 1, 1, "u", None, stamp, stamp, 0.0)  # type: ignore[arg-type]


def daemon_for(tmp_path: Path, ledger: Ledger, clock: FakeClock, **kwargs: Any) -> Daemon:
    ledger.clock = clock  # one clock: what the daemon schedules by, the ledger records
    daemon = Daemon((tmp_path / "specs",), ledger, **kwargs)
    daemon.start()
    return daemon


def step_at(daemon: Daemon, clock: FakeClock, second: float) -> None:
    clock.at(second)
    daemon.step()


def scheduled_runs(ledger: Ledger, spec: str) -> list[dict[str, Any]]:
    return sorted(ledger.history(spec), key=lambda r: r["scheduled_at"])


def test_ticks_run_at_their_instants_and_the_ledger_records_lateness(tmp_path, ledger):
    write_scheduled_spec(tmp_path / "specs", "items")
    clock = FakeClock(T0).at(3)
    daemon = daemon_for(tmp_path, ledger, clock)

    for second in (3, 9.9, 10, 15, 20, 25, 31):  # 31: a second late for the tick at 30
        step_at(daemon, clock, second)
        assert daemon.wait_idle(timeout=30)
    daemon.shutdown(grace=5)

    runs = scheduled_runs(ledger, "items")
    ticks = [T0 + timedelta(seconds=s) for s in (10, 20, 30)]
    assert [r["scheduled_at"] for r in runs] == ticks
    assert {(r["status"], r["trigger"]) for r in runs} == {("succeeded", "schedule")}
    # Started on the daemon's clock: at each tick, and a second late for the one at 30.
    lateness = [(r["started_at"] - r["scheduled_at"]).total_seconds() for r in runs]
    assert lateness == [0, 0, 1]
    assert len(list((tmp_path / "out").glob("items-*.csv"))) == 3
    metrics = daemon.metrics.text().decode()
    assert 'exportctl_runs_total{spec="items",status="succeeded"} 3.0' in metrics
    assert 'exportctl_start_lateness_seconds_count{spec="items"} 3.0' in metrics
    assert 'exportctl_rows_total{spec="items"} 60.0' in metrics


def test_a_tick_during_a_run_of_the_same_spec_is_skipped_and_recorded(tmp_path, ledger):
    write_scheduled_spec(tmp_path / "specs", "items")
    clock, run = FakeClock(T0), Recorder(hold=True)
    daemon = daemon_for(tmp_path, ledger, clock, run=run)

    step_at(daemon, clock, 10)
    step_at(daemon, clock, 20)  # the run for 10 is still going
    run.release.set()
    assert daemon.wait_idle(timeout=10)
    step_at(daemon, clock, 30)
    assert daemon.wait_idle(timeout=10)

    assert [tick for _, tick, _ in run.calls] == [T0 + timedelta(seconds=s) for s in (10, 30)]
    skipped = [e for e in ledger.audit_events() if e["event"] == "run.tick_skipped"]
    assert len(skipped) == 1 and skipped[0]["spec"] == "items"
    detail = json.loads(skipped[0]["detail"])
    assert detail["scheduled_for"] == (T0 + timedelta(seconds=20)).isoformat()
    assert 'exportctl_ticks_skipped_total{spec="items"} 1.0' in daemon.metrics.text().decode()


def record_scheduled_run(ledger: Ledger, spec: str, tick: datetime) -> None:
    run = RunRecord(f"old-{spec}", spec, "0" * 64, "schedule", "x", tick, scheduled_at=tick)
    ledger.start_run(run)
    ledger.finish_run(run.id, "succeeded", rows=0, bytes_=0)


@pytest.mark.parametrize(
    ("policy", "history", "expected"),
    [
        ("latest", True, [45, 50]),  # the tick at 40 was missed: once, at start, for 40
        ("none", True, [50]),
        ("latest", False, [50]),  # never run: nothing was missed
    ],
)
def test_missed_ticks_follow_the_catch_up_policy(tmp_path, ledger, policy, history, expected):
    write_scheduled_spec(tmp_path / "specs", "items", extra=f", catch_up: {policy}")
    if history:
        record_scheduled_run(ledger, "items", T0 + timedelta(seconds=10))
    clock, run = FakeClock(T0), Recorder()
    daemon = daemon_for(tmp_path, ledger, clock.at(45), run=run)
    started = []
    for second in (45, 49, 50):
        clock.at(second)
        before = len(run.calls)
        daemon.step()
        assert daemon.wait_idle(timeout=10)
        started += [second] * (len(run.calls) - before)

    assert started == expected
    if expected[0] == 45:  # recorded for the tick it stands for
        assert run.calls[0][1] == T0 + timedelta(seconds=40)


def test_latest_tick_finds_the_last_one_missed():
    rule = parse("every day at 02:00")
    since = datetime(2026, 3, 1, 1, tzinfo=UTC)
    assert latest_tick(rule, "UTC", since, datetime(2026, 3, 1, 1, 30, tzinfo=UTC)) is None
    assert latest_tick(rule, "UTC", since, datetime(2026, 3, 9, 5, tzinfo=UTC)) == datetime(
        2026, 3, 9, 2, tzinfo=UTC
    )
    seconds = parse("every 2 seconds")
    far = datetime(2026, 3, 9, 5, 0, 3, tzinfo=UTC)
    assert latest_tick(seconds, "UTC", since, far) == datetime(2026, 3, 9, 5, 0, 2, tzinfo=UTC)


def test_due_specs_run_in_parallel_up_to_the_limit(tmp_path, ledger):
    for index in range(5):
        write_scheduled_spec(tmp_path / "specs", f"items-{index}")
    clock, run = FakeClock(T0), Recorder(hold=True)
    daemon = daemon_for(tmp_path, ledger, clock, run=run, max_parallel=2)

    step_at(daemon, clock, 10)
    assert not daemon.wait_idle(timeout=0.3)
    assert run.running == 2 and daemon.health["running"] == [f"items-{i}" for i in range(5)]
    run.release.set()
    assert daemon.wait_idle(timeout=10)

    assert len(run.calls) == 5 and run.most == 2


def test_a_spec_without_success_for_twice_its_interval_alerts_once(tmp_path, ledger):
    alerted = tmp_path / "alerts.txt"
    script = (
        f"import os; open({str(alerted)!r}, 'a')"
        ".write(os.environ['EXPORTCTL_STATUS'] + ' ' + os.environ['EXPORTCTL_SPEC'] + '\\n')"
    )
    command = [sys.executable, "-c", script]
    path = write_scheduled_spec(tmp_path / "specs", "items")
    path.write_text(path.read_text() + f"alerts: {{command: {json.dumps(command)}}}\n")
    clock, run = FakeClock(T0), Recorder(status="failed")
    daemon = daemon_for(tmp_path, ledger, clock.at(0), run=run, stale_every=0)

    for second in (10, 20):
        step_at(daemon, clock, second)
        assert daemon.wait_idle(timeout=10)
    assert not alerted.exists()  # 20 s without success: not yet more than twice 10 s
    for second in (21, 30, 40):
        step_at(daemon, clock, second)
        assert daemon.wait_idle(timeout=10)

    assert alerted.read_text() == "stale items\n"  # once for the episode
    assert [e["event"] for e in ledger.audit_events()].count("spec.stale") == 1
    assert 'exportctl_spec_stale{spec="items"} 1.0' in daemon.metrics.text().decode()

    record_scheduled_run(ledger, "items", clock.now())  # a success ends the episode
    daemon.step()
    assert 'exportctl_spec_stale{spec="items"} 0.0' in daemon.metrics.text().decode()


def test_an_edited_spec_is_reloaded_and_an_invalid_one_keeps_its_previous_version(
    tmp_path, ledger, caplog
):
    path = write_scheduled_spec(tmp_path / "specs", "items")
    first = path.read_text()
    clock, run = FakeClock(T0), Recorder()
    daemon = daemon_for(tmp_path, ledger, clock, run=run)

    def tick(second: float) -> str:
        before = len(run.calls)
        step_at(daemon, clock, second)
        assert daemon.wait_idle(timeout=10) and len(run.calls) == before + 1
        return run.calls[-1][2]

    v1 = tick(10)
    path.write_text(first.replace("query: {table: items}", "query: {tabel: items}"))
    with caplog.at_level(logging.ERROR, logger="exportctl.daemon"):
        assert tick(20) == v1  # the mtime changed; the invalid file keeps version 1
    invalid = [r for r in caplog.records if r.getMessage() == "spec.invalid"]
    assert invalid and "tabel" in invalid[0].fields["problem"]  # type: ignore[attr-defined]

    path.write_text(first.replace("../out/items-", "../out/renamed-"))
    v2 = tick(30)
    assert v2 != v1
    path.unlink()  # removed: no longer scheduled
    step_at(daemon, clock, 40)
    assert daemon.wait_idle(timeout=10) and len(run.calls) == 3 and daemon.health["specs"] == []


def test_a_reload_that_fails_for_another_reason_keeps_the_specs_and_is_tried_again(
    tmp_path, ledger, caplog
):
    path = write_scheduled_spec(tmp_path / "specs", "items")
    clock, run = FakeClock(T0), Recorder()
    failures: list[Exception] = []

    def flaky_load(paths: Any) -> Any:
        if failures:
            raise failures.pop()
        return load_specs(paths)

    daemon = daemon_for(tmp_path, ledger, clock, run=run, load=flaky_load, watch_every=1)
    failures.append(OSError("the disk hiccuped"))  # start() loaded; the reload will not
    path.write_text(path.read_text().replace("every 10 seconds", "every 20 seconds"))

    with caplog.at_level(logging.ERROR, logger="exportctl.daemon"):
        step_at(daemon, clock, 10)  # the reload fails: version 1 runs its tick
    assert daemon.wait_idle(timeout=10)
    assert [r.getMessage() for r in caplog.records] == ["specs.reload_failed"]
    step_at(daemon, clock, 11)  # the next look at the files reloads
    for second in (20, 30, 40):
        step_at(daemon, clock, second)
        assert daemon.wait_idle(timeout=10)

    ticks = [(tick - T0).total_seconds() for _, tick, _ in run.calls]
    assert ticks == [10, 20, 40]


def test_sighup_reloads_even_without_a_change_of_mtime(tmp_path, ledger):
    path = write_scheduled_spec(tmp_path / "specs", "items")
    stat = path.stat()
    clock, run = FakeClock(T0), Recorder()
    daemon = daemon_for(tmp_path, ledger, clock, run=run, watch_every=3600)
    path.write_text(path.read_text().replace("every 10 seconds", "every 20 seconds"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    daemon.request_reload()
    for second in (10, 20):
        step_at(daemon, clock, second)
        assert daemon.wait_idle(timeout=10)

    assert [tick for _, tick, _ in run.calls] == [T0 + timedelta(seconds=20)]


def test_serve_steps_with_the_injected_clock_and_interrupts_runs_after_the_grace(tmp_path, ledger):
    write_scheduled_spec(tmp_path / "specs", "items")
    run = Recorder(hold=True)

    class Stopping(FakeClock):
        def wait(self, event: Any, seconds: float) -> bool:
            woken = super().wait(event, seconds)
            if self.now() >= T0 + timedelta(seconds=15):
                daemon.request_stop(15)
            return woken

    clock = Stopping(T0).at(1)
    ledger.clock = clock
    daemon = Daemon((tmp_path / "specs",), ledger, run=run)
    daemon.watch_every = 3600  # no look at the files to wake for
    signum = daemon.serve(grace=0.2)

    assert signum == 15
    assert clock.slept[:2] == [9, 10]  # straight to each tick
    assert len(run.calls) == 1 and run.running == 0  # interrupted after the grace
    assert daemon.health == {"up": False, "specs": ["items"], "running": []}


def test_json_log_lines_carry_the_fields_and_no_secrets():
    record = logging.LogRecord("exportctl.daemon", logging.INFO, "", 0, "run.finished", (), None)
    record.fields = {"spec": "a", "error": "postgresql://u:hunter2@h/db down"}  # type: ignore[attr-defined]

    line = json.loads(JsonFormatter().format(record))

    assert line["event"] == "run.finished" and line["spec"] == "a" and line["level"] == "info"
    assert "hunter2" not in line["error"] and line["ts"].endswith("Z")


@pytest.mark.parametrize("listen", ["127.0.0.1:0", "[::1]:0"])
def test_health_and_metrics_answer_on_ipv4_and_ipv6(listen):
    host, port = parse_listen(listen)
    server = serve_http(host, port, lambda: {"up": True, "specs": ["a"]}, Metrics())
    try:
        bound = server.server_address[1]
        status, body = get(f"http://{listen.rsplit(':', 1)[0]}:{bound}/healthz")
        assert status == 200 and json.loads(body) == {"up": True, "specs": ["a"]}
        assert (
            b"exportctl_runs_total" in get(f"http://{listen.rsplit(':', 1)[0]}:{bound}/metrics")[1]
        )
    finally:
        server.shutdown()


def test_daemon_help_and_usage_errors(tmp_path):
    runner = CliRunner()
    shown = runner.invoke(main, ["daemon", "--help"])
    assert shown.exit_code == 0
    for option in ("--listen", "--max-parallel", "--grace", "--state", "143"):
        assert option in shown.output

    (tmp_path / "specs").mkdir()
    nothing = runner.invoke(main, ["daemon", str(tmp_path / "specs"), "--listen", "off"])
    assert nothing.exit_code == 2
    (tmp_path / "specs" / "bad.yaml").write_text("version: 1\nname: Bad\n")
    invalid = runner.invoke(main, ["daemon", str(tmp_path / "specs"), "--listen", "off"])
    assert invalid.exit_code == 2 and "bad.yaml" in invalid.output


# --- end to end: the real daemon process -------------------------------------------------


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
        return response.status, response.read()


def test_the_daemon_process_schedules_reloads_and_stops_cleanly(tmp_path):
    write_scheduled_spec(tmp_path / "specs", "fast", every="every 2 seconds")
    slow = write_scheduled_spec(tmp_path / "specs", "slow", every="every 2 seconds")
    slow.write_text(
        slow.read_text()
        .replace("query: {table: items}", f'query: {{sql: "{SLOW_SQL}"}}')
        .replace("url: ", "chunk_size: 500, url: ")
    )
    state, port = f"sqlite:///{tmp_path / 'state.db'}", free_port()
    log = (tmp_path / "daemon.log").open("w")
    command = [sys.executable, "-m", "exportctl", "daemon", "specs", "--state", state]
    command += ["--listen", f"127.0.0.1:{port}", "--grace", "0.5"]
    process = subprocess.Popen(
        command, cwd=tmp_path, stderr=log, env=os.environ | {"NO_COLOR": "1"}
    )
    try:
        ledger = Ledger(state)

        def runs(spec: str, status: str | None = None) -> list[dict[str, Any]]:
            return ledger.history(spec, status=status)

        eventually(lambda: len(runs("fast", "succeeded")) >= 2, "two runs of `fast`")
        status, body = get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and json.loads(body)["specs"] == ["fast", "slow"]
        metrics = get(f"http://127.0.0.1:{port}/metrics")[1].decode()
        assert 'exportctl_runs_total{spec="fast",status="succeeded"}' in metrics
        assert "exportctl_start_lateness_seconds_bucket" in metrics

        fast = tmp_path / "specs" / "fast.yaml"
        fast.write_text(fast.read_text().replace("../out/fast-", "../out/renamed-"))
        process.send_signal(signal.SIGHUP)
        eventually(
            lambda: any("renamed-" in r["destination"] for r in runs("fast", "succeeded")),
            "a run of the edited `fast`",
        )
        eventually(lambda: runs("slow", "running"), "a run of `slow` under way")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 143
    finally:
        process.kill()
        log.close()

    everything = ledger.history(limit=1000)
    assert {r["trigger"] for r in everything} == {"schedule"}
    workers = {r["pid"] for r in everything}
    assert process.pid not in workers and 1 <= len(workers) <= 4  # runs use worker processes
    assert not [r for r in everything if r["status"] == "running"]
    for spec in ("fast", "slow"):
        ordered = sorted(runs(spec), key=lambda r: r["started_at"])
        for earlier, later in itertools.pairwise(ordered):  # never two at once
            assert earlier["finished_at"] <= later["started_at"]
            assert earlier["scheduled_at"] < later["scheduled_at"]
    fast_runs = sorted(runs("fast"), key=lambda r: r["started_at"])
    assert {r["status"] for r in fast_runs} == {"succeeded"}
    renamed = ["renamed-" in r["destination"] for r in fast_runs]
    assert renamed == sorted(renamed) and renamed[0] is False  # the edit, from the reload on
    last_slow = max(runs("slow"), key=lambda r: r["started_at"])
    assert last_slow["status"] == "interrupted"
    assert any(e["event"] == "run.tick_skipped" for e in ledger.audit_events())

    recorded = {f["uri"] for r in everything for f in ledger.run(r["id"])["files"]}
    on_disk = {str(p) for p in (tmp_path / "out").iterdir()}
    assert on_disk == recorded  # nothing partial, nothing unaccounted for
    assert not Path(last_slow["destination"]).exists()

    events = [
        json.loads(line)["event"] for line in (tmp_path / "daemon.log").read_text().splitlines()
    ]
    for event in ("daemon.started", "specs.reloaded", "daemon.aborting", "daemon.stopped"):
        assert event in events


def test_a_worker_process_that_dies_fails_its_run_and_the_next_run_goes_on(tmp_path):
    spec_file = write_scheduled_spec(tmp_path / "specs", "slow", every="every 2 seconds")
    spec_file.write_text(
        spec_file.read_text()
        .replace("query: {table: items}", f'query: {{sql: "{SLOW_SQL}"}}')
        .replace("url: ", "chunk_size: 500, url: ")
    )
    write_scheduled_spec(tmp_path / "specs", "fast", every="every 2 seconds")
    state = f"sqlite:///{tmp_path / 'state.db'}"
    ledger = Ledger(state)
    specs = {s.name: s for s in load_specs((tmp_path / "specs",))[0]}
    runs = ProcessRuns(state, workers=1)
    try:
        runs.warm()
        options, now = Options(trigger="schedule"), datetime.now(UTC)
        outcome: dict[str, Any] = {}

        def slow() -> None:
            try:
                runs(specs["slow"], ledger, options, now, None, Stop())
            except Exception as exc:
                outcome["error"] = str(exc)

        thread = threading.Thread(target=slow)
        thread.start()
        eventually(lambda: ledger.history("slow", status="running"), "the slow run under way")
        os.kill(ledger.history("slow")[0]["pid"], signal.SIGKILL)
        thread.join(timeout=30)
        assert "worker process running `slow` died" in outcome["error"]

        result = runs(specs["fast"], ledger, options, datetime.now(UTC), None, Stop())
        assert result.status == "succeeded" and Path(result.uri).exists()
        assert not Path(ledger.history("slow")[0]["destination"]).exists()  # nothing partial
    finally:
        runs.close()


def _children(pid: int) -> set[int]:
    """The processes whose parent is `pid`, from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"  # a zombie has exited


def test_workers_exit_when_the_daemon_is_killed(tmp_path):
    """SIGKILL of the daemon: its workers, idle or mid-run, are gone within seconds, and the
    run one of them had under way is recorded as interrupted with nothing partial left."""
    slow = write_scheduled_spec(tmp_path / "specs", "slow", every="every 2 seconds")
    slow.write_text(
        slow.read_text()
        .replace("query: {table: items}", f'query: {{sql: "{SLOW_SQL}"}}')
        .replace("url: ", "chunk_size: 500, url: ")
    )
    state = f"sqlite:///{tmp_path / 'state.db'}"
    command = [sys.executable, "-m", "exportctl", "daemon", "specs", "--state", state]
    process = subprocess.Popen(
        [*command, "--max-parallel", "2"], cwd=tmp_path, stderr=subprocess.DEVNULL
    )
    try:
        ledger = Ledger(state)
        running = eventually(lambda: ledger.history("slow", status="running"), "a run under way")
        workers = _children(process.pid)
        assert running[0]["pid"] in workers and len(workers) >= 2  # one busy, one idle
        process.kill()
        process.wait()
        # A busy worker stops at its run's next chunk, or exits anyway after ORPHAN_GRACE.
        limit = ORPHAN_GRACE + WATCH_EVERY + 3
        eventually(
            lambda: not any(_alive(pid) for pid in workers), "the workers' exit", timeout=limit
        )
    finally:
        process.kill()
    (run,) = [r for r in ledger.history("slow") if r["id"] == running[0]["id"]]
    # Recorded so by the worker as it winds down; or, where one chunk's read outlasts
    # ORPHAN_GRACE on a busy machine and the worker exits first, seen so (its process gone).
    assert ledger.as_seen(run)["status"] == "interrupted"
    assert not Path(run["destination"]).exists()
