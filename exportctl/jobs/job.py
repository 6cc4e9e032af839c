"""Run compiled plans as accountable jobs: locked, windowed, recorded, alerted, pruned.

Each step is its own module: `windows` (what an incremental run exports), `recording`
(the ledger's run records), `heartbeat` (progress that keeps the lock alive), `attempts`
(retries), `notify` (alerts), `prune` (retention), `leftovers` (what earlier runs left).
Every plan is compiled once (by the caller, or by `run_spec` for the daemon); the clock
is the caller's too.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import replace
from datetime import datetime

import tenacity

from exportctl import registry
from exportctl.clock import SYSTEM, Clock
from exportctl.errors import ExportctlError, Interrupted, RunError, TransientError, scrub
from exportctl.jobs import attempts, leftovers, notify, prune, recording, windows
from exportctl.jobs.heartbeat import Heartbeat
from exportctl.jobs.options import Options
from exportctl.jobs.recorded import restored
from exportctl.jobs.stop import Stop
from exportctl.ledger.locks import LockHeld
from exportctl.ledger.runs import RunRecord
from exportctl.ledger.store import Ledger
from exportctl.model import ExportSpec
from exportctl.plan.compiler import ExportPlan, compile_plan, new_run_id
from exportctl.run import changes
from exportctl.run.result import Observer, RunResult
from exportctl.run.runner import failed, failure_message


def run_plans(
    plans: list[ExportPlan],
    ledger: Ledger,
    options: Options,
    observers: Callable[[ExportSpec], Observer],
    jobs: int = 1,
    stop: Stop | None = None,
    clock: Clock = SYSTEM,
) -> list[RunResult]:
    """Every plan, `jobs` at a time; one failing never stops the others."""
    stop = stop or Stop()
    recover([p.spec for p in plans], ledger)

    def one(plan: ExportPlan) -> RunResult:
        return run_plan(plan, ledger, options, observers(plan.spec), stop, clock)

    if jobs <= 1:
        return [one(plan) for plan in plans]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, plan) for plan in plans]
        try:
            return [f.result() for f in futures]
        except (Interrupted, KeyboardInterrupt) as exc:  # the signal lands in this thread
            stop.request(getattr(exc, "signum", signal.SIGINT))
            pool.shutdown(cancel_futures=True)  # plans not yet started never start
            raise


def recover(specs: list[ExportSpec], ledger: Ledger) -> None:
    """Mark runs of dead processes interrupted and remove what they left at their destination."""
    destination_options = {spec.name: spec.destination.options for spec in specs}
    for run in ledger.recover():
        # The options the run wrote with; for a run of an older version, its spec's.
        uri = run["destination"]
        stated = restored(uri, run.get("destination_options"))
        stated = stated or destination_options.get(run["spec"])
        with suppress(RunError):  # a destination this version cannot write left nothing
            registry.destination_for(uri, stated).remove_leftovers(uri)


def run_spec(
    spec: ExportSpec,
    ledger: Ledger,
    options: Options,
    now: datetime,
    observer: Observer,
    stop: Stop,
    clock: Clock = SYSTEM,
) -> RunResult:
    """One run of `spec` at `now` (a daemon's tick): its plan compiled once, then run."""
    plan = compile_plan(spec, now=now, run_id=options.run_id or new_run_id(now))
    return run_plan(plan, ledger, options, observer, stop, clock)


def run_plan(
    plan: ExportPlan,
    ledger: Ledger,
    options: Options,
    observer: Observer,
    stop: Stop,
    clock: Clock = SYSTEM,
) -> RunResult:
    """One run of `plan` under its spec's lock; skipped while another run holds it."""
    name, run_id = plan.spec.name, plan.run_id
    try:
        ledger.acquire(name, run_id, wait=options.wait)
    except LockHeld as exc:
        return recording.not_run(plan, "skipped", str(exc), clock)
    try:
        return _locked_run(plan, ledger, options, observer, stop, clock)
    finally:
        ledger.release(name, run_id)


def _locked_run(
    base: ExportPlan,
    ledger: Ledger,
    options: Options,
    observer: Observer,
    stop: Stop,
    clock: Clock,
) -> RunResult:
    spec = base.spec
    try:
        planning = attempts.retrying(
            spec, stop, clock, retry=tenacity.retry_if_exception_type(TransientError)
        )
        plan, attempt, trigger = planning(windows.planned, base, ledger, options)
    except Exception as exc:  # e.g. a database driver that is not installed
        reason = failure_message(exc).removeprefix("internal error: ")
        result = recording.failed_to_plan(base, ledger, options, reason, clock)
        notify.alert(spec, ledger, result, clock)
        return result
    record = recording.started(plan, ledger, options, attempt, trigger, clock)
    _cleaning(ledger, spec, plan.run_id, lambda: leftovers.before_run(spec, ledger, plan))
    plan = replace(plan, expected_bytes=recording.expected_bytes(spec, ledger))
    heartbeat = Heartbeat(ledger, record, observer, stop, clock)
    result = _exported(plan, ledger, record, heartbeat, stop, clock)
    recording.finished(ledger, record, plan, result, heartbeat.expected)
    return _after(plan, ledger, result, clock)


def _exported(
    plan: ExportPlan,
    ledger: Ledger,
    record: RunRecord,
    heartbeat: Heartbeat,
    stop: Stop,
    clock: Clock,
) -> RunResult:
    """The export's attempts, its heartbeat going; an interruption is recorded and raised."""
    try:
        with heartbeat.beating():
            return attempts.run_with_retries(plan, ledger, heartbeat, stop, clock)
    except Exception as exc:  # outside the export itself (cleaning up before a retry, say)
        return failed(plan, exc, record.started_at, clock.now())
    except BaseException as exc:
        error = scrub(str(exc)) or "interrupted"
        ledger.finish_run(record.id, "interrupted", rows=heartbeat.rows, bytes_=0, error=error)
        interrupted = recording.not_run(plan, "interrupted", error, clock)
        notify.alert(plan.spec, ledger, interrupted, clock)
        raise


def _after(plan: ExportPlan, ledger: Ledger, result: RunResult, clock: Clock) -> RunResult:
    """Once the run is recorded: leftovers, stale snapshots, alerts, then retention."""
    spec = plan.spec
    if result.status == "succeeded":  # its manifest now lists its parts, not the previous run's
        _cleaning(
            ledger, spec, plan.run_id, lambda: leftovers.after_success(spec, ledger, plan, result)
        )
    if result.status == "succeeded" and plan.changes is not None:
        changes.remove_stale(plan.changes.after.parent, plan.changes.after.name)
    notify.alert(spec, ledger, result, clock)
    if result.status == "succeeded" and spec.retention is not None:
        result = prune.after_run(spec, ledger, result, clock.now())  # never fails the run
    return result


def _cleaning(ledger: Ledger, spec: ExportSpec, run_id: str, clean: Callable[[], None]) -> None:
    """Remove what earlier runs left; a failure is audited and never fails the export."""
    try:
        clean()
    except Exception as exc:
        reason = str(exc) if isinstance(exc, ExportctlError) else f"{type(exc).__name__}: {exc}"
        with suppress(Exception):
            ledger.event("leftovers.failed", spec.name, run_id, error=scrub(reason))
