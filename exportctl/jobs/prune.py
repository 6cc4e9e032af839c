"""Apply a spec's retention: delete what the policy lets go, and record each deletion.

Which files is `retention.deletions`' choice, from the ledger alone; this module
deletes them through their destination, marks them deleted in the ledger and audits
each (`retention.deleted`, or `retention.failed` with the reason). A delete that fails
is reported and left for the next prune; it never fails the export that triggered it.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from exportctl import registry
from exportctl.errors import ExportctlError, scrub
from exportctl.jobs import retention
from exportctl.ledger.locks import LockHeld
from exportctl.ledger.store import Ledger
from exportctl.model import ExportSpec
from exportctl.plan.compiler import new_run_id
from exportctl.run.result import RunResult


@dataclass(frozen=True)
class Pruned:
    """A file retention deleted, would delete (dry run), or failed to delete."""

    spec: str
    run_id: str
    uri: str
    role: str
    reason: str
    deleted: bool
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def prune_spec(
    spec: ExportSpec,
    ledger: Ledger,
    now: datetime,
    *,
    keep: str | None = None,
    dry_run: bool = False,
) -> list[Pruned]:
    """Delete (or, dry, list) the files the spec's retention lets go; `keep`: a run to spare."""
    if spec.retention is None:
        return []
    runs = [
        retention.PastRun(
            r["id"],
            r["started_at"],
            tuple(retention.StoredFile(f["uri"], f["role"]) for f in r["files"]),
        )
        for r in ledger.stored_runs(spec.name)
    ]
    candidates = retention.deletions(spec.retention, runs, now, keep=keep)
    held = ledger.held_uris(spec.name, among={d.uri for d in candidates})
    pruned = [_delete(spec, ledger, d, dry_run) for d in candidates if d.uri not in held]
    deleted = [(p.run_id, p.uri, {"role": p.role, "reason": p.reason}) for p in pruned if p.deleted]
    if deleted:  # a file deleted but not marked is deleted again, harmlessly, next time
        ledger.files_deleted(spec.name, deleted)
    return pruned


def prune_specs(
    specs: list[ExportSpec], ledger: Ledger, now: datetime, *, dry_run: bool = False
) -> tuple[list[Pruned], list[str]]:
    """Every spec with a retention, each under its lock; and the specs a run held, skipped."""
    pruned: list[Pruned] = []
    skipped: list[str] = []
    for spec in specs:
        if spec.retention is None:
            continue
        if dry_run:  # reads only: no lock to take
            pruned += prune_spec(spec, ledger, now, dry_run=True)
            continue
        holder = f"prune-{new_run_id(now)}"
        try:
            ledger.acquire(spec.name, holder)
        except LockHeld as exc:
            skipped.append(f"{spec.name} skipped: {exc}")
            continue
        try:
            pruned += prune_spec(spec, ledger, now)
        finally:
            ledger.release(spec.name, holder)
    return pruned, skipped


def after_run(spec: ExportSpec, ledger: Ledger, result: RunResult, now: datetime) -> RunResult:
    """Retention after a succeeded run: what it could not delete becomes a warning."""
    try:
        pruned = prune_spec(spec, ledger, now, keep=result.run_id)
    except Exception as exc:  # the ledger unreachable, say: the export itself stands
        warnings: tuple[str, ...] = (f"retention not applied: {_reason(exc)}",)
    else:
        warnings = tuple(
            f"retention could not delete {p.uri}: {p.error}" for p in pruned if p.error
        )
    return replace(result, warnings=(*result.warnings, *warnings)) if warnings else result


def _delete(spec: ExportSpec, ledger: Ledger, chosen: retention.Deletion, dry: bool) -> Pruned:
    pruned = Pruned(spec.name, chosen.run_id, chosen.uri, chosen.role, chosen.reason, False)
    if dry:
        return pruned
    try:
        if scrub(chosen.uri) != chosen.uri or "***" in chosen.uri:
            # The ledger keeps URIs with their secrets masked: this is not the real one.
            raise ExportctlError("its URI is recorded with credentials masked; delete it by hand")
        _destination(spec, chosen.uri).delete(chosen.uri)
    except Exception as exc:  # a store that refuses or is down: the next prune tries again
        error = _reason(exc)
        with suppress(Exception):
            ledger.event("retention.failed", spec.name, chosen.run_id, uri=chosen.uri, error=error)
        return replace(pruned, error=error)
    return replace(pruned, deleted=True)


def _destination(spec: ExportSpec, uri: str) -> Any:
    """The destination of `uri`, with the spec's options when they are for its kind."""
    kind = registry.destination_class(uri)
    same = kind is not None and kind is registry.destination_class(spec.destination.uri)
    return registry.destination_for(uri, spec.destination.options if same else None)


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return scrub(f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror)
    text = str(exc) if isinstance(exc, ExportctlError) else f"{type(exc).__name__}: {exc}"
    return scrub(text)
