"""`exportctl daemon`: run every spec that has a `schedule`, on time, until told to stop.

The loop reads time only through the injected `clock` and waits only through the
injected `sleep`, so tests step a fake clock through `step()` without sleeping. Per spec
it keeps the next tick (scheduler.next_run) and hands due ticks to a pool of
`max_parallel` workers that call jobs.run_spec (which retries, alerts and records).
A tick whose previous run of the same spec is still going, or still waiting for a
worker, is not started: it is recorded in the audit trail as `run.tick_skipped`.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from exportctl.clock import utc_now
from exportctl.daemon.telemetry import Metrics
from exportctl.errors import ExportctlError, Interrupted, SpecError, SpecProblem, UsageError, scrub
from exportctl.jobs import alerts
from exportctl.jobs import job as jobs
from exportctl.lang import schedule as scheduler
from exportctl.ledger.store import Ledger
from exportctl.model import ExportSpec
from exportctl.plan.compiler import new_run_id
from exportctl.run.runner import Observer
from exportctl.spec.load import load_specs, spec_files

log = logging.getLogger("exportctl.daemon")

Clock = Callable[[], datetime]
Loader = Callable[[Iterable[Path]], tuple[list[ExportSpec], list[SpecProblem]]]
RunSpec = Callable[..., Any]


class SpecBusy(ExportctlError):
    """A run was asked for while one of the same spec is going."""


def latest_tick(rule: scheduler.Rule, tz: str, since: datetime, now: datetime) -> datetime | None:
    """The latest tick in (since, now], or None if there is none."""
    after = max(since, scheduler.search_floor(rule, tz, now))
    found = None
    while (tick := scheduler.next_run(rule, tz, after)) <= now:
        found = after = tick
    return found


@dataclass
class Slot:
    """One scheduled spec: its current version and its next tick."""

    spec: ExportSpec
    rule: scheduler.Rule
    #: When to start next: the tick itself, or at once for a missed tick being caught up.
    due: datetime
    #: The tick the next start is for (recorded as the run's `scheduled_at`).
    tick: datetime
    watched_since: datetime
    future: Future[None] | None = None
    #: The last success the stale alert was sent for, so it is sent once per episode.
    stale_from: datetime | None = None

    @property
    def busy(self) -> bool:
        return self.future is not None and not self.future.done()


@dataclass
class Daemon:
    paths: tuple[Path, ...]
    ledger: Ledger
    clock: Clock = utc_now
    sleep: Callable[[float], object] | None = None
    max_parallel: int = 4
    run: RunSpec = jobs.run_spec
    load: Loader = load_specs
    metrics: Metrics = field(default_factory=Metrics)
    #: Seconds between looks at the spec files' mtimes.
    watch_every: float = 2.0
    #: Seconds between stale checks.
    stale_every: float = 10.0

    def __post_init__(self) -> None:
        self.slots: dict[str, Slot] = {}
        self.stop = jobs.Stop()
        self.health: dict[str, Any] = {"up": True, "specs": [], "running": []}
        self._pool = ThreadPoolExecutor(max_workers=self.max_parallel, thread_name_prefix="run")
        self._futures: set[Future[None]] = set()
        self._wake = threading.Event()
        self._submitting = threading.Lock()  # the loop's ticks and the API's runs
        self._signum = 0
        self._reload = False
        self._files: object = None
        self._next_watch = self._next_stale = datetime.min.replace(tzinfo=UTC)
        self.metrics.running.set_function(lambda: len(self.health["running"]))
        self.metrics.specs.set_function(lambda: len(self.health["specs"]))

    # --- asked from outside (signal handlers) ------------------------------------

    def request_stop(self, signum: int) -> None:
        """Stop scheduling; a second request aborts running exports without grace."""
        if self._signum:
            self.stop.request(signum)
        self._signum = signum
        self._wake.set()

    def request_reload(self) -> None:
        self._reload = True
        self._wake.set()

    def request_run(self, name: str) -> str:
        """Start a run of spec `name` now, outside its schedule; its run id.

        KeyError if the daemon has no such spec; SpecBusy while a run of it is going."""
        with self._submitting:
            slot = self.slots[name]
            if slot.busy or self.ledger.history(name, status="running", limit=1):
                raise SpecBusy(f"`{name}` is being exported; try again when the run ends")
            run_id = new_run_id(self.clock())
            slot.future = self._pool.submit(self._work, slot.spec, None, run_id)
            self._futures.add(slot.future)
        return run_id

    def board(self) -> list[dict[str, Any]]:
        """What the status page and API show of each scheduled spec, read from any thread."""
        now = self.clock()
        return [
            {
                "name": slot.spec.name,
                "description": slot.spec.description,
                "schedule": _every(slot.spec),
                "timezone": _tz(slot.spec),
                "next_runs": scheduler.next_runs(slot.rule, _tz(slot.spec), now, 3),
                "running": slot.busy,
            }
            for slot in sorted(list(self.slots.values()), key=lambda s: s.spec.name)
        ]

    # --- the loop ----------------------------------------------------------------

    def start(self) -> None:
        """Load the specs (SpecError if any is invalid) and decide each one's first tick."""
        specs, problems = self.load(self.paths)
        if problems:
            raise SpecError(problems)
        scheduled = {s.name: s for s in specs if s.schedule is not None}
        if not scheduled:
            raise UsageError("no spec under the paths given has a `schedule`: nothing to run")
        jobs.recover(specs, self.ledger)
        self._files = self._signature()
        self._apply(scheduled, self.clock())
        _log("daemon.started", specs=sorted(scheduled), pid=os.getpid())

    def serve(self, grace: float) -> int:
        """Run until a stop request; then wind down within `grace` seconds. The signal number."""
        self.start()
        sleep = self.sleep or self._wake.wait
        while not self._signum:
            try:
                delay = self.step()
            except Exception as exc:  # the ledger unreachable, say: try again shortly
                _log(
                    "daemon.step_failed", logging.ERROR, error=scrub(f"{type(exc).__name__}: {exc}")
                )
                delay = self.watch_every
            sleep(delay)
            self._wake.clear()
        self.shutdown(grace)
        return self._signum

    def step(self) -> float:
        """Reload if asked, start due ticks, check staleness; seconds until there is more to do."""
        now = self.clock()
        if self._reload or (now >= self._next_watch and self._signature() != self._files):
            self._reload = False
            self.reload(now)
        if now >= self._next_watch:
            self._next_watch = now + timedelta(seconds=self.watch_every)
        self._futures = {f for f in self._futures if not f.done()}
        for slot in self.slots.values():
            if slot.due <= now:
                self._tick(slot, now)
        if now >= self._next_stale:
            self._next_stale = now + timedelta(seconds=self.stale_every)
            for slot in self.slots.values():
                self._check_stale(slot, now)
        self._publish()
        soonest = min([s.due for s in self.slots.values()] + [self._next_watch])
        return max(0.01, (soonest - now).total_seconds())

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait for the runs started so far to end; whether they all did within `timeout`."""
        return not wait(set(self._futures), timeout=timeout).not_done

    def shutdown(self, grace: float) -> None:
        """Start nothing more; let running exports finish within `grace`, then interrupt them."""
        for future in self._futures:
            future.cancel()  # still waiting for a worker: never started
        running = {f for f in self._futures if not f.done()}
        _log("daemon.stopping", signal=self._signum, grace=grace)
        _, late = wait(running, timeout=grace)
        if late:
            _log("daemon.aborting", logging.WARNING, running=len(late))
            self.stop.request(self._signum or signal.SIGTERM)
            wait(late)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._publish()
        _log("daemon.stopped", signal=self._signum)

    # --- ticks -------------------------------------------------------------------

    def _tick(self, slot: Slot, now: datetime) -> None:
        name, tick = slot.spec.name, slot.tick
        with self._submitting:
            if slot.busy:
                self._skipped(name, tick, "the previous run is still going or waiting for a worker")
            else:
                slot.future = self._pool.submit(self._work, slot.spec, tick)
                self._futures.add(slot.future)
        slot.due = slot.tick = scheduler.next_run(slot.rule, _tz(slot.spec), now)

    def _skipped(self, name: str, tick: datetime, reason: str) -> None:
        self.metrics.skipped.labels(name).inc()
        fields = {"scheduled_for": tick.isoformat(), "reason": reason}
        _log("run.tick_skipped", logging.WARNING, spec=name, **fields)
        try:
            self.ledger.event("run.tick_skipped", name, None, **fields)
        except Exception as exc:  # the ledger may be down; the log has it
            _log("ledger.unreachable", logging.ERROR, error=scrub(str(exc)))

    def _work(self, spec: ExportSpec, tick: datetime | None, run_id: str | None = None) -> None:
        """One run, for a tick or asked for through the API, in a worker thread; never raises."""
        trigger = "schedule" if tick else "api"
        options = jobs.Options(trigger=trigger, scheduled_for=tick, run_id=run_id)
        fields: dict[str, Any] = {"spec": spec.name, "trigger": trigger}
        fields |= {"scheduled_for": tick.isoformat()} if tick else {"run_id": run_id}
        _log("run.starting", **fields)
        try:
            result = self.run(spec, self.ledger, options, self.clock(), Observer(), self.stop)
        except Interrupted:
            self.metrics.runs.labels(spec.name, "interrupted").inc()
            _log("run.interrupted", logging.WARNING, **fields)
            return
        except BaseException as exc:  # a bug or the ledger down: logged, the daemon goes on
            self.metrics.runs.labels(spec.name, "failed").inc()
            fields["error"] = f"{type(exc).__name__}: {exc}"
            _log("run.crashed", logging.ERROR, **fields)
            return
        if result.status == "skipped" and tick:  # another process holds the spec's lock
            self._skipped(spec.name, tick, result.error or "another run holds the spec")
            return
        late = self._lateness(result.run_id)
        status = result.status
        self.metrics.finished(spec.name, status, result.seconds, result.rows, result.bytes, late)
        fields |= {"run_id": result.run_id, "status": result.status, "rows": result.rows}
        fields |= {"bytes": result.bytes, "seconds": result.seconds, "lateness": late}
        fields |= {"error": result.error} if result.error else {}
        _log("run.finished", logging.INFO if status == "succeeded" else logging.ERROR, **fields)

    def _lateness(self, run_id: str) -> float | None:
        with suppress(Exception):
            run = self.ledger.run(run_id)
            if run and run.get("scheduled_at"):
                return float((run["started_at"] - run["scheduled_at"]).total_seconds())
        return None

    # --- stale exports -----------------------------------------------------------

    def _check_stale(self, slot: Slot, now: datetime) -> None:
        """Alert once when a spec has had no successful run for twice its interval."""
        name, limit = slot.spec.name, 2 * scheduler.period(slot.rule, _tz(slot.spec), now)
        try:
            last = self.ledger.history(name, status="succeeded", limit=1)
        except Exception:
            return
        since = slot.watched_since
        if last:
            since = max(since, last[0]["finished_at"] or last[0]["started_at"])
        stale = now - since > limit
        self.metrics.stale.labels(name).set(int(stale))
        if not stale or slot.stale_from == since:
            return
        slot.stale_from = since
        error = f"no successful run since {since.isoformat()} (twice its interval is {limit})"
        _log("spec.stale", logging.WARNING, spec=name, error=error)
        outcome = alerts.Outcome(
            spec=name,
            run_id="",
            status="stale",
            rows=0,
            bytes=0,
            destination="",
            error=error,
            started_at=since.isoformat(),
            finished_at=now.isoformat(),
        )
        with suppress(Exception):
            self.ledger.event("spec.stale", name, None, since=since.isoformat())
            for failure in alerts.send_alerts(slot.spec.alerts, outcome):
                self.ledger.event("alert.failed", name, None, reason=failure)

    # --- specs -------------------------------------------------------------------

    def reload(self, now: datetime) -> None:
        """Load the specs again; an invalid file keeps its previous version running."""
        files = self._signature()
        try:
            specs, problems = self.load(self.paths)
        except SpecError as exc:  # a named path is gone: keep everything
            specs, problems = [], exc.problems
            keep_all = True
        except Exception as exc:  # not the specs' fault: keep everything, try again soon
            _log("specs.reload_failed", logging.ERROR, error=scrub(f"{type(exc).__name__}: {exc}"))
            self.metrics.reloads.labels("failed").inc()
            self._files = None  # so the next look at the files reloads
            return
        else:
            keep_all = False
        self._files = files
        for problem in problems:
            where = {"file": problem.file, "line": problem.line, "path": problem.path}
            _log("spec.invalid", logging.ERROR, **where, problem=problem.message)
        self.metrics.reloads.labels("invalid" if problems else "ok").inc()
        bad = {Path(p.file).resolve() for p in problems}
        new = {s.name: s for s in specs if s.schedule is not None}
        for slot in self.slots.values():
            if keep_all or slot.spec.path in bad:
                new.setdefault(slot.spec.name, slot.spec)
        self._apply(new, now)
        _log("specs.reloaded", specs=sorted(new), invalid=len(problems))

    def _apply(self, specs: dict[str, ExportSpec], now: datetime) -> None:
        for name in [n for n in self.slots if n not in specs]:
            del self.slots[name]  # a run still going finishes; shutdown waits for it
            _log("spec.removed", spec=name)
        for name, spec in specs.items():
            slot = self.slots.get(name)
            if slot is None:
                self.slots[name] = slot = self._slot(spec, now)
                _log(
                    "spec.scheduled",
                    spec=name,
                    due=slot.due.isoformat(),
                    tick=slot.tick.isoformat(),
                )
            elif slot.spec.digest != spec.digest:
                if slot.spec.schedule != spec.schedule:
                    slot.rule = scheduler.parse(_every(spec))
                    slot.due = slot.tick = scheduler.next_run(slot.rule, _tz(spec), now)
                slot.spec = spec
                _log("spec.updated", spec=name, sha256=spec.digest)

    def _slot(self, spec: ExportSpec, now: datetime) -> Slot:
        """A new spec's first tick: at once for a tick missed since the ledger's last (catch_up
        `latest`), else its next tick."""
        rule = scheduler.parse(_every(spec))
        tick = scheduler.next_run(rule, _tz(spec), now)
        slot = Slot(spec, rule, due=tick, tick=tick, watched_since=now)
        assert spec.schedule is not None
        if spec.schedule.catch_up == "latest":
            try:
                last = self.ledger.last_scheduled(spec.name)
            except Exception as exc:  # cannot tell what was missed: wait for the next tick
                _log("ledger.unreachable", logging.ERROR, spec=spec.name, error=scrub(str(exc)))
                return slot
            missed = latest_tick(rule, _tz(spec), last, now) if last else None
            if missed is not None:
                slot.due, slot.tick = now, missed
        return slot

    def _signature(self) -> object:
        """What the spec files look like now: names, mtimes and sizes."""
        try:
            files = spec_files(self.paths)
            return [(str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files]
        except (ExportctlError, OSError) as exc:
            return str(exc)

    def _publish(self) -> None:
        """A snapshot for `/healthz`, read from another thread."""
        self.health = {
            "up": not self._signum,
            "specs": sorted(self.slots),
            "running": sorted(s.spec.name for s in self.slots.values() if s.busy),
        }


def _log(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """One structured log record: `event` and its fields (JSON in daemon mode)."""
    log.log(level, event, extra={"fields": fields})


def _every(spec: ExportSpec) -> str:
    assert spec.schedule is not None
    return spec.schedule.every


def _tz(spec: ExportSpec) -> str:
    assert spec.schedule is not None
    return spec.schedule.timezone
