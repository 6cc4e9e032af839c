"""Run specs as accountable jobs: locked, recorded in the ledger, incremental where asked."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import tenacity

from exportctl import registry
from exportctl.clock import utc_now
from exportctl.errors import ExportctlError, Interrupted, RunError, TransientError, scrub
from exportctl.jobs import alerts, attempts, leftovers, prune
from exportctl.jobs.recorded import recorded, restored
from exportctl.lang import timerange, units
from exportctl.ledger.liveness import HEARTBEAT_EVERY
from exportctl.ledger.locks import LockHeld
from exportctl.ledger.runs import RunRecord
from exportctl.ledger.store import Ledger
from exportctl.model import And, Compare, ExportSpec, Query
from exportctl.plan import incremental
from exportctl.plan.changes import ChangePlan
from exportctl.plan.compiler import ExportPlan, Part, compile_plan, new_run_id
from exportctl.plan.incremental import Window
from exportctl.run import changes, runner
from exportctl.run.runner import Observer, RunResult
from exportctl.sources.base import Request

UNFINISHED = ("failed", "interrupted")


@dataclass(frozen=True)
class Options:
    full: bool = False
    wait: float = 0
    trigger: str = "cli"
    #: The schedule tick a daemon run is for, recorded in the ledger as `scheduled_at`.
    scheduled_for: datetime | None = None
    #: The run's id, when the caller must know it before the run starts (the run API).
    run_id: str | None = None


class EventLike(Protocol):
    """A `threading.Event`, or a `multiprocessing.Event` shared with worker processes."""

    def is_set(self) -> bool: ...
    def set(self) -> None: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class Stop:
    """Asks running exports to stop at their next chunk (SIGTERM with several jobs)."""

    def __init__(self, event: EventLike | None = None) -> None:
        self._event: EventLike = event or threading.Event()
        self.signum = 0

    def request(self, signum: int) -> None:
        self.signum = signum
        self._event.set()

    def check(self) -> None:
        if self._event.is_set():
            raise Interrupted(self.signum)

    def sleep(self, seconds: float) -> None:
        """Wait between attempts, but not past a stop request."""
        if self._event.wait(seconds):
            raise Interrupted(self.signum)


class _Recording(Observer):
    """Reports progress to the ledger every few seconds, and honours a stop request."""

    wants_total = True

    def __init__(self, ledger: Ledger, run: RunRecord, inner: Observer, stop: Stop):
        self.ledger, self.run, self.inner, self.stop = ledger, run, inner, stop
        self.rows = 0
        self.expected: int | None = None
        self.last_beat = -HEARTBEAT_EVERY  # the first chunk reports at once

    def restart(self) -> None:
        self.rows = 0
        self.expected = None
        self.inner.restart()

    def total(self, rows: int | None) -> None:
        self.expected = rows
        self.inner.total(rows)
        self.last_beat = -HEARTBEAT_EVERY  # the next chunk reports it

    def advance(self, rows: int) -> None:
        self.stop.check()
        self.rows += rows
        self.inner.advance(rows)
        self._beat_if_due()

    def _beat_if_due(self) -> None:
        if time.monotonic() - self.last_beat < HEARTBEAT_EVERY:
            return
        self.last_beat = time.monotonic()
        with suppress(Exception):  # a missed beat is retried; the run goes on
            self.ledger.progress(self.run.id, self.run.spec, self.rows, self.expected)

    @contextmanager
    def beating(self) -> Iterator[None]:
        """Keep the run and its lock alive in the ledger, however long a step takes.

        Chunks report as they go; a thread covers the steps between them, so that a
        slow count or first chunk does not make the run look dead to another host,
        which would then break its lock.
        """
        done = threading.Event()

        def beat() -> None:
            while not done.wait(HEARTBEAT_EVERY / 4):
                self._beat_if_due()

        thread = threading.Thread(target=beat, name=f"heartbeat-{self.run.id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def committed(self, part: Part) -> None:
        _record_part(self.ledger, self.run.id, part)


def _record_part(ledger: Ledger, run_id: str, part: Part) -> None:
    position = incremental.encode(part.last)
    ledger.record_part(
        run_id, part.file.uri, part.file.bytes, part.file.sha256, part.rows, position
    )


def run_specs(
    specs: list[ExportSpec],
    ledger: Ledger,
    options: Options,
    observers: Callable[[ExportSpec], Observer],
    jobs: int = 1,
    stop: Stop | None = None,
    now: datetime | None = None,
) -> list[RunResult]:
    """Every spec, `jobs` at a time; one failing never stops the others."""
    stop = stop or Stop()
    recover(specs, ledger)
    now = now or utc_now()

    def one(spec: ExportSpec) -> RunResult:
        return run_spec(spec, ledger, options, now, observers(spec), stop)

    if jobs <= 1:
        return [one(spec) for spec in specs]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, spec) for spec in specs]
        try:
            return [f.result() for f in futures]
        except (Interrupted, KeyboardInterrupt) as exc:  # the signal lands in this thread
            stop.request(getattr(exc, "signum", signal.SIGINT))
            pool.shutdown(cancel_futures=True)  # specs not yet started never start
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
) -> RunResult:
    run_id = options.run_id or new_run_id(now)
    try:
        ledger.acquire(spec.name, run_id, wait=options.wait)
    except LockHeld as exc:
        destination = compile_plan(spec, now=now, run_id=run_id).destination
        return _not_run(spec, run_id, destination, "skipped", str(exc))
    try:
        return _locked_run(spec, ledger, options, now, run_id, observer, stop)
    finally:
        ledger.release(spec.name, run_id)


def _locked_run(
    spec: ExportSpec,
    ledger: Ledger,
    options: Options,
    now: datetime,
    run_id: str,
    observer: Observer,
    stop: Stop,
) -> RunResult:
    try:
        planning = attempts.retrying(
            spec, stop, retry=tenacity.retry_if_exception_type(TransientError)
        )
        plan, attempt, trigger = planning(_plan, spec, ledger, options, now, run_id)
    except Exception as exc:  # e.g. a database driver that is not installed
        reason = runner.failure_message(exc).removeprefix("internal error: ")
        result = _failed_to_plan(spec, ledger, options, now, run_id, reason)
        _alert(spec, ledger, result)
        return result
    record = RunRecord(
        id=run_id,
        spec=spec.name,
        spec_sha256=spec.digest,
        trigger=trigger,
        destination=plan.destination,
        started_at=utc_now(),
        git_commit=_git_commit(spec.base_dir),
        window_from=(
            incremental.encode(plan.window.after)
            if plan.window
            else _based_on(plan.changes)
            if plan.changes
            else None
        ),
        window_to=incremental.encode(plan.window.upto) if plan.window else None,
        attempt=attempt,
        scheduled_at=options.scheduled_for,
        destination_options=recorded(plan.destination, spec.destination.options),
    )
    ledger.start_run(record)
    for kept in plan.resume:  # the retry's files include the parts it keeps
        _record_part(ledger, run_id, kept)
    _cleaning(ledger, spec, run_id, lambda: leftovers.before_run(spec, ledger, plan))
    plan = replace(plan, expected_bytes=_expected_bytes(spec, ledger))
    recording = _Recording(ledger, record, observer, stop)
    try:
        with recording.beating():
            result = attempts.run_with_retries(plan, ledger, recording, stop)
    except Exception as exc:  # outside the export itself (cleaning up before a retry, say)
        result = runner.failed(plan, exc, record.started_at, utc_now())
    except BaseException as exc:
        error = scrub(str(exc)) or "interrupted"
        ledger.finish_run(run_id, "interrupted", rows=recording.rows, bytes_=0, error=error)
        _alert(spec, ledger, _not_run(spec, run_id, plan.destination, "interrupted", error))
        raise
    if result.status == "failed" and plan.window is None:
        ledger.forget_parts(run_id)  # the runner removed them
    ledger.finish_run(
        run_id,
        result.status,
        rows=result.rows,
        bytes_=result.bytes,
        files=[f for f in result.files if f[1] != "part"],  # parts were recorded as committed
        error=result.error,
        watermark=_watermark(spec, plan),
        total_rows=recording.expected,
        summary=_summary(result),
        # Attempts in this process add to those of the runs it resumes.
        attempt=record.attempt + result.attempts - 1,
    )
    if result.status == "succeeded":  # its manifest now lists its parts, not the previous run's
        _cleaning(ledger, spec, run_id, lambda: leftovers.after_success(spec, ledger, plan, result))
    if result.status == "succeeded" and plan.changes is not None:
        changes.remove_stale(plan.changes.after.parent, plan.changes.after.name)
    _alert(spec, ledger, result)
    if result.status == "succeeded" and spec.retention is not None:
        result = prune.after_run(spec, ledger, result, utc_now())  # never fails the run
    return result


def _cleaning(ledger: Ledger, spec: ExportSpec, run_id: str, clean: Callable[[], None]) -> None:
    """Remove what earlier runs left; a failure is audited and never fails the export."""
    try:
        clean()
    except Exception as exc:
        reason = str(exc) if isinstance(exc, ExportctlError) else f"{type(exc).__name__}: {exc}"
        with suppress(Exception):
            ledger.event("leftovers.failed", spec.name, run_id, error=scrub(reason))


def _expected_bytes(spec: ExportSpec, ledger: Ledger) -> int | None:
    """How much the export will likely store: its last successful run's size."""
    last = ledger.history(spec.name, status="succeeded", limit=1)
    return last[0]["bytes"] if last else None


def _summary(result: RunResult) -> dict[str, Any]:
    summary: dict[str, Any] = {"attempts": result.attempts}
    if result.warnings:
        summary["warnings"] = list(result.warnings)
    if result.invalid_rows:
        summary["invalid_rows"] = result.invalid_rows
    if result.redactions:  # rule names and counts, never a value
        summary["redactions"] = dict(result.redactions)
    return summary


def _alert(spec: ExportSpec, ledger: Ledger, result: RunResult) -> None:
    """Send the spec's alerts; one that fails is recorded, never raised."""
    outcome = alerts.Outcome(
        spec=result.spec,
        run_id=result.run_id,
        status=result.status,
        rows=result.rows,
        bytes=result.bytes,
        destination=scrub(result.uri),
        error=result.error,
        started_at=result.started_at,
        finished_at=result.finished_at,
        attempts=result.attempts,
    )
    for failure in alerts.send_alerts(spec.alerts, outcome):
        with suppress(Exception):  # the ledger may be what failed; the run's result stands
            ledger.event("alert.failed", spec.name, result.run_id, reason=failure)


def _plan(
    spec: ExportSpec, ledger: Ledger, options: Options, now: datetime, run_id: str
) -> tuple[ExportPlan, int, str]:
    """The run's plan, attempt number and trigger; a retry redoes the unfinished window.

    Only while the watermark stays where the unfinished run started (no `watermark reset`
    or `--full` since) and the window's positions are in the spec's query and cursor; runs
    that failed before they had a window (a stale watermark, say) are passed over.
    """
    if spec.incremental is None:
        return compile_plan(spec, now=now, run_id=run_id), 1, options.trigger
    if spec.incremental.mode == "changes":
        return _changes_plan(spec, ledger, options, now, run_id)
    after = None if options.full else _watermark_position(spec, ledger)
    previous = next(
        (r for r in ledger.history(spec.name) if r["window_to"] or r["status"] not in UNFINISHED),
        None,
    )
    if (
        not options.full
        and previous
        and previous["status"] in UNFINISHED
        and previous["window_to"]
        and incremental.decode(previous["window_from"]) == after
        # No watermark to check the fingerprint on: only the very same spec file retries.
        and (after is not None or previous["spec_sha256"] == spec.digest)
    ):
        window = Window(spec.incremental, after, incremental.decode(previous["window_to"]))
        plan = compile_plan(
            spec,
            now=now,
            run_id=run_id,
            window=window,
            destination=_unmasked(spec, previous["destination"], now, run_id),
            resume=attempts.kept_parts(ledger, previous, spec.destination.options),
        )
        return plan, previous["attempt"] + 1, "retry"
    base = compile_plan(spec, now=now, run_id=run_id)
    if spec.incremental.settle:  # rows this recent may not have all committed yet
        settled = _settled(spec.incremental, now)
        base = replace(base, request=replace(base.request, query=settled(base.request.query)))
    upto = _last_position(spec, base.request)
    window = Window(spec.incremental, after, upto)
    return compile_plan(spec, now=now, run_id=run_id, window=window), 1, options.trigger


def _unmasked(spec: ExportSpec, recorded: str, now: datetime, run_id: str) -> str:
    """The real URI behind a destination the ledger recorded with its secrets masked.

    The ledger keeps no secret, so a retry takes the URI the spec renders now; it must
    mask to the recorded one, or the retry would write somewhere else.
    """
    if "***" not in recorded:
        return recorded
    rendered = compile_plan(spec, now=now, run_id=run_id).destination
    if scrub(rendered) != recorded:
        raise RunError(
            f"the unfinished run of `{spec.name}` wrote to {recorded}, which the spec no "
            "longer renders; run `exportctl watermark reset` or `apply --full` to start over"
        )
    return rendered


def _watermark_position(spec: ExportSpec, ledger: Ledger) -> incremental.Position | None:
    mark = ledger.watermark(spec.name)
    if mark is None:
        return None
    if mark["query_sha256"] != incremental.fingerprint(spec):
        raise RunError(
            f"the query or cursor of `{spec.name}` changed since its watermark was written "
            f"(run {mark['run_id']}), so the watermark no longer says which rows were exported; "
            f"run `exportctl watermark reset {spec.name}` to start over, or `apply --full`"
        )
    return incremental.decode(mark["position"])


def _last_position(spec: ExportSpec, request: Request) -> incremental.Position | None:
    assert spec.incremental is not None
    source = registry.SOURCES[spec.source.type](spec.source.options, spec.base_dir)
    with closing(source):
        return source.last_position(request, spec.incremental.columns)


def _changes_plan(
    spec: ExportSpec, ledger: Ledger, options: Options, now: datetime, run_id: str
) -> tuple[ExportPlan, int, str]:
    """Diff against the snapshot the ledger names (none under `--full`), writing the next.

    Under the spec's lock: snapshots other than the current one are a killed run's. A run
    after an unfinished one from the same snapshot writes to its destination: its changes
    are a superset of those, and a file the dead run committed is replaced, not left over.
    """
    assert spec.incremental is not None
    folder = changes.folder(ledger.engine.url, spec.name)
    current = _watermark_position(spec, ledger)
    changes.remove_stale(folder, current[0] if current else None)
    before = folder / current[0] if current and not options.full else None
    after = folder / changes.snapshot_name(run_id)
    plan = ChangePlan(spec.incremental.keys, before, after)
    previous = next(  # passing over runs that failed before they had a plan
        (r for r in ledger.history(spec.name) if r["window_from"] or r["status"] not in UNFINISHED),
        None,
    )
    if (
        previous is not None
        and previous["status"] in UNFINISHED
        and not options.full
        and previous["window_from"] == _based_on(plan)
    ):
        destination = _unmasked(spec, previous["destination"], now, run_id)
        retry = compile_plan(spec, now=now, run_id=run_id, destination=destination, changes=plan)
        return retry, previous["attempt"] + 1, "retry"
    return compile_plan(spec, now=now, run_id=run_id, changes=plan), 1, options.trigger


def _based_on(plan: ChangePlan) -> str:
    """A change run's base snapshot, as its run record's `window_from`."""
    return json.dumps([plan.before.name if plan.before else None])


def _settled(spec: incremental.m.Incremental, now: datetime) -> Callable[[Query], Query]:
    """The query narrowed to rows whose cursor is at most `now - settle`."""
    bound = timerange.bound_text(now - units.duration(spec.settle or "0s"))
    settled = Compare(spec.cursor, "le", bound)
    return lambda query: replace(
        query, where=And((query.where, settled)) if query.where else settled
    )


def _watermark(spec: ExportSpec, plan: ExportPlan) -> tuple[str, str] | None:
    if plan.changes is not None:  # the new snapshot becomes current with the run
        return incremental.fingerprint(spec), json.dumps([plan.changes.after.name])
    window = plan.window
    if window is None or window.upto is None:
        return None
    position = incremental.encode(window.upto)
    assert position is not None
    return incremental.fingerprint(spec), position


def _failed_to_plan(
    spec: ExportSpec, ledger: Ledger, options: Options, now: datetime, run_id: str, error: str
) -> RunResult:
    """A run that failed before exporting (source unreachable, watermark stale): recorded too."""
    record = RunRecord(
        id=run_id,
        spec=spec.name,
        spec_sha256=spec.digest,
        trigger=options.trigger,
        destination=compile_plan(spec, now=now, run_id=run_id).destination,
        started_at=utc_now(),
        git_commit=_git_commit(spec.base_dir),
        scheduled_at=options.scheduled_for,
    )
    ledger.start_run(record)
    ledger.finish_run(run_id, "failed", rows=0, bytes_=0, error=error)
    return _not_run(spec, run_id, record.destination, "failed", error)


def _not_run(spec: ExportSpec, run_id: str, destination: str, status: str, error: str) -> RunResult:
    """The result of a spec that exported nothing: skipped, or failed before it began."""
    now = utc_now().isoformat()
    return RunResult(spec.name, run_id, status, 0, 0, destination, None, now, now, 0.0, error)  # type: ignore[arg-type]


def _git_commit(folder: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None
