"""What earlier runs of a spec left at its destinations, removed by its later runs.

A split export's parts carry their run's tag (`uris.part_uri`), so a run never
replaces the parts the current manifest lists; its own manifest, written last,
switches readers over to its parts in one step. Then:

- after a run succeeds, the spec's other parts at its destination go: the previous
  run's (no manifest lists them any more) and any a dead run left (`after_success`);
- when a run starts, under the spec's lock, what the spec's unfinished runs left goes:
  their committed parts (unless this run resumes from them), the named temp files of
  a local destination, the incomplete multipart uploads of S3 (`before_run`).

Parts are found in the ledger and, where the destination can list, by name with the
tag of one of the spec's recorded runs (a part committed just before its run was killed
may not be recorded yet); never another spec's. Each deletion is marked in the ledger,
so that `verify` and retention agree with what is stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

from exportctl import registry
from exportctl.destinations.uris import MANIFEST, parts_tag, sibling_uri, tag_of_part
from exportctl.errors import ExportctlError, RunError
from exportctl.ledger.store import Ledger
from exportctl.model import ExportSpec
from exportctl.plan.compiler import ExportPlan
from exportctl.run.result import RunResult

#: How many of a spec's latest runs a run looks back at for what they left.
RECENT = 20
UNFINISHED = ("failed", "interrupted")


def before_run(spec: ExportSpec, ledger: Ledger, plan: ExportPlan) -> None:
    """Remove what the spec's recent unfinished runs left; never fails the run."""
    destinations = {plan.destination}
    for run in map(ledger.as_seen, ledger.history(spec.name, limit=RECENT)):
        # as_seen: a daemon worker that died is `running` in the ledger until a restart.
        if run["status"] not in UNFINISHED or "***" in run["destination"]:
            continue  # a masked URI is not the real one
        destinations.add(run["destination"])
        _remove_parts(spec, ledger, run, plan.parts_tag if plan.resume else None)
    for uri in destinations:  # temp files, incomplete uploads: of dead or failed runs alike
        with suppress(ExportctlError):
            _destination(spec, uri).remove_leftovers(uri)


def abandoned(spec: ExportSpec, ledger: Ledger, run: dict[str, Any]) -> None:
    """Remove what a run abandoned by a dead daemon left: its committed parts (those no
    manifest lists), its temp files and incomplete uploads."""
    if "***" in run["destination"]:
        return  # a masked URI is not the real one
    _remove_parts(spec, ledger, run, None)
    with suppress(ExportctlError):
        _destination(spec, run["destination"]).remove_leftovers(run["destination"])


def _remove_parts(
    spec: ExportSpec, ledger: Ledger, run: dict[str, Any], resumed: str | None
) -> None:
    """Delete the parts an unfinished `run` committed, unless they carry the tag `resumed`
    (the parts a retry goes on after); never fails."""
    recorded = ledger.parts(run["id"])
    tag = _tag(run, recorded)
    if resumed is not None and tag == resumed:
        return  # this run resumes after them
    with suppress(ExportctlError):
        found = _stored(spec, run["destination"], tag)
        found |= {p["uri"] for p in recorded if not p["deleted_at"]}
        # Killed after its manifest went in, before the ledger heard: its parts are
        # the export now, until a later run's manifest replaces them.
        found -= _listed(spec, run["destination"])
        _delete(spec, ledger, run["destination"], found, recorded, "parts.removed")


def after_success(spec: ExportSpec, ledger: Ledger, plan: ExportPlan, result: RunResult) -> None:
    """Once the run's manifest is in place: remove every other part of its destination."""
    ours = {uri for uri, role, *_ in result.files if role == "part"}
    earlier = [
        run
        for run in ledger.history(spec.name, limit=RECENT)
        if run["id"] != result.run_id and run["destination"] == plan.destination
    ]
    recorded = [part for run in earlier for part in ledger.parts(run["id"])]
    # Only parts this spec's runs wrote: named with their tags, or in the ledger.
    tags = {_tag(run, ledger.parts(run["id"])) for run in earlier}
    with suppress(ExportctlError):
        listed = _destination(spec, plan.destination).stored_parts(plan.destination)
        found = {part for part in listed if tag_of_part(plan.destination, part) in tags}
        found |= {p["uri"] for p in recorded if not p["deleted_at"]}
        _delete(spec, ledger, plan.destination, found - ours, recorded, "parts.replaced")


def _tag(run: dict[str, Any], recorded: list[dict[str, Any]]) -> str | None:
    """The tag of the run's part names: its first recorded part's, else its own id's."""
    if recorded:
        return tag_of_part(run["destination"], recorded[0]["uri"])
    return parts_tag(run["id"])


def _listed(spec: ExportSpec, uri: str) -> set[str]:
    """The parts the manifest at `uri` lists (none without a manifest); raises if unsure."""
    manifest = sibling_uri(uri, MANIFEST)
    try:
        with _destination(spec, manifest).read(manifest) as stream:
            document = json.loads(stream.read())
    except FileNotFoundError:
        return set()
    except RunError as exc:
        if "NoSuchKey" in str(exc) or "404" in str(exc):
            return set()
        raise
    except (OSError, ValueError) as exc:  # unreadable: better keep every part
        raise RunError(f"cannot read {manifest}: {exc}") from exc
    return {part["uri"] for part in document.get("parts", [])}


def _stored(spec: ExportSpec, uri: str, tag: str | None) -> set[str]:
    """The committed parts of `uri` that carry `tag`, as the destination lists them."""
    listed = _destination(spec, uri).stored_parts(uri)
    return {part for part in listed if tag_of_part(uri, part) == tag}


def _delete(
    spec: ExportSpec,
    ledger: Ledger,
    uri: str,
    found: Iterable[str],
    recorded: list[dict[str, Any]],
    event: str,
) -> None:
    """Delete the parts `found`, and those recorded (not yet deleted) with their tag."""
    destination = _destination(spec, uri)
    gone: list[tuple[str, str, dict[str, Any]]] = []
    for part in sorted(found):
        try:
            destination.delete(part)
        except (ExportctlError, OSError):  # left for the next run; the others go now
            continue
        gone += [
            (r["run_id"], part, {"role": "part"})
            for r in recorded
            if r["uri"] == part and not r["deleted_at"]
        ]
    if gone:
        ledger.files_deleted(spec.name, gone, event=event)


def _destination(spec: ExportSpec, uri: str) -> Any:
    """The destination of `uri`, with the spec's options when they are for its kind."""
    kind = registry.destination_class(uri)
    same = kind is not None and kind is registry.destination_class(spec.destination.uri)
    return registry.destination_for(uri, spec.destination.options if same else None)
