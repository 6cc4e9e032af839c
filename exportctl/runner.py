"""Run a plan: source → transforms → encoder → compression → destination, then commit."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Literal

import pandas as pd

from exportctl import compression, registry
from exportctl.errors import ExportctlError
from exportctl.plan import ExportPlan, utc_now
from exportctl.sources.base import Source
from exportctl.transforms.fields import select_fields
from exportctl.transforms.filter import apply_filter

Status = Literal["succeeded", "failed"]


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
    error: str | None = None

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
    clock: Callable[[], datetime] | None = None,
) -> RunResult:
    """Run one export. Failures become a failed result; interruptions propagate."""
    observer = observer or Observer()
    clock = clock or utc_now
    started = plan.now.isoformat()
    rows = 0
    try:
        spec = plan.spec
        source_kind = registry.SOURCES[spec.source.type]
        source: Source = source_kind(spec.source.options, spec.base_dir)
        destination = registry.destination_for(plan.destination)
        with closing(source), destination.open(plan.destination) as sink:
            observer.total(source.count(plan.request) if observer.wants_total else None)
            with compression.compressed(
                sink.stream, plan.compression, spec.compression_level, plan.inner_name
            ) as stream:
                encoder = registry.FORMATS[spec.format.type](spec.format.options, stream)
                for chunk in _chunks(source, plan):
                    encoder.write(chunk)
                    rows += len(chunk)
                    observer.advance(len(chunk))
                encoder.close()
        written = sink.written
        assert written is not None  # committed, or the block raised
        result = RunResult(
            spec.name,
            plan.run_id,
            "succeeded",
            rows,
            written.bytes,
            written.uri,
            written.sha256,
            started,
            clock().isoformat(),
        )
        if spec.destination.manifest:
            _write_manifest(plan, result)
        return result
    except Exception as exc:  # one failing export must not stop the others
        reason = str(exc) if isinstance(exc, ExportctlError) else f"internal error: {exc!r}"
        return RunResult(
            plan.spec.name,
            plan.run_id,
            "failed",
            rows,
            0,
            plan.destination,
            None,
            started,
            clock().isoformat(),
            reason,
        )


def _chunks(source: Source, plan: ExportPlan) -> Iterator[pd.DataFrame]:
    for chunk in source.chunks(plan.request):
        yield transform(chunk, plan, type(source).filters_rows)


def _write_manifest(plan: ExportPlan, result: RunResult) -> None:
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
        "fields": [f.name for f in spec.fields] if spec.fields else None,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
    }
    uri = result.uri + ".manifest.json"
    with registry.destination_for(uri).open(uri) as sink:
        sink.stream.write(json.dumps(manifest, indent=2).encode() + b"\n")
