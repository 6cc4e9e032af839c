"""Engines: what runs a plan's partitions through the pipeline and commits their parts.

`LocalEngine` runs them one after another in this process; `DaskEngine` (dask_engine.py)
runs them side by side, as tasks on a Dask cluster. The runner writes the one manifest
over whatever parts an engine returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from exportctl.errors import ValidationError
from exportctl.plan.compiler import ExportPlan, Part
from exportctl.plan.partitions import Partition
from exportctl.run.parts import FileSet
from exportctl.run.pipeline import Stages, export_partition
from exportctl.run.rejected import Rejected
from exportctl.run.result import Observer


@dataclass(frozen=True)
class Exported:
    """What an engine committed: the export's parts in order, and the sources' warnings."""

    parts: list[Part]
    warnings: tuple[str, ...]


class Engine(Protocol):
    def export(self, plan: ExportPlan, partitions: Sequence[Partition], stages: Stages) -> Exported:
        """Every partition's rows through the stages, their parts committed in partition
        order, the quarantine committed; on failure nothing partial is left (see `discard`)."""
        ...


class LocalEngine:
    """The partitions one after another, in this process, into the run's one `FileSet`:
    each partition's last part is committed as it ends, so the next starts a new one."""

    def export(self, plan: ExportPlan, partitions: Sequence[Partition], stages: Stages) -> Exported:
        totals = Totals(stages.observer, len(partitions))
        warnings: list[str] = []
        try:
            for partition in partitions:
                key_range = partition.range
                if key_range is not None:
                    stages.files.begin_partition(partition.index, key_range.to_json())
                warnings += export_partition(plan, partition, stages, totals.of(partition.index))
                stages.files.close()
            parts = stages.files.close()  # no partition at all: still one (empty) file
            stages.rejected.commit()
            return Exported(parts, tuple(warnings))
        except BaseException as exc:
            # Only an incremental run's retry can resume after finished parts, and not
            # after invalid rows, nor after parts in key order (a resume goes on in cursor
            # order): the others would be parts of an export that never was.
            keyed = any(p.range is not None for p in partitions)
            committed = plan.window is None or isinstance(exc, ValidationError) or keyed
            discard(exc, stages.files, stages.rejected, committed)
            raise


class Totals:
    """The partitions' row counts: the observer hears their sum once each is known."""

    def __init__(self, observer: Observer, partitions: int):
        self.observer, self.partitions = observer, partitions
        self.counts: dict[int, int | None] = {}

    def of(self, index: int) -> Callable[[int | None], None]:
        """What hears the count of the partition `index`."""

        def heard(rows: int | None) -> None:
            self.counts[index] = rows
            if len(self.counts) == self.partitions:
                known = [n for n in self.counts.values() if n is not None]
                whole = len(known) == self.partitions
                self.observer.total(sum(known) if whole else None)

        return heard


def discard(error: BaseException, files: FileSet, rejected: Rejected, committed: bool) -> None:
    """Discard what the failed run wrote (with `committed`, its committed parts too); then
    raise the destination's account of it, if any.

    A destination answers a failed write with its own account of it ("the disk is
    full"), which is the better message; one failing step must not skip the next.
    """
    account: Exception | None = None
    steps = [lambda: files.abort(error), lambda: rejected.abort(error)]
    for step in [*steps, files.discard_committed] if committed else steps:
        try:
            step()
        except Exception as exc:
            account = account or exc
    if account is not None and account is not error:
        raise account
