"""The heartbeat asks for a row count only once a run lasts long enough to be watched."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from exportctl.clock import FakeClock
from exportctl.jobs.heartbeat import COUNT_AFTER, Heartbeat, count_after
from exportctl.jobs.stop import Stop
from exportctl.ledger.runs import RunRecord
from exportctl.ledger.store import Ledger
from exportctl.run.result import Observer

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


class Bar(Observer):
    wants_total = True


def test_the_count_waits_for_a_long_run_unless_a_bar_shows_it(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    ledger = Ledger(f"sqlite:///{tmp_path / 'state.db'}", clock=clock)
    run = RunRecord(id="run-1", spec="pool", spec_sha256="0" * 64, trigger="cli",
                    destination="/out/pool.csv", started_at=NOW)  # fmt: skip
    quiet = Heartbeat(ledger, run, Observer(), Stop(), clock)
    shown = Heartbeat(ledger, run, Bar(), Stop(), clock)
    assert not quiet.wants_total and shown.wants_total
    clock.advance(COUNT_AFTER - 0.5)
    assert not quiet.wants_total
    clock.advance(0.5)
    assert quiet.wants_total
    ledger.close()


def test_the_wait_is_set_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORTCTL_COUNT_AFTER", "0")
    assert count_after() == 0.0
    monkeypatch.setenv("EXPORTCTL_COUNT_AFTER", "soon")
    assert count_after() == COUNT_AFTER  # not a number: the default, never a failed run
