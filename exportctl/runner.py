"""Run a plan: source → transforms → encoder → compression → destination, then commit."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import closing
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal

from exportctl import incremental, registry
from exportctl.destinations.base import WrittenFile
from exportctl.errors import ExportctlError, scrub
from exportctl.parts import FileSet
from exportctl.plan import ExportPlan, Part, utc_now
from exportctl.sources.base import Source
from exportctl.transforms.fields import select_fields
from exportctl.transforms.filter import apply_filter

Status = Literal["succeeded", "failed", "skipped", "interrupted"]
#: (uri, role, bytes, sha256) of a file a run committed; role is data, part or manifest.
FileEntry = tuple[str, str, int, str]


@dataclass(frozen=True)
class RunResult:
    spec: str
    run_id: str
    status: Status
    rows: int
    bytes: int
    uri: str
    sha256: str | None
    started_at: str
    finished_at: str
    seconds: float
    error: str | None = None
    files: tuple[FileEntry, ...] = ()
    #: What the source passed over, e.g. malformed log lines it was told to skip.
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class Observer:
    """Hears how a run goes; the CLI's progress bar and the ledger are two."""

    #: Ask the source for a row count first (an extra query) so progress can show a percentage.
    wants_total = False

    def total(self, rows: int | None) -> None:
        """The number of rows expected, when the source can tell."""

    def advance(self, rows: int) -> None:
        """`rows` more rows were written."""

    def committed(self, part: Part) -> None:
        """A part of a split export was committed."""


def run(
    plan: ExportPlan,
    observer: Observer | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> RunResult:
    """Run one export. Failures become a failed result; interruptions propagate."""
    started = clock()
    observer = observer or Observer()
    files = FileSet(plan, observer.committed)
    try:
        if plan.window is not None and plan.window.is_empty:
            return _result(plan, "succeeded", started, clock(), [])
        parts, warnings = _export(plan, observer, files)
        result = replace(_result(plan, "succeeded", started, clock(), parts), warnings=warnings)
        if plan.spec.destination.manifest:
            manifest = _write_manifest(plan, result, parts, files.columns)
            result = _with_file(result, manifest, "manifest")
        return result
    except Exception as exc:  # one failing export must not stop the others
        reason = str(exc) if isinstance(exc, ExportctlError) else f"internal error: {exc!r}"
        reason = scrub(reason)
        return _result(plan, "failed", started, clock(), [], reason, rows=files.rows)


def _export(
    plan: ExportPlan, observer: Observer, files: FileSet
) -> tuple[list[Part], tuple[str, ...]]:
    """Stream the source through the stages into the files; commit them. Also the warnings."""
    spec = plan.spec
    source: Source = registry.SOURCES[spec.source.type](spec.source.options, spec.base_dir)
    positions = list(plan.window.incremental.columns) if plan.window else None
    with closing(source):
        observer.total(source.count(plan.request) if observer.wants_total else None)
        try:
            for raw in source.chunks(plan.request):
                if not type(source).filters_rows:
                    raw = apply_filter(raw, plan.request.query.where)
                files.write(select_fields(raw, spec.fields), raw[positions] if positions else None)
                observer.advance(len(raw))
            return files.close(), tuple(source.report())
        except BaseException as exc:
            files.abort(exc)
            raise


def _result(
    plan: ExportPlan,
    status: Status,
    started: datetime,
    finished: datetime,
    parts: list[Part],
    error: str | None = None,
    rows: int | None = None,
) -> RunResult:
    single = len(parts) == 1 and plan.spec.destination.split_rows is None
    role = "data" if single else "part"
    return RunResult(
        spec=plan.spec.name,
        run_id=plan.run_id,
        status=status,
        rows=sum(p.rows for p in parts) if rows is None else rows,
        bytes=sum(p.file.bytes for p in parts),
        uri=plan.destination if parts or status != "succeeded" else "",
        sha256=parts[0].file.sha256 if single else None,
        started_at=started.isoformat(),
        finished_at=finished.isoformat(),
        seconds=(finished - started).total_seconds(),
        error=error,
        files=tuple((p.file.uri, role, p.file.bytes, p.file.sha256) for p in parts),
    )


def _with_file(result: RunResult, file: WrittenFile, role: str) -> RunResult:
    entry = (file.uri, role, file.bytes, file.sha256)
    return RunResult(**{**asdict(result), "files": (*result.files, entry)})


def _write_manifest(
    plan: ExportPlan, result: RunResult, parts: list[Part], columns: list[str]
) -> WrittenFile:
    """Written last: a reader who sees the manifest sees every file it lists."""
    spec = plan.spec
    manifest: dict[str, Any] = {
        "spec": spec.name,
        "spec_sha256": spec.digest,
        "run_id": result.run_id,
        "uri": result.uri,
        "rows": result.rows,
        "bytes": result.bytes,
        "sha256": result.sha256,
        "format": spec.format.type,
        "compression": plan.compression,
        "fields": columns,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
    }
    if spec.destination.split_rows is not None:
        manifest["parts"] = [
            {"uri": p.file.uri, "rows": p.rows, "bytes": p.file.bytes, "sha256": p.file.sha256}
            for p in parts
        ]
    if plan.window is not None:
        manifest["window"] = {
            "cursor": list(plan.window.incremental.columns),
            "after": plan.window.after and incremental.tagged(plan.window.after),
            "upto": plan.window.upto and incremental.tagged(plan.window.upto),
        }
    uri = plan.destination + ".manifest.json"
    with registry.destination_for(uri, spec.destination.options).open(uri) as sink:
        sink.stream.write(json.dumps(manifest, indent=2).encode() + b"\n")
    assert sink.written is not None
    return sink.written
