"""How many rows a plan would export, and its partitions, asked of its source before any
run (`plan --count`).

Counting queries the source (a `SELECT count(*)` on SQL; min/max/count of a partition
key), so it is asked for, never implied.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from typing import cast

from exportctl import registry
from exportctl.errors import scrub
from exportctl.plan.compiler import ExportPlan
from exportctl.plan.partitions import partitions_of
from exportctl.sources.base import Partitionable


@dataclass(frozen=True)
class Estimate:
    """The rows the source counted, or None and why not."""

    rows: int | None
    reason: str | None = None
    #: A partitioned plan's key ranges, in export order, as `plan` shows them.
    partitions: list[str] | None = None


def estimate_rows(plan: ExportPlan) -> Estimate:
    """The source's count of the rows `plan` asks for; a failure is a reason, not an error."""
    spec = plan.spec
    partitions = None
    try:
        source = registry.SOURCES[spec.source.type](spec.source.options, spec.base_dir)
        with closing(source):
            rows = source.count(plan.request)
            cut = spec.engine.partitions
            if cut is not None:
                bounds = cast(Partitionable, source).key_bounds(plan.request, cut.by, cut.size)
                ranges = [p.range for p in partitions_of(plan, bounds)]
                partitions = [str(r) for r in ranges if r is not None]
    except Exception as exc:  # an estimate shows what it can; the run will say it properly
        return Estimate(None, scrub(f"unknown: {exc}"))
    if rows is None:
        reason = f"not counted: a `{spec.source.type}` source counts only by reading every row"
        return Estimate(None, reason, partitions)
    return Estimate(rows, None, partitions)
