"""What `plan` and `apply --dry-run` say about a plan: one JSON-ready dict per spec.

Pure: the source describes its read without I/O (SQL and bound values); the row count
is the caller's, counted only when asked (exportctl.run.estimate).
"""

from __future__ import annotations

import json
from contextlib import closing
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from exportctl import registry
from exportctl.errors import scrub
from exportctl.lang import schedule as scheduler
from exportctl.model import Incremental, Schedule
from exportctl.plan import inputs
from exportctl.plan.compiler import ExportPlan

if TYPE_CHECKING:
    from exportctl.run.estimate import Estimate

#: Why `estimated_rows` is null when nobody asked the source.
NOT_COUNTED = "not counted (plan --count asks the source)"
#: What a partitioned plan shows of its partitions when nobody asked the source.
CUT_AT_RUN = "computed at run time from the key's bounds (plan --count asks the source)"
#: Where a `dask` engine without an address runs.
LOCAL_CLUSTER = "none: a cluster on this machine, for the run"


def describe_plan(plan: ExportPlan, estimate: Estimate | None = None) -> dict[str, Any]:
    """The plan as `plan --json` prints it; `estimate` None: the rows were not counted."""
    spec = plan.spec
    description: dict[str, Any] = {
        "name": spec.name,
        "file": str(spec.path),
        "source": {"type": spec.source.type},
        "fields": [f.name for f in spec.fields] if spec.fields else "all",
        "format": spec.format.type,
        "compression": plan.compression,
        "destination": scrub(plan.destination),
        "env_needed": list(spec.env_names),
        "env_unset": list(spec.env_unset),  # rendered as empty here; apply refuses them
    }
    if "://" not in plan.destination and inputs.real(plan.destination) != plan.destination:
        # Where the file really lands, through symlinks: it may be outside the specs' folder.
        description["destination_resolved"] = inputs.real(plan.destination)
    if plan.time_range is not None:
        description["time_range"] = plan.time_range.to_json()
    if spec.incremental is not None:
        description["incremental"] = _incremental(spec.incremental)
    description["credentials"] = spec.credentials.mode
    mode = getattr(spec.destination.options, "mode", None)
    if mode is not None:  # a local export's permissions, 0600 where it may hold secrets
        description["file_mode"] = f"{mode:04o}"
    description |= _source(plan, description["source"], estimate)
    if spec.schedule:
        description["schedule"] = f"{spec.schedule.every} ({spec.schedule.timezone})"
        description |= _upcoming(spec.schedule, plan.now)
    if spec.engine.partitions is not None:
        description["engine"] = _engine(plan, estimate)
    if spec.retention:
        description["retention"] = {k: v for k, v in vars(spec.retention).items() if v}
    # Whatever a source says about itself may hold a URI with credentials.
    return cast(dict[str, Any], json.loads(scrub(json.dumps(description, default=str))))


def _source(plan: ExportPlan, shown: dict[str, Any], estimate: Estimate | None) -> dict[str, Any]:
    """Adds the source's own description to `shown`; returns the estimated rows and why."""
    spec = plan.spec
    try:
        source = registry.SOURCES[spec.source.type](spec.source.options, spec.base_dir)
        with closing(source):
            shown.update(source.describe(plan.request))
    except Exception as exc:  # a plan shows what it can; the run will say it properly
        return {"estimated_rows": None, "estimated_rows_note": f"unknown: {exc}"}
    if estimate is None:
        return {"estimated_rows": None, "estimated_rows_note": NOT_COUNTED}
    if estimate.rows is None:
        return {"estimated_rows": None, "estimated_rows_note": estimate.reason}
    return {"estimated_rows": estimate.rows}


def _engine(plan: ExportPlan, estimate: Estimate | None) -> dict[str, Any]:
    """The engine and its partitions: their key ranges where the source was asked."""
    engine = plan.spec.engine
    assert engine.partitions is not None
    cut = {k: v for k, v in vars(engine.partitions).items() if v is not None}
    shown = estimate.partitions if estimate is not None else None
    where = {} if engine.type != "dask" else {"address": engine.address or LOCAL_CLUSTER}
    return {"type": engine.type, **where, "partitions": cut, "ranges": shown or CUT_AT_RUN}


def _incremental(given: Incremental) -> dict[str, Any]:
    """The mode and its columns, as the spec states them."""
    if given.mode == "changes":
        return {"mode": "changes", "key": list(given.keys), "adds column": "_op"}
    shown: dict[str, Any] = {"mode": given.mode, "cursor": given.cursor}
    if given.key:
        shown["key"] = given.key
    if given.settle:
        shown["settle"] = given.settle
    return shown


def _upcoming(schedule: Schedule, now: datetime) -> dict[str, list[str]]:
    """The next three runs after `now` (the plan's clock reading), in UTC and local time."""
    runs = scheduler.next_runs(scheduler.parse(schedule.every), schedule.timezone, now, 3)
    local = scheduler.zone(schedule.timezone)
    return {
        "next_runs": [f"{run:%Y-%m-%dT%H:%M:%S}Z" for run in runs],
        "next_runs_local": [run.astimezone(local).isoformat() for run in runs],
    }
