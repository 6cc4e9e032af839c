"""How many rows a plan would export, asked of its source before any run (`plan --count`).

Counting queries the source (a `SELECT count(*)` on SQL), so it is asked for, never implied.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass

from exportctl import registry
from exportctl.errors import scrub
from exportctl.plan.compiler import ExportPlan


@dataclass(frozen=True)
class Estimate:
    """The rows the source counted, or None and why not."""

    rows: int | None
    reason: str | None = None


def estimate_rows(plan: ExportPlan) -> Estimate:
    """The source's count of the rows `plan` asks for; a failure is a reason, not an error."""
    spec = plan.spec
    try:
        source = registry.SOURCES[spec.source.type](spec.source.options, spec.base_dir)
        with closing(source):
            rows = source.count(plan.request)
    except Exception as exc:  # an estimate shows what it can; the run will say it properly
        return Estimate(None, scrub(f"unknown: {exc}"))
    if rows is None:
        reason = f"not counted: a `{spec.source.type}` source counts only by reading every row"
        return Estimate(None, reason)
    return Estimate(rows)
