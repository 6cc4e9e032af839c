"""The manifest beside an export: what its run wrote, written last."""

from __future__ import annotations

import json
from typing import Any

from exportctl.destinations.base import WrittenFile
from exportctl.destinations.uris import MANIFEST, sibling_uri
from exportctl.plan import incremental
from exportctl.plan.compiler import ExportPlan, Part
from exportctl.run.result import RunResult


def write_manifest(
    plan: ExportPlan, result: RunResult, parts: list[Part], columns: list[str], split: bool
) -> WrittenFile:
    """Written last: a reader who sees the manifest sees every file it lists."""
    manifest = _described(plan, result, columns)
    if split:
        manifest["parts"] = [_part(p) for p in parts]
    if plan.window is not None:
        manifest["window"] = {
            "cursor": list(plan.window.incremental.columns),
            "after": plan.window.after and incremental.tagged(plan.window.after),
            "upto": plan.window.upto and incremental.tagged(plan.window.upto),
        }
    if plan.time_range is not None:
        manifest["time_range"] = plan.time_range.to_json()
    uri = sibling_uri(plan.destination, MANIFEST)
    with plan.destination_for(uri).open(uri) as sink:
        sink.stream.write(json.dumps(manifest, indent=2).encode() + b"\n")
    assert sink.written is not None
    return sink.written


def _described(plan: ExportPlan, result: RunResult, columns: list[str]) -> dict[str, Any]:
    """What every manifest holds: the run, its totals, its format and its fields."""
    return {
        "spec": plan.spec.name,
        "spec_sha256": plan.spec.digest,
        "run_id": result.run_id,
        "uri": result.uri,
        "rows": result.rows,
        "bytes": result.bytes,
        "sha256": result.sha256,
        "format": plan.spec.format.type,
        "compression": plan.compression,
        "fields": columns,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
    }


def _part(part: Part) -> dict[str, Any]:
    """A part as the manifest lists it, with its partition's key range if partitioned."""
    file = part.file
    listed = {"uri": file.uri, "rows": part.rows, "bytes": file.bytes, "sha256": file.sha256}
    return listed if part.key_range is None else {**listed, "key_range": part.key_range}
