"""A plan cut into partitions: the pieces of its rows an engine may export apart.

Pure, like the compiler. Today every plan is one partition; an engine that runs
partitions side by side (Dask, a later issue) needs a plan cut into several, and the
engines already take a list.
"""

from __future__ import annotations

from dataclasses import dataclass

from exportctl.plan.compiler import ExportPlan
from exportctl.sources.base import Request


@dataclass(frozen=True)
class Partition:
    """Rows of the export that one pass of the pipeline reads, transforms and writes."""

    #: Its place in the export: partitions are written, and their parts named, in this order.
    index: int
    #: The rows it reads.
    request: Request
    #: Rows read again only for their invalid rows (`ExportPlan.replay`): the first
    #: partition's, as a retry's kept parts come first.
    replay: Request | None = None


def partitions_of(plan: ExportPlan) -> list[Partition]:
    """The partitions of `plan`, in export order: today always the one whole plan."""
    return [Partition(0, plan.request, plan.replay)]
