"""A run's heartbeat: its progress in the ledger every few seconds, which keeps its lock alive."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from exportctl.clock import Clock
from exportctl.jobs.stop import Stop
from exportctl.ledger.liveness import HEARTBEAT_EVERY
from exportctl.ledger.runs import RunRecord
from exportctl.ledger.store import Ledger
from exportctl.plan import incremental
from exportctl.plan.compiler import Part
from exportctl.run.result import Observer

#: How long a run goes before its row count is asked for `status`'s percentage and ETA.
#: A count scans what the export scans (a filter on an unindexed column reads the whole
#: table again), so a run that ends before anyone could look does not pay for one.
#: EXPORTCTL_COUNT_AFTER (seconds) changes it, for a dashboard that wants it at once.
COUNT_AFTER = 5 * HEARTBEAT_EVERY


def count_after() -> float:
    """EXPORTCTL_COUNT_AFTER's seconds; the default where it is unset or not a number."""
    try:
        return float(os.environ.get("EXPORTCTL_COUNT_AFTER", COUNT_AFTER))
    except ValueError:
        return COUNT_AFTER


class Heartbeat(Observer):
    """Reports progress to the ledger every few seconds, and honours a stop request."""

    def __init__(self, ledger: Ledger, run: RunRecord, inner: Observer, stop: Stop, clock: Clock):
        self.ledger, self.run, self.inner, self.stop, self.clock = ledger, run, inner, stop, clock
        self.began = clock.monotonic()
        self.count_after = count_after()
        self.rows = 0
        self.expected: int | None = None
        self.last_beat = -HEARTBEAT_EVERY  # the first chunk reports at once

    @property
    def wants_total(self) -> bool:  # type: ignore[override]
        """At once for a progress bar; for the ledger, once the run has gone on a while."""
        return self.inner.wants_total or self.clock.monotonic() - self.began >= self.count_after

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
        now = self.clock.monotonic()
        if now - self.last_beat < HEARTBEAT_EVERY:
            return
        self.last_beat = now
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
            while not self.clock.wait(done, HEARTBEAT_EVERY / 4):
                self._beat_if_due()

        thread = threading.Thread(target=beat, name=f"heartbeat-{self.run.id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def committed(self, part: Part) -> None:
        record_part(self.ledger, self.run.id, part)


def record_part(ledger: Ledger, run_id: str, part: Part) -> None:
    """A committed part of a split export, with where its last row was (for a resume)."""
    position = incremental.encode(part.last)
    ledger.record_part(
        run_id, part.file.uri, part.file.bytes, part.file.sha256, part.rows, position
    )
