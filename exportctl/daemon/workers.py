"""Runs in worker processes, so that a daemon's exports use every core.

Exports are CPU-bound Python (encoding, compression glue): threads in one process
share one core. The daemon keeps its threads for waiting and hands each run to a
long-lived worker process, which opens its own ledger connection. Workers ignore
SIGTERM and SIGINT (a service manager signals the whole group): the daemon decides
when running exports must stop, and tells them through a shared event.

A worker whose daemon dies (SIGKILL, a crash) would wait on its task queue forever:
it holds that queue's write end itself, so it never sees end-of-file. A watchdog
thread looks at the parent every second instead; once it is gone the worker stops
its run (as the daemon's SIGTERM would: files discarded, the run recorded as
interrupted) and exits. Not PR_SET_PDEATHSIG: that fires when the *thread* that
started the worker ends, and the daemon starts workers from its passing run threads.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from multiprocessing.synchronize import Event
from typing import Any

from exportctl.clock import SYSTEM, Clock
from exportctl.errors import RunError
from exportctl.jobs import job as jobs
from exportctl.jobs.options import Options
from exportctl.jobs.stop import Stop
from exportctl.ledger.store import Ledger
from exportctl.model import ExportSpec
from exportctl.run.result import Observer, RunResult

#: How often a waiting dispatcher looks for a stop request.
_POLL = 0.2
#: How often a worker looks whether its daemon is still there.
WATCH_EVERY = 1.0
#: How long an orphaned worker's run may take to wind down before the worker exits anyway.
ORPHAN_GRACE = 10.0

# One worker's state, set by `_start_worker` in each worker process.
_ledger: Ledger | None = None
_stop: Stop | None = None


class ProcessRuns:
    """A `Daemon.run` that runs each export in a pool of `workers` processes.

    A worker process reads the machine's clock: the daemon's is not shared with it
    (only its `now`, which the run's plan is compiled at)."""

    def __init__(self, state: str, workers: int):
        self.state, self.workers = state, workers
        self._context = multiprocessing.get_context("spawn")
        self._stopping = self._context.Event()
        self._signum = self._context.Value("i", 0)
        self._pool = self._new_pool()
        self._replacing = threading.Lock()

    def warm(self) -> None:
        """Start every worker now, so the first tick does not wait for imports."""
        wait([self._pool.submit(os.getpid) for _ in range(self.workers)])

    def __call__(
        self,
        spec: ExportSpec,
        ledger: Ledger,
        options: Options,
        now: datetime,
        observer: Observer,
        stop: Stop,
        clock: Clock = SYSTEM,
    ) -> RunResult:
        pool = self._pool
        try:
            future = pool.submit(_run, spec, options, now)
        except BrokenProcessPool:
            pool = self._replace(pool)
            future = pool.submit(_run, spec, options, now)
        while True:
            try:
                result: RunResult = future.result(timeout=_POLL)
                return result
            except FutureTimeout:
                if stop.signum and not self._stopping.is_set():
                    self._signum.value = stop.signum
                    self._stopping.set()
            except BrokenProcessPool:
                # A worker died (killed, or a crash in native code): its run stays
                # `running` until `jobs.recover` finds its process gone.
                self._replace(pool)
                raise RunError(f"the worker process running `{spec.name}` died") from None

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _replace(self, broken: ProcessPoolExecutor) -> ProcessPoolExecutor:
        """A new pool for a broken one: once, however many runs saw it break."""
        with self._replacing:
            if self._pool is broken:
                broken.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
            return self._pool

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=self._context,
            initializer=_start_worker,
            initargs=(self.state, self._stopping, self._signum, os.getpid()),
        )


class _SharedStop(Stop):
    """A worker's view of the daemon's stop request."""

    def __init__(self, event: Event, signum: Any):
        super().__init__(event)
        self._signum = signum

    def request(self, signum: int) -> None:
        self._signum.value = signum
        super().request(signum)

    def check(self) -> None:
        self.signum = self._signum.value
        super().check()

    def sleep(self, seconds: float, clock: Clock = SYSTEM) -> None:
        self.signum = self._signum.value
        super().sleep(seconds, clock)


def _start_worker(state: str, stopping: Event, signum: Any, daemon: int) -> None:
    global _ledger, _stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _ledger = Ledger(state)
    _stop = _SharedStop(stopping, signum)
    watchdog = _Watchdog(daemon, _stop)
    threading.Thread(target=watchdog.watch, name="watchdog", daemon=True).start()


class _Watchdog:
    """Ends the worker once its daemon is gone; a run under way is stopped first."""

    def __init__(self, daemon: int, stop: Stop, clock: Clock = SYSTEM):
        self.daemon, self.stop, self.clock = daemon, stop, clock

    def orphaned(self) -> bool:
        # Re-parented (to init or a subreaper) once the daemon died.
        return os.getppid() != self.daemon

    def watch(self) -> None:
        while not self.orphaned():
            self.clock.sleep(WATCH_EVERY)
        if _running.acquire(blocking=False):  # idle: nothing to wind down
            os._exit(1)  # public, documented: exit without running the pool's atexit joins
        self.stop.request(signal.SIGTERM)
        if _running.acquire(timeout=ORPHAN_GRACE):
            _running.release()
        os._exit(1)


#: Held while the worker runs an export.
_running = threading.Lock()


def _run(spec: ExportSpec, options: Options, now: datetime) -> RunResult:
    assert _ledger is not None and _stop is not None  # set by _start_worker
    with _running:
        return jobs.run_spec(spec, _ledger, options, now, Observer(), _stop)
