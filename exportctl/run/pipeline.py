"""One partition through the pipeline: source → transforms → encoder → compressor → sink.

The encoder, the compressor and the sink are the run's `FileSet`'s (run/parts.py); this
module reads the partition's rows and puts them through the stages into it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from concurrent.futures import Future
from contextlib import closing
from dataclasses import dataclass
from functools import partial

import pandas as pd

from exportctl import registry
from exportctl.plan.compiler import ExportPlan
from exportctl.plan.partitions import Partition
from exportctl.run.changes import OP, Differ
from exportctl.run.parts import FileSet
from exportctl.run.rejected import Rejected
from exportctl.run.result import Observer
from exportctl.sources.base import Request, Source
from exportctl.transforms.credentials import CredentialsStage
from exportctl.transforms.fields import select_fields
from exportctl.transforms.filter import apply_filter
from exportctl.transforms.redact.columns import Redactor
from exportctl.transforms.reshape import WideRows
from exportctl.transforms.secrets import SecretValues


@dataclass
class Stages:
    """What the partitions of one run share: its files, its stages, its observer."""

    observer: Observer
    files: FileSet
    rejected: Rejected
    credentials: CredentialsStage
    #: The secret columns of the chunk at hand, scrubbed from a failure's text.
    secrets: SecretValues
    redactor: Redactor | None = None
    begun: bool = False

    def begin(self) -> None:
        """The attempt begins, as its first source opens: the observer counts from zero."""
        if not self.begun:
            self.begun = True
            self.observer.restart()


def export_partition(
    plan: ExportPlan, partition: Partition, stages: Stages, total: Callable[[int | None], None]
) -> tuple[str, ...]:
    """Stream the partition's rows through the stages into the run's files, leaving the
    last file open for the engine to commit; `total` hears its row count. Returns what
    the source passed over (its warnings)."""
    spec = plan.spec
    source: Source = registry.SOURCES[spec.source.type](spec.source.options, spec.base_dir)
    with closing(source):
        stages.begin()
        count = partial(_count_aside, source, partition.request)
        counting = _Counting(count, stages.observer, total)
        counting.ask_if_wanted()
        if partition.replay is not None:  # the kept parts' invalid rows, quarantined again
            _replay(plan, source, partition.replay, stages)
        _write(plan, source, partition.request, stages, counting)
        return tuple(source.report())


def _replay(plan: ExportPlan, source: Source, request: Request, stages: Stages) -> None:
    """Rows a retry keeps, read again only to find their invalid rows; none is written."""
    with closing(_staged(plan, source, request, stages)) as replayed:
        for _, selected in replayed:
            stages.rejected.valid(selected)
            stages.observer.advance(0)  # honours a stop request; the rows are not new


def _write(
    plan: ExportPlan, source: Source, request: Request, stages: Stages, counting: _Counting
) -> None:
    """The requested rows, valid ones written with their positions (incremental exports)."""
    positions = list(plan.window.incremental.columns) if plan.window else None
    wide = WideRows(plan.spec.reshape) if plan.spec.reshape else None  # incremental: refused
    rejected = stages.rejected
    valid = rejected.valid_changes if plan.changes is not None else rejected.valid
    with closing(_staged(plan, source, request, stages)) as staged:
        for raw, selected in staged:
            rows = valid(wide.feed(selected) if wide else selected)
            stages.files.write(rows, raw.loc[rows.index, positions] if positions else None)
            stages.observer.advance(len(raw))
            counting.read(len(raw))
    counting.finish()
    last = wide.finish() if wide else None
    if last is not None:
        stages.files.write(rejected.valid(last), None)


def _staged(
    plan: ExportPlan, source: Source, request: Request, stages: Stages
) -> Generator[tuple[pd.DataFrame, pd.DataFrame], None, None]:
    """Each chunk as read (for the incremental positions) and through the stages."""
    # closing(): a failure past the source must not leave its cursor open (and its
    # database locked) until the generator happens to be collected.
    filtered_at_source = registry.SOURCES.entry(plan.spec.source.type).pushes_filters
    with closing(source.chunks(request)) as read:
        # Change mode: the rows become the changes found against the last snapshot.
        rows = Differ(plan.changes).changes(read) if plan.changes else read
        for raw in rows:
            if not filtered_at_source:
                raw = apply_filter(raw, request.query.where)
            ops = raw.pop(OP) if plan.changes else None
            selected = _transformed(plan, raw, stages)
            if ops is not None:
                selected.insert(0, OP, ops.loc[selected.index])
            yield raw, selected


def _transformed(plan: ExportPlan, raw: pd.DataFrame, stages: Stages) -> pd.DataFrame:
    """A chunk's rows as exported: credentials, fields, redaction."""
    hold = stages.secrets.hold  # a failure from here on may quote the secret columns' values
    hold(raw)
    # Before fields, so templates see credentials as the mode leaves them.
    secured = stages.credentials.apply(raw)
    hold(raw, secured)
    selected = select_fields(secured, plan.spec.fields)
    hold(raw, secured, selected)
    if stages.redactor is not None:  # before anything is encoded
        selected = stages.redactor.apply(selected)
    return selected


class _Counting:
    """A partition's row count, told once: the source's, asked aside once the observer
    wants it (maybe only mid-run), or the rows read if they are all read first."""

    def __init__(
        self,
        ask: Callable[[], Future[int | None]],
        observer: Observer,
        total: Callable[[int | None], None],
    ):
        self.ask, self.observer, self.total = ask, observer, total
        self.asked: Future[int | None] | None = None
        self.told = False
        self.rows = 0

    def ask_if_wanted(self) -> None:
        if self.asked is None and not self.told and self.observer.wants_total:
            self.asked = self.ask()

    def read(self, rows: int) -> None:
        self.rows += rows
        self.ask_if_wanted()
        if self.asked is not None and not self.told and self.asked.done():
            self._tell(self.asked.result())

    def finish(self) -> None:
        if not self.told:  # every row is read: that is the count, free (a run's other
            self._tell(self.rows)  # partitions may still be going, and want the sum)

    def _tell(self, rows: int | None) -> None:
        self.told = True
        self.total(rows)


def _count_aside(source: Source, request: Request) -> Future[int | None]:
    """The source's row count, asked on a thread of its own: a COUNT over a filter scans
    the rows as the export does, and the export need not wait for it."""
    counted: Future[int | None] = Future()

    def count() -> None:
        try:
            counted.set_result(source.count(request))
        except Exception:  # the export meets the same failure and reports it
            counted.set_result(None)

    threading.Thread(target=count, name="count", daemon=True).start()
    return counted
