"""Compile a spec into a plan: every template rendered, every choice resolved.

Pure: the clock and the run id come in as arguments, and nothing is opened.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jinja2

from exportctl import compression, registry
from exportctl.destinations.base import Destination, WrittenFile
from exportctl.destinations.uris import QUARANTINE, parts_tag, sibling_uri, tag_of_part
from exportctl.errors import SpecError, SpecProblem
from exportctl.lang import templating, timerange
from exportctl.lang.timerange import ResolvedRange
from exportctl.model import And, Compare, ExportSpec, Filter, OrderKey, Query
from exportctl.plan import inputs
from exportctl.plan.changes import ChangePlan
from exportctl.plan.incremental import Position, Window
from exportctl.sources.base import Request
from exportctl.spec.schema import Locator
from exportctl.transforms.fields import declared_types, needed_columns


@dataclass(frozen=True)
class Part:
    """A file of the export, committed."""

    file: WrittenFile
    rows: int
    #: The (cursor, key) of its last row, where the export is incremental: where a retry resumes.
    last: Position | None = None
    #: The key range of the partition it belongs to, as the manifest records it.
    key_range: dict[str, Any] | None = None


@dataclass(frozen=True)
class ExportPlan:
    spec: ExportSpec
    run_id: str
    now: datetime
    request: Request
    destination: str
    compression: str
    window: Window | None = None
    #: Parts a failed attempt committed and the retry keeps; it writes the ones after them.
    resume: tuple[Part, ...] = ()
    #: Where rows that fail validation go, under `on_invalid: quarantine`.
    quarantine: str | None = None
    #: The kept parts' rows, read again on a quarantined retry only for their invalid rows:
    #: the failed attempt's quarantine went with it.
    replay: Request | None = None
    #: The size the export will likely store (its last one's), for the free-space check.
    expected_bytes: int | None = None
    #: The spec's `time_range` resolved at `now`: [start, end) in UTC.
    time_range: ResolvedRange | None = None
    #: What this run's part names carry (`uris.part_uri`): its own id's tag, or the kept
    #: parts' on a resume; None for kept parts named before tags.
    parts_tag: str | None = None
    #: A change-mode run's snapshots: the last committed one and the one it writes.
    changes: ChangePlan | None = None
    #: A windowed plan's query before its window: what another attempt narrows again.
    unwindowed: Query | None = None

    def destination_for(self, uri: str | None = None) -> Destination:
        """What stores `uri` (by default the export itself), with the spec's options."""
        return registry.destination_for(uri or self.destination, self.spec.destination.options)


def new_run_id(now: datetime) -> str:
    """Sortable by time, and unique: 48 random bits, as a daemon starts dozens of runs a second.

    (24 bits gave two runs one id within a few thousand runs at 70 a second.)
    """
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(6)}"


def template_context(spec: ExportSpec, now: datetime, run_id: str) -> dict[str, Any]:
    return {
        "now": now,
        "today": now.date(),
        "run": {"id": run_id},
        "spec": {"name": spec.name, "description": spec.description},
    }


def compile_plan(spec: ExportSpec, *, now: datetime, run_id: str) -> ExportPlan:
    """The plan for one run, every template rendered; `narrowed` fits it to an incremental run."""
    now = now.astimezone(UTC)
    context = template_context(spec, now, run_id)
    query = replace(spec.query, params=_params(spec, context))
    time_range = _time_range(spec, now)
    if time_range is not None:
        query = replace(query, where=_and(query.where, range_filter(time_range)))
    source_reads_filter = registry.SOURCES.entry(spec.source.type).pushes_filters
    if query.order_by and not source_reads_filter:
        raise spec_error(
            spec, "$.query.order_by", "this source returns rows in its own order and cannot sort"
        )
    columns = needed_columns(spec.fields)
    keys = spec.incremental.keys if spec.incremental else ()
    if keys:  # change mode: merged with the snapshot in key order
        query = replace(query, order_by=tuple(OrderKey(k, code_point=True) for k in keys))
        columns = tuple(dict.fromkeys((*keys, *columns))) if columns is not None else None
    columns = _to_read(columns, query, source_reads_filter)
    destination = _destination(
        spec, _render(spec, spec.destination.uri, context, "$.destination.uri"), "$.destination.uri"
    )
    return ExportPlan(
        spec=spec,
        run_id=run_id,
        now=now,
        request=Request(query, columns, declared_types(spec)),
        destination=destination,
        compression=_compression(spec, PurePosixPath(urlsplit(destination).path).name),
        quarantine=_quarantine(spec, context, destination),
        time_range=time_range,
        parts_tag=parts_tag(run_id),
    )


def narrowed(
    plan: ExportPlan,
    *,
    window: Window | None = None,
    destination: str | None = None,
    resume: tuple[Part, ...] = (),
    changes: ChangePlan | None = None,
) -> ExportPlan:
    """`plan` fitted to an incremental run: its window (past the parts a retry keeps), the
    destination of the unfinished run it retries, change mode's snapshots.

    Renders no template again: `plan` is `compile_plan`'s, or an earlier narrowing of it.
    """
    spec = plan.spec
    source_reads_filter = registry.SOURCES.entry(spec.source.type).pushes_filters
    unwindowed = plan.unwindowed or plan.request.query
    query, columns = unwindowed, plan.request.columns
    if window is not None:
        query = _windowed(
            unwindowed, window, resume[-1].last if resume else None, source_reads_filter
        )
        if columns is not None:  # each row's position, for resuming
            columns = tuple(dict.fromkeys((*columns, *window.incremental.columns)))
        columns = _to_read(columns, query, source_reads_filter)
    destination = destination or plan.destination
    quarantine = _beside(plan, destination)
    replay = None
    if quarantine is not None and resume and window is not None:
        kept = replace(window, upto=resume[-1].last)  # the kept parts' rows, for their invalid
        replay_query = _windowed(unwindowed, kept, None, source_reads_filter)
        replay = Request(replay_query, columns, plan.request.declared)
    own_tag = parts_tag(plan.run_id)
    return replace(
        plan,
        window=window,
        request=Request(query, columns, plan.request.declared),
        destination=destination,
        compression=_compression(spec, PurePosixPath(urlsplit(destination).path).name),
        resume=resume,
        quarantine=quarantine,
        replay=replay,
        # A resumed run's parts keep the tag of the run they continue; any other, its own.
        parts_tag=tag_of_part(destination, resume[0].file.uri) if resume else own_tag,
        changes=changes,
        unwindowed=unwindowed if window is not None else None,
    )


def _to_read(
    columns: tuple[str, ...] | None, query: Query, filters_at_source: bool
) -> tuple[str, ...] | None:
    """The columns a run reads (None: all): all where the runner filters, as it needs the
    filtered fields too."""
    if columns is not None and not filters_at_source and query.where is not None:
        return None
    return columns


def _beside(plan: ExportPlan, destination: str) -> str | None:
    """The plan's quarantine for `destination`: beside it, unless the spec names one."""
    if plan.quarantine is None or plan.spec.validation.quarantine:
        return plan.quarantine
    return sibling_uri(destination, QUARANTINE)


def _params(spec: ExportSpec, context: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The query's parameters, the text ones rendered as templates."""
    return tuple(
        (
            key,
            _render(spec, value, context, f"$.query.params.{key}")
            if isinstance(value, str)
            else value,
        )
        for key, value in spec.query.params
    )


def _quarantine(spec: ExportSpec, context: dict[str, Any], destination: str) -> str | None:
    """Where rows that fail validation go: the spec's `quarantine`, or beside the export."""
    if spec.validation.on_invalid != "quarantine":
        return None
    stated = spec.validation.quarantine
    if not stated:
        return sibling_uri(destination, QUARANTINE)
    rendered = _render(spec, stated, context, "$.validation.quarantine")
    return _destination(spec, rendered, "$.validation.quarantine")


def _time_range(spec: ExportSpec, now: datetime) -> ResolvedRange | None:
    if spec.time_range is None:
        return None
    try:
        return timerange.resolve(spec.time_range, now)
    except ValueError as exc:
        raise spec_error(spec, "$.time_range", str(exc)) from None


def range_filter(resolved: ResolvedRange) -> Filter | None:
    """`field >= start AND field < end`, the bounds as naive UTC text (see timerange)."""
    bounds: list[Filter] = []
    if resolved.start is not None:
        bounds.append(Compare(resolved.field, "ge", timerange.bound_text(resolved.start)))
    if resolved.end is not None:
        bounds.append(Compare(resolved.field, "lt", timerange.bound_text(resolved.end)))
    return And(tuple(bounds)) if bounds else None


def _and(where: Filter | None, more: Filter | None) -> Filter | None:
    if where is None or more is None:
        return where or more
    return And((where, more))


def _windowed(
    query: Query, window: Window | None, resume_after: Position | None, can_sort: bool
) -> Query:
    """Narrow the query to the window (past the kept parts), in cursor order where it sorts."""
    if window is None:
        return query
    if resume_after is not None:
        window = replace(window, after=resume_after)
    where = window.filter() if query.where is None else And((query.where, window.filter()))
    order = query.order_by or tuple(OrderKey(c) for c in window.incremental.columns)
    if not can_sort:
        order = ()
    return replace(query, where=where, order_by=order)


def _render(spec: ExportSpec, source: str, context: dict[str, Any], path: str) -> str:
    try:
        return templating.render(source, context)
    except jinja2.TemplateError as exc:
        raise spec_error(spec, path, f"template error: {exc}") from None


def _destination(spec: ExportSpec, uri: str, key: str) -> str:
    """The rendered URI, a local path made absolute; refused if it names an input of the run."""
    if any(ord(c) < 32 for c in uri):  # a NUL in a path failed only when the file was opened
        raise spec_error(spec, key, f"the destination {uri!r} has a control character")
    if "://" in uri and not uri.startswith("file://"):
        return uri
    path = Path(uri.removeprefix("file://")).expanduser()
    resolved = os.path.normpath(path if path.is_absolute() else spec.base_dir / path)
    what = inputs.overwritten(spec, resolved)
    if what is not None:
        message = f"the destination {resolved} is {what}: an export never overwrites its inputs"
        raise spec_error(spec, key, message)
    return resolved


def _compression(spec: ExportSpec, file_name: str) -> str:
    codec, complaint = compression.resolve(spec.compression, file_name)
    if complaint:
        raise spec_error(spec, "$.compression", complaint)
    return codec


def spec_error(spec: ExportSpec, path: str, message: str) -> SpecError:
    """A problem of `spec` at `path` (`$.destination.uri`), with the line it is written on."""
    return SpecError([SpecProblem(str(spec.path), _line(spec, path), path, message)])


def _line(spec: ExportSpec, path: str) -> int | None:
    """The line of `path` (`$.a.b`) in the spec file, read again only to report a problem."""
    try:
        text = spec.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    keys = tuple(path.removeprefix("$").lstrip(".").split("."))
    return Locator(str(spec.path), text).line(keys)
