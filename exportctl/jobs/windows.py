"""What an incremental run exports: the window past its watermark, or a retry's unfinished one.

Change mode's runs diff against the snapshot the ledger names instead. Each narrows the
run's one compiled plan (`compiler.narrowed`); nothing is compiled again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from datetime import datetime
from typing import Any

from exportctl import registry
from exportctl.errors import RunError, scrub
from exportctl.jobs.attempts import kept_parts, resumes_parts
from exportctl.jobs.options import Options
from exportctl.lang import timerange, units
from exportctl.ledger.store import Ledger
from exportctl.model import And, Compare, ExportSpec, Incremental, Query
from exportctl.plan import incremental
from exportctl.plan.changes import ChangePlan
from exportctl.plan.compiler import ExportPlan, narrowed
from exportctl.plan.incremental import Window
from exportctl.run import changes
from exportctl.sources.base import Request

UNFINISHED = ("failed", "interrupted")


def planned(base: ExportPlan, ledger: Ledger, options: Options) -> tuple[ExportPlan, int, str]:
    """The run's plan, attempt number and trigger; a retry redoes the unfinished window.

    Only while the watermark stays where the unfinished run started (no `watermark reset`
    or `--full` since) and the window's positions are in the spec's query and cursor; runs
    that failed before they had a window (a stale watermark, say) are passed over.
    """
    spec = base.spec
    if spec.incremental is None:
        return base, 1, options.trigger
    if spec.incremental.mode == "changes":
        return _changes_plan(base, ledger, options)
    after = None if options.full else _watermark_position(spec, ledger)
    previous = _previous(ledger, spec, "window_to")
    if (
        not options.full
        and previous
        and previous["status"] in UNFINISHED
        and previous["window_to"]
        and incremental.decode(previous["window_from"]) == after
        # No watermark to check the fingerprint on: only the very same spec file retries.
        and (after is not None or previous["spec_sha256"] == spec.digest)
    ):
        window = Window(spec.incremental, after, incremental.decode(previous["window_to"]))
        plan = narrowed(
            base,
            window=window,
            destination=_unmasked(base, previous["destination"]),
            resume=kept_parts(ledger, previous, spec.destination.options)
            if resumes_parts(spec)
            else (),
        )
        return plan, previous["attempt"] + 1, "retry"
    request = base.request
    if spec.incremental.settle:  # rows this recent may not have all committed yet
        request = replace(request, query=_settled(spec.incremental, base.now)(request.query))
    window = Window(spec.incremental, after, _last_position(spec, request))
    return narrowed(base, window=window), 1, options.trigger


def _previous(ledger: Ledger, spec: ExportSpec, planned_by: str) -> dict[str, Any] | None:
    """The spec's last run that had a plan (`planned_by` recorded) or did not fail."""
    return next(
        (r for r in ledger.history(spec.name) if r[planned_by] or r["status"] not in UNFINISHED),
        None,
    )


def _unmasked(base: ExportPlan, recorded: str) -> str:
    """The real URI behind a destination the ledger recorded with its secrets masked.

    The ledger keeps no secret, so a retry takes the URI the spec renders now; it must
    mask to the recorded one, or the retry would write somewhere else.
    """
    if "***" not in recorded:
        return recorded
    if scrub(base.destination) != recorded:
        raise RunError(
            f"the unfinished run of `{base.spec.name}` wrote to {recorded}, which the spec no "
            "longer renders; run `exportctl watermark reset` or `apply --full` to start over"
        )
    return base.destination


def _watermark_position(spec: ExportSpec, ledger: Ledger) -> incremental.Position | None:
    mark = ledger.watermark(spec.name)
    if mark is None:
        return None
    if mark["query_sha256"] != incremental.fingerprint(spec):
        raise RunError(
            f"the query or cursor of `{spec.name}` changed since its watermark was written "
            f"(run {mark['run_id']}), so the watermark no longer says which rows were exported; "
            f"run `exportctl watermark reset {spec.name}` to start over, or `apply --full`"
        )
    return incremental.decode(mark["position"])


def _last_position(spec: ExportSpec, request: Request) -> incremental.Position | None:
    assert spec.incremental is not None
    source = registry.SOURCES[spec.source.type](spec.source.options, spec.base_dir)
    with closing(source):
        return source.last_position(request, spec.incremental.columns)


def _changes_plan(
    base: ExportPlan, ledger: Ledger, options: Options
) -> tuple[ExportPlan, int, str]:
    """Diff against the snapshot the ledger names (none under `--full`), writing the next.

    Under the spec's lock: snapshots other than the current one are a killed run's. A run
    after an unfinished one from the same snapshot writes to its destination: its changes
    are a superset of those, and a file the dead run committed is replaced, not left over.
    """
    spec = base.spec
    assert spec.incremental is not None
    folder = changes.folder(ledger.engine.url, spec.name)
    current = _watermark_position(spec, ledger)
    changes.remove_stale(folder, current[0] if current else None)
    before = folder / current[0] if current and not options.full else None
    after = folder / changes.snapshot_name(base.run_id)
    plan = ChangePlan(spec.incremental.keys, before, after)
    previous = _previous(ledger, spec, "window_from")  # passing over runs that had no plan
    if (
        previous is not None
        and previous["status"] in UNFINISHED
        and not options.full
        and previous["window_from"] == based_on(plan)
    ):
        destination = _unmasked(base, previous["destination"])
        retry = narrowed(base, destination=destination, changes=plan)
        return retry, previous["attempt"] + 1, "retry"
    return narrowed(base, changes=plan), 1, options.trigger


def based_on(plan: ChangePlan) -> str:
    """A change run's base snapshot, as its run record's `window_from`."""
    return json.dumps([plan.before.name if plan.before else None])


def _settled(spec: Incremental, now: datetime) -> Callable[[Query], Query]:
    """The query narrowed to rows whose cursor is at most `now - settle`."""
    bound = timerange.bound_text(now - units.duration(spec.settle or "0s"))
    settled = Compare(spec.cursor, "le", bound)
    return lambda query: replace(
        query, where=And((query.where, settled)) if query.where else settled
    )


def watermark_of(plan: ExportPlan) -> tuple[str, str] | None:
    """The watermark a successful run of `plan` leaves: its fingerprint and position."""
    if plan.changes is not None:  # the new snapshot becomes current with the run
        return incremental.fingerprint(plan.spec), json.dumps([plan.changes.after.name])
    window = plan.window
    if window is None or window.upto is None:
        return None
    position = incremental.encode(window.upto)
    assert position is not None
    return incremental.fingerprint(plan.spec), position
