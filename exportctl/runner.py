"""Run a plan: source → transforms → encoder → compression → destination, then commit."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Literal

import pandas as pd

from exportctl import compression, incremental, registry
from exportctl.destinations.base import WrittenFile
from exportctl.errors import ExportctlError
from exportctl.plan import ExportPlan, utc_now
from exportctl.sources.base import Source
from exportctl.transforms.fields import select_fields
from exportctl.transforms.filter import apply_filter

Status = Literal["succeeded", "failed", "skipped", "interrupted"]
#: (uri, role, bytes, sha256) of a file a run committed.
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

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class Observer:
    """Hears how a run goes; the CLI's progress bar is one."""

    #: Ask the source for a row count first (an extra query) so progress can show a percentage.
    wants_total = False

    def total(self, rows: int | None) -> None:
        """The number of rows expected, when the source can tell."""

    def advance(self, rows: int) -> None:
        """`rows` more rows were written."""


def transform(chunk: pd.DataFrame, plan: ExportPlan, source_filtered: bool) -> pd.DataFrame:
    """The pure per-chunk stages, in order."""
    if not source_filtered:
        chunk = apply_filter(chunk, plan.request.query.where)
    return select_fields(chunk, plan.spec.fields)


def run(
    plan: ExportPlan,
    observer: Observer | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> RunResult:
    """Run one export. Failures become a failed result; interruptions propagate."""
    started = clock()
    progress = _Counting(observer or Observer())
    try:
        if plan.window is not None and plan.window.is_empty:
            return replace(_result(plan, "succeeded", 0, started, clock(), None), uri="")
        written, columns = _export(plan, progress)
        result = _result(plan, "succeeded", progress.rows, started, clock(), written)
        files: tuple[FileEntry, ...] = ((written.uri, "data", written.bytes, written.sha256),)
        if plan.spec.destination.manifest:
            manifest = _write_manifest(plan, result, columns)
            files += ((manifest.uri, "manifest", manifest.bytes, manifest.sha256),)
        return replace(result, files=files)
    except Exception as exc:  # one failing export must not stop the others
        reason = str(exc) if isinstance(exc, ExportctlError) else f"internal error: {exc!r}"
        return _result(plan, "failed", progress.rows, started, clock(), None, reason)


def _export(plan: ExportPlan, observer: Observer) -> tuple[WrittenFile, list[str]]:
    spec = plan.spec
    source: Source = registry.SOURCES[spec.source.type](spec.source.options, spec.base_dir)
    destination = registry.destination_for(plan.destination)
    columns: list[str] = []
    with closing(source), destination.open(plan.destination) as sink:
        observer.total(source.count(plan.request) if observer.wants_total else None)
        with compression.compressed(
            sink.stream, plan.compression, spec.compression_level, plan.inner_name
        ) as stream:
            encoder = registry.FORMATS[spec.format.type](spec.format.options, stream)
            for chunk in _chunks(source, plan):
                encoder.write(chunk)
                columns = columns or [str(c) for c in chunk.columns]
                observer.advance(len(chunk))
            encoder.close()
    assert sink.written is not None  # the block committed, or it raised
    return sink.written, columns


class _Counting(Observer):
    """Passes progress on, keeping the row count for the result."""

    def __init__(self, inner: Observer):
        self.inner, self.rows = inner, 0
        self.wants_total = inner.wants_total

    def total(self, rows: int | None) -> None:
        self.inner.total(rows)

    def advance(self, rows: int) -> None:
        self.rows += rows
        self.inner.advance(rows)


def _result(
    plan: ExportPlan,
    status: Status,
    rows: int,
    started: datetime,
    finished: datetime,
    written: WrittenFile | None,
    error: str | None = None,
) -> RunResult:
    return RunResult(
        spec=plan.spec.name,
        run_id=plan.run_id,
        status=status,
        rows=rows,
        bytes=written.bytes if written else 0,
        uri=written.uri if written else plan.destination,
        sha256=written.sha256 if written else None,
        started_at=started.isoformat(),
        finished_at=finished.isoformat(),
        seconds=(finished - started).total_seconds(),
        error=error,
    )


def _chunks(source: Source, plan: ExportPlan) -> Iterator[pd.DataFrame]:
    for chunk in source.chunks(plan.request):
        yield transform(chunk, plan, type(source).filters_rows)


def _write_manifest(plan: ExportPlan, result: RunResult, columns: list[str]) -> WrittenFile:
    spec = plan.spec
    manifest = {
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
    if plan.window is not None:
        manifest["window"] = {
            "cursor": list(plan.window.incremental.columns),
            "after": plan.window.after and incremental.tagged(plan.window.after),
            "upto": plan.window.upto and incremental.tagged(plan.window.upto),
        }
    uri = result.uri + ".manifest.json"
    with registry.destination_for(uri).open(uri) as sink:
        sink.stream.write(json.dumps(manifest, indent=2).encode() + b"\n")
    assert sink.written is not None
    return sink.written
