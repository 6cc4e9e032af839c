"""A run in the ledger: its record as it starts, its outcome as it ends, and runs that
exported nothing (skipped, or failed before they had a plan)."""

from __future__ import annotations

from typing import Any

from exportctl.clock import Clock
from exportctl.jobs import windows
from exportctl.jobs.heartbeat import record_part
from exportctl.jobs.options import Options
from exportctl.jobs.provenance import git_commit
from exportctl.jobs.recorded import recorded
from exportctl.ledger.runs import RunRecord
from exportctl.ledger.store import Ledger
from exportctl.model import ExportSpec
from exportctl.plan import incremental
from exportctl.plan.compiler import ExportPlan
from exportctl.run.result import RunResult


def started(
    plan: ExportPlan, ledger: Ledger, options: Options, attempt: int, trigger: str, clock: Clock
) -> RunRecord:
    """The run recorded as running, with the parts a retry keeps as its own."""
    spec = plan.spec
    record = RunRecord(
        id=plan.run_id,
        spec=spec.name,
        spec_sha256=spec.digest,
        trigger=trigger,
        destination=plan.destination,
        started_at=clock.now(),
        git_commit=git_commit(spec.base_dir),
        window_from=_window_from(plan),
        window_to=incremental.encode(plan.window.upto) if plan.window else None,
        attempt=attempt,
        scheduled_at=options.scheduled_for,
        destination_options=recorded(plan.destination, spec.destination.options),
    )
    ledger.start_run(record)
    for kept in plan.resume:  # the retry's files include the parts it keeps
        record_part(ledger, plan.run_id, kept)
    return record


def _window_from(plan: ExportPlan) -> str | None:
    """Where the run starts: its window's lower end, or a change run's base snapshot."""
    if plan.window:
        return incremental.encode(plan.window.after)
    return windows.based_on(plan.changes) if plan.changes else None


def finished(
    ledger: Ledger, record: RunRecord, plan: ExportPlan, result: RunResult, total: int | None
) -> None:
    """The run's outcome; a success moves the spec's watermark."""
    if result.status == "failed" and plan.window is None:
        ledger.forget_parts(record.id)  # the runner removed them
    ledger.finish_run(
        record.id,
        result.status,
        rows=result.rows,
        bytes_=result.bytes,
        files=[f for f in result.files if f[1] != "part"],  # parts were recorded as committed
        error=result.error,
        watermark=windows.watermark_of(plan),
        total_rows=total,
        summary=_summary(result),
        # Attempts in this process add to those of the runs it resumes.
        attempt=record.attempt + result.attempts - 1,
    )


def _summary(result: RunResult) -> dict[str, Any]:
    summary: dict[str, Any] = {"attempts": result.attempts}
    if result.warnings:
        summary["warnings"] = list(result.warnings)
    if result.invalid_rows:
        summary["invalid_rows"] = result.invalid_rows
    if result.redactions:  # rule names and counts, never a value
        summary["redactions"] = dict(result.redactions)
    return summary


def expected_bytes(spec: ExportSpec, ledger: Ledger) -> int | None:
    """How much the export will likely store: its last successful run's size."""
    last = ledger.history(spec.name, status="succeeded", limit=1)
    return last[0]["bytes"] if last else None


def failed_to_plan(
    base: ExportPlan, ledger: Ledger, options: Options, error: str, clock: Clock
) -> RunResult:
    """A run that failed before exporting (source unreachable, watermark stale): recorded too."""
    spec = base.spec
    record = RunRecord(
        id=base.run_id,
        spec=spec.name,
        spec_sha256=spec.digest,
        trigger=options.trigger,
        destination=base.destination,
        started_at=clock.now(),
        git_commit=git_commit(spec.base_dir),
        scheduled_at=options.scheduled_for,
    )
    ledger.start_run(record)
    ledger.finish_run(base.run_id, "failed", rows=0, bytes_=0, error=error)
    return not_run(base, "failed", error, clock)


def not_run(plan: ExportPlan, status: str, error: str, clock: Clock) -> RunResult:
    """The result of a spec that exported nothing: skipped, failed or interrupted."""
    now = clock.now().isoformat()
    spec, uri = plan.spec.name, plan.destination
    return RunResult(spec, plan.run_id, status, 0, 0, uri, None, now, now, 0.0, error)  # type: ignore[arg-type]
