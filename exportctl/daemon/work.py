"""One daemon run in a worker thread: started, measured, logged; it never raises."""

from __future__ import annotations

import logging
from contextlib import suppress
from datetime import datetime
from typing import Any, Protocol

from exportctl.clock import Clock
from exportctl.daemon.telemetry import Metrics, log_event
from exportctl.errors import Interrupted, scrub
from exportctl.jobs.options import Options
from exportctl.jobs.stop import Stop
from exportctl.ledger.store import Ledger
from exportctl.model import ExportSpec
from exportctl.run.result import Observer, RunResult


class RunSpec(Protocol):
    """jobs.run_spec, or workers.ProcessRuns: one run of a spec at `now`."""

    def __call__(
        self,
        spec: ExportSpec,
        ledger: Ledger,
        options: Options,
        now: datetime,
        observer: Observer,
        stop: Stop,
        clock: Clock,
        /,
    ) -> RunResult: ...


class Work:
    """Runs a spec for a tick, or for the API, through `run` (jobs.run_spec or workers')."""

    def __init__(self, ledger: Ledger, run: RunSpec, stop: Stop, clock: Clock, metrics: Metrics):
        self.ledger, self.run, self.stop, self.clock, self.metrics = (
            ledger,
            run,
            stop,
            clock,
            metrics,
        )

    def __call__(self, spec: ExportSpec, tick: datetime | None, run_id: str | None = None) -> str:
        """One run, for a tick or asked for through the API, in a worker thread; never raises.

        How it ended: the run's status, or `crashed` (a bug, the ledger down, a dead worker)."""
        trigger = "schedule" if tick else "api"
        options = Options(trigger=trigger, scheduled_for=tick, run_id=run_id)
        fields: dict[str, Any] = {"spec": spec.name, "trigger": trigger}
        fields |= {"scheduled_for": tick.isoformat()} if tick else {"run_id": run_id}
        log_event("run.starting", **fields)
        try:
            now = self.clock.now()
            result = self.run(spec, self.ledger, options, now, Observer(), self.stop, self.clock)
        except Interrupted:
            self.metrics.runs.labels(spec.name, "interrupted").inc()
            log_event("run.interrupted", logging.WARNING, **fields)
            return "interrupted"
        except BaseException as exc:  # a bug or the ledger down: logged, the daemon goes on
            self.metrics.runs.labels(spec.name, "failed").inc()
            fields["error"] = f"{type(exc).__name__}: {exc}"
            log_event("run.crashed", logging.ERROR, **fields)
            return "crashed"
        if result.status == "skipped" and tick:  # another process holds the spec's lock
            self.skipped(spec.name, tick, result.error or "another run holds the spec")
            return "skipped"
        late = self._lateness(result.run_id)
        status = result.status
        self.metrics.finished(spec.name, status, result.seconds, result.rows, result.bytes, late)
        fields |= {"run_id": result.run_id, "status": result.status, "rows": result.rows}
        fields |= {"bytes": result.bytes, "seconds": result.seconds, "lateness": late}
        fields |= {"error": result.error} if result.error else {}
        log_event(
            "run.finished", logging.INFO if status == "succeeded" else logging.ERROR, **fields
        )
        return status

    def skipped(self, name: str, tick: datetime, reason: str) -> None:
        """A tick not started: counted, logged and audited."""
        self.metrics.skipped.labels(name).inc()
        fields = {"scheduled_for": tick.isoformat(), "reason": reason}
        log_event("run.tick_skipped", logging.WARNING, spec=name, **fields)
        try:
            self.ledger.event("run.tick_skipped", name, None, **fields)
        except Exception as exc:  # the ledger may be down; the log has it
            log_event("ledger.unreachable", logging.ERROR, error=scrub(str(exc)))

    def _lateness(self, run_id: str) -> float | None:
        with suppress(Exception):
            run = self.ledger.run(run_id)
            if run and run.get("scheduled_at"):
                return float((run["started_at"] - run["scheduled_at"]).total_seconds())
        return None
