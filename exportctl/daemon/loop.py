"""`exportctl daemon`: run every spec that has a `schedule`, on time, until told to stop.

The loop reads time and waits only through the injected `clock`, so tests step a fake
clock through `step()`, or `serve()` a whole day `until` its end, without sleeping. Per
spec it keeps the next tick (slots.Slot) and hands due ticks to a pool of `max_parallel`
workers that call jobs.run_spec (which retries, alerts and records). A due tick is
first claimed in the ledger (claiming.py), so that of several daemons on one ledger one
runs it; a tick whose previous run of the same spec is still going, or still waiting for
a worker, is not started: it is recorded in the audit trail as `run.tick_skipped`.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from exportctl.clock import Clock
from exportctl.daemon import specs as spec_files
from exportctl.daemon.claiming import DEFAULT_LEASE, Claimer, daemon_id
from exportctl.daemon.slots import Slot, every, latest_tick, tz
from exportctl.daemon.stale import check_stale
from exportctl.daemon.telemetry import Metrics, log_event
from exportctl.daemon.work import RunSpec, Work
from exportctl.errors import ExportctlError, SpecError, UsageError, scrub
from exportctl.jobs import job as jobs
from exportctl.jobs.stop import Stop
from exportctl.lang import schedule as scheduler
from exportctl.ledger.claims import Claim
from exportctl.ledger.store import Ledger
from exportctl.plan.compiler import new_run_id
from exportctl.spec.load import load_specs


class SpecBusy(ExportctlError):
    """A run was asked for while one of the same spec is going."""


@dataclass
class Daemon:
    paths: tuple[Path, ...]
    ledger: Ledger
    max_parallel: int = 4
    run: RunSpec = jobs.run_spec
    load: spec_files.Loader = load_specs
    metrics: Metrics = field(default_factory=Metrics)
    #: Seconds between looks at the spec files' mtimes.
    watch_every: float = 2.0
    #: Seconds between stale checks.
    stale_every: float = 10.0
    #: How long a claim on a tick lasts unrenewed: another daemon on the ledger takes the
    #: tick over once it has passed.
    lease: timedelta = DEFAULT_LEASE
    #: This daemon as the holder of its claims (by default host, pid and a random part).
    holder: str = field(default_factory=daemon_id)

    @property
    def clock(self) -> Clock:
        """The ledger's: the daemon schedules by the clock the ledger records with."""
        return self.ledger.clock

    def __post_init__(self) -> None:
        self.slots: dict[str, Slot] = {}
        self.stop = Stop()
        self.health: dict[str, Any] = {"up": True, "specs": [], "running": []}
        self._work = Work(self.ledger, self.run, self.stop, self.clock, self.metrics)
        self._claims = Claimer(self.ledger, self.metrics, self.lease, self.holder)
        self._pool = ThreadPoolExecutor(max_workers=self.max_parallel, thread_name_prefix="run")
        self._futures: set[Future[Any]] = set()
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
            run_id = new_run_id(self.clock.now())
            slot.future = self._pool.submit(self._work, slot.spec, None, run_id)
            self._futures.add(slot.future)
        return run_id

    def board(self) -> list[dict[str, Any]]:
        """What the status page and API show of each scheduled spec, read from any thread."""
        now = self.clock.now()
        return [
            {
                "name": slot.spec.name,
                "description": slot.spec.description,
                "schedule": every(slot.spec),
                "timezone": tz(slot.spec),
                "next_runs": scheduler.next_runs(slot.rule, tz(slot.spec), now, 3),
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
        self._files = spec_files.signature(self.paths)
        spec_files.apply(self.slots, scheduled, self.clock.now(), self.ledger)
        log_event("daemon.started", specs=sorted(scheduled), pid=os.getpid())

    def serve(self, grace: float, until: datetime | None = None) -> int:
        """Run until a stop request, or the clock reads `until`; then wind down within
        `grace` seconds. The signal number (0 when `until` came)."""
        self.start()
        while not self._signum and (until is None or self.clock.now() < until):
            try:
                delay = self.step()
            except Exception as exc:  # the ledger unreachable, say: try again shortly
                error = scrub(f"{type(exc).__name__}: {exc}")
                log_event("daemon.step_failed", logging.ERROR, error=error)
                delay = self.watch_every
            if until is not None:
                delay = min(delay, max(0.0, (until - self.clock.now()).total_seconds()))
            self.clock.wait(self._wake, delay)
            self._wake.clear()
        self.shutdown(grace)
        return self._signum

    def step(self) -> float:
        """Reload if asked, start due ticks, check staleness; seconds until there is more to do."""
        now = self.clock.now()
        if self._reload or (
            now >= self._next_watch and spec_files.signature(self.paths) != self._files
        ):
            self._reload = False
            self.reload(now)
        if now >= self._next_watch:
            self._next_watch = now + timedelta(seconds=self.watch_every)
        self._futures = {f for f in self._futures if not f.done()}
        self._claims.renew(now)
        self._take_over_expired(now)
        for slot in self.slots.values():
            if slot.due <= now:
                self._tick(slot, now)
        if now >= self._next_stale:
            self._next_stale = now + timedelta(seconds=self.stale_every)
            for slot in self.slots.values():
                check_stale(slot, now, self.ledger, self.metrics, self.clock)
        self._publish()
        soonest = min(
            [s.due for s in self.slots.values()] + [self._next_watch, self._claims.wake_at()]
        )
        return max(0.01, (soonest - now).total_seconds())

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait for the runs started so far to end; whether they all did within `timeout`."""
        return not wait(set(self._futures), timeout=timeout).not_done

    def shutdown(self, grace: float) -> None:
        """Start nothing more; let running exports finish within `grace`, then interrupt them."""
        for future in self._futures:
            future.cancel()  # still waiting for a worker: never started
        running = {f for f in self._futures if not f.done()}
        log_event("daemon.stopping", signal=self._signum, grace=grace)
        _, late = wait(running, timeout=grace)
        if late:
            log_event("daemon.aborting", logging.WARNING, running=len(late))
            self.stop.request(self._signum or signal.SIGTERM)
            wait(late)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._claims.release_unstarted()
        self._publish()
        log_event("daemon.stopped", signal=self._signum)

    def _tick(self, slot: Slot, now: datetime) -> None:
        """Claim the slot's due tick (a ledger that cannot be reached leaves it due, for the
        next step), and start it if it is ours."""
        claim = self._claims.claim_due(slot.spec.name, slot.tick)
        if claim is not None:
            self._start(slot, claim)
        slot.next_tick(now)

    def _take_over_expired(self, now: datetime) -> None:
        """Run the ticks whose holder's lease has passed, once this daemon's run of the same
        spec is over (its lock would turn the run away); one a newer tick has superseded
        is settled as skipped instead, as a missed tick is (`catch_up` decides about that)."""
        for name, tick in self._claims.expired(self.slots):
            slot = self.slots.get(name)
            if slot is None or slot.busy:
                continue
            claim = self._claims.take_over(name, tick)
            if claim is None:
                continue
            if latest_tick(slot.rule, tz(slot.spec), tick, now) is not None:
                self._claims.supersede(self._work, slot.spec, claim)
            else:
                self._start(slot, claim)

    def _start(self, slot: Slot, claim: Claim) -> None:
        """The claimed tick handed to a worker, or skipped while the spec's run is going."""
        with self._submitting:
            if slot.busy:
                reason = "the previous run is still going or waiting for a worker"
                self._work.skipped(claim.spec, claim.tick, reason)
                self._claims.settle(claim, "skipped")
            else:
                slot.future = self._pool.submit(self._claims.run, self._work, slot.spec, claim)
                self._futures.add(slot.future)

    def reload(self, now: datetime) -> None:
        """Load the specs again; an invalid file keeps its previous version running."""
        files = spec_files.signature(self.paths)
        loaded = spec_files.reloaded(self.load, self.paths, self.slots, self.metrics)
        if loaded is None:
            self._files = None  # so the next look at the files reloads
            return
        self._files = files
        new, invalid = loaded
        spec_files.apply(self.slots, new, now, self.ledger)
        log_event("specs.reloaded", specs=sorted(new), invalid=invalid)

    def _publish(self) -> None:
        """A snapshot for `/healthz`, read from another thread."""
        self.health = {
            "up": not self._signum,
            "specs": sorted(self.slots),
            "running": sorted(s.spec.name for s in self.slots.values() if s.busy),
        }
