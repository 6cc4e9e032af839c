"""Run a plan: source → transforms → encoder → compression → destination, then commit."""

from __future__ import annotations

import json
import sys
import threading
import traceback
from collections.abc import Callable, Generator
from concurrent.futures import Future
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

import pandas as pd

from exportctl import registry
from exportctl.destinations.base import WrittenFile
from exportctl.destinations.uris import MANIFEST, sibling_uri
from exportctl.errors import ExportctlError, RunError, TransientError, ValidationError, scrub
from exportctl.plan import incremental
from exportctl.plan.compiler import ExportPlan, Part, utc_now
from exportctl.run.changes import OP, Differ
from exportctl.run.parts import FileSet
from exportctl.run.quarantine import Quarantine
from exportctl.secrecy import MESSAGE_LIMIT, SECRET_MARGIN, capped, debugging
from exportctl.sources.base import Request, Source
from exportctl.spec import secrets as credentials
from exportctl.transforms import validate
from exportctl.transforms.credentials import CredentialsStage
from exportctl.transforms.fields import select_fields, typed_as_declared
from exportctl.transforms.filter import apply_filter
from exportctl.transforms.redact.columns import Redactor
from exportctl.transforms.reshape import WideRows
from exportctl.transforms.secrets import SecretValues, secret_columns

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
    #: The failure may pass on retry (network, throttling, 5xx).
    transient: bool = False
    #: Rows validation turned away (skipped or quarantined).
    invalid_rows: int = 0
    #: Attempts this run took (see the spec's `retry`).
    attempts: int = 1
    #: Values each redaction rule changed, by rule (`key:password`, `url_credentials`).
    redactions: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """For output: URIs without secrets (a presigned URL's signature, say)."""
        files = [
            {"uri": scrub(uri), "role": role, "bytes": size, "sha256": digest}
            for uri, role, size, digest in self.files
        ]  # objects, named as the ledger's (`history`, the API) are
        return {
            **asdict(self),
            "uri": scrub(self.uri),
            "files": files,
            "started_at": _iso_z(self.started_at),
            "finished_at": _iso_z(self.finished_at),
        }


def _iso_z(text: str) -> str:
    """The one timestamp format of `--json` (exportctl.values.jsontext): `...T...Z`."""
    return text.replace("+00:00", "Z") if text else text


class Observer:
    """Hears how a run goes; the CLI's progress bar and the ledger are two."""

    #: Ask the source for a row count first (an extra query) so progress can show a percentage.
    wants_total = False

    def restart(self) -> None:
        """An attempt begins: what it reads is counted from zero."""

    def total(self, rows: int | None) -> None:
        """The number of rows expected, once the source can tell (maybe mid-run)."""

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
    rejected = Rejected(plan)
    secrets = SecretValues(rejected.hidden)
    try:
        if plan.window is not None and plan.window.is_empty:
            return _result(plan, "succeeded", started, clock(), [])
        _check_room(plan)
        redact = plan.spec.redact
        # A source may bring its own redaction (`config`: its keys, shapes and digests).
        make = getattr(registry.SOURCES[plan.spec.source.type], "redactor", Redactor)
        redactor = make(redact, plan.spec.fields) if redact is not None else None
        stage = CredentialsStage(plan.spec.credentials)
        parts, warnings = _export(plan, observer, files, rejected, redactor, stage, secrets)
        result = replace(
            _result(plan, "succeeded", started, clock(), parts),
            warnings=(*_unredacted(plan), *stage.warnings(), *warnings, *rejected.warnings()),
            invalid_rows=rejected.rows,
            redactions=dict(redactor.counts) if redactor is not None else {},
        )
        if rejected.file is not None:
            result = _with_file(result, rejected.file, "quarantine")
        if plan.spec.destination.manifest:
            manifest = _write_manifest(plan, result, parts, files.columns)
            result = _with_file(result, manifest, "manifest")
        return result
    except Exception as exc:  # one failing export must not stop the others
        return failed(plan, exc, started, clock(), rows=files.rows, secrets=secrets)


def _unredacted(plan: ExportPlan) -> tuple[str, ...]:
    """A source whose rows hold secrets unless redacted, told `redact: false`: say so."""
    if credentials.unredacted(plan.spec):
        kind = plan.spec.source.type
        return (f"`redact: false`: this `{kind}` export holds its secrets as they are",)
    return ()


def failed(
    plan: ExportPlan,
    error: Exception,
    started: datetime,
    finished: datetime,
    rows: int = 0,
    secrets: SecretValues | None = None,
) -> RunResult:
    """The result of a run that failed with `error`, its message fit for the user.

    The message keeps a library's own text (a bug is found by it), scrubbed of URL
    credentials and of the values of the secret columns at hand; so is the traceback
    `--debug` prints.
    """
    result = _result(plan, "failed", started, finished, [], failure_message(error, secrets))
    return replace(result, rows=rows, transient=isinstance(error, TransientError))


def failure_message(error: BaseException, secrets: SecretValues | None = None) -> str:
    """What a failure says: our own message, or a library's type and text; never a secret.

    With `--debug` (EXPORTCTL_DEBUG=1) its traceback goes to stderr, scrubbed alike.
    """
    if debugging():
        print(safe_traceback(error, secrets), file=sys.stderr)
    if isinstance(error, ExportctlError):
        reason = str(error)
    else:
        reason = f"internal error: {type(error).__name__}: {error}"
    return _safe(reason, secrets, MESSAGE_LIMIT)


def safe_traceback(error: BaseException, secrets: SecretValues | None = None) -> str:
    """The traceback of `error` (and what it wraps), scrubbed like its message."""
    return _safe("".join(traceback.format_exception(error)), secrets, 20 * MESSAGE_LIMIT)


def _safe(text: str, secrets: SecretValues | None, limit: int) -> str:
    """`text` scrubbed and capped. Only what can be kept is scrubbed (a 301 KB message
    would take long), with a margin so that a secret across the cut is found whole."""
    head = text[: limit + SECRET_MARGIN]
    head = scrub(secrets.scrub(head) if secrets is not None else head)
    cut = len(text) > limit + SECRET_MARGIN
    return capped(head, limit, total=len(text) if cut else None)


class Rejected:
    """The rows validation turns away, handled as the spec's `validation` says."""

    def __init__(self, plan: ExportPlan):
        self.policy = plan.spec.validation.on_invalid
        #: Whether a column holds secrets: its values are never shown in a reason.
        self.hidden = secret_columns(plan.spec)
        self.checks = validate.checks_of(plan.spec.fields)
        self.fields = plan.spec.fields
        self.encoder = registry.FORMATS[plan.spec.format.type]
        self.options = plan.spec.format.options
        self.quarantine = (
            Quarantine(plan.quarantine, plan.spec.destination.options) if plan.quarantine else None
        )
        self.rows = 0
        self.first_reason: str | None = None
        self.file: WrittenFile | None = None

    def valid(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """The chunk's valid rows; the others are skipped, quarantined, or fail the run."""
        verdict = validate.validate(
            chunk, self.checks, self.encoder, options=self.options, hidden=self.hidden
        )
        if verdict.invalid.empty:
            return typed_as_declared(verdict.valid, self.fields)
        if self.policy == "fail":
            raise ValidationError(
                f"{len(verdict.invalid)} row(s) failed validation, nothing was written "
                f"(first: {verdict.reasons[0]}); set `validation.on_invalid` to `skip` or "
                "`quarantine` to export the valid rows"
            )
        self.rows += len(verdict.invalid)
        self.first_reason = self.first_reason or verdict.reasons[0]
        if self.quarantine is not None:
            self.quarantine.write(verdict.invalid, verdict.reasons)
        return typed_as_declared(verdict.valid, self.fields)

    def commit(self) -> None:
        if self.quarantine is not None:
            self.file = self.quarantine.commit()

    def abort(self, error: BaseException) -> None:
        if self.quarantine is not None:
            self.quarantine.abort(error)

    def warnings(self) -> list[str]:
        if not self.rows:
            return []
        done = "quarantined" if self.quarantine is not None else "skipped"
        return [
            f"{self.rows} row(s) failed validation and were {done} (first: {self.first_reason})"
        ]


def _check_room(plan: ExportPlan) -> None:
    """Fail before writing when the destination's free space cannot hold the likely size."""
    needed = plan.expected_bytes
    if plan.spec.destination.max_bytes is not None:
        needed = min(needed or 0, plan.spec.destination.max_bytes)
    destination = registry.destination_for(plan.destination, plan.spec.destination.options)
    free = getattr(destination, "free_bytes", lambda uri: None)(plan.destination)
    if needed and free is not None and free < needed:
        raise RunError(
            f"not enough free space for {plan.destination}: {free:,} bytes free, and the "
            f"export will likely need {needed:,} (the size of its last one); nothing was written"
        )


def _export(
    plan: ExportPlan,
    observer: Observer,
    files: FileSet,
    rejected: Rejected,
    redactor: Redactor | None = None,
    stage: CredentialsStage | None = None,
    secrets: SecretValues | None = None,
) -> tuple[list[Part], tuple[str, ...]]:
    """Stream the source through the stages into the files; commit them. Also the warnings."""
    spec = plan.spec
    source: Source = registry.SOURCES[spec.source.type](spec.source.options, spec.base_dir)
    positions = list(plan.window.incremental.columns) if plan.window else None
    wide = WideRows(spec.reshape) if spec.reshape else None  # incremental ones are refused

    def chunks(request: Request) -> Generator[tuple[pd.DataFrame, pd.DataFrame], None, None]:
        """Each chunk as read (for the incremental positions) and through the stages."""
        # closing(): a failure past the source must not leave its cursor open (and its
        # database locked) until the generator happens to be collected.
        with closing(source.chunks(request)) as read:
            # Change mode: the rows become the changes found against the last snapshot.
            rows = Differ(plan.changes).changes(read) if plan.changes else read
            for raw in rows:
                if not registry.SOURCES.entry(spec.source.type).pushes_filters:
                    raw = apply_filter(raw, request.query.where)
                ops = raw.pop(OP) if plan.changes else None
                # A failure from here on may quote the secret columns' values.
                hold = secrets.hold if secrets is not None else lambda *chunks: None
                hold(raw)
                # Before fields, so templates see credentials as the mode leaves them.
                secured = stage.apply(raw) if stage is not None else raw
                hold(raw, secured)
                selected = select_fields(secured, spec.fields)
                hold(raw, secured, selected)
                if redactor is not None:  # before anything is encoded
                    selected = redactor.apply(selected)
                if ops is not None:
                    selected.insert(0, OP, ops.loc[selected.index])
                yield raw, selected

    with closing(source):
        observer.restart()
        counting = _count_aside(source, plan.request) if observer.wants_total else None
        read = 0
        try:
            if plan.replay is not None:  # their invalid rows, quarantined again
                with closing(chunks(plan.replay)) as replayed:
                    for _, selected in replayed:
                        rejected.valid(selected)
                        observer.advance(0)  # honours a stop request; the rows are not new
            with closing(chunks(plan.request)) as staged:
                for raw, selected in staged:
                    given = wide.feed(selected) if wide else selected
                    rows = _valid(rejected, given, changes=plan.changes is not None)
                    files.write(rows, raw.loc[rows.index, positions] if positions else None)
                    observer.advance(len(raw))
                    read += len(raw)
                    if counting is not None and counting.done():
                        observer.total(counting.result())
                        counting = None
            if counting is not None:  # every row is read: that is the count
                observer.total(read)
            last = wide.finish() if wide else None
            if last is not None:
                files.write(rejected.valid(last), None)
            parts = files.close()
            rejected.commit()
            return parts, tuple(source.report())
        except BaseException as exc:
            # Only an incremental run's retry can resume after finished parts, and not
            # after invalid rows: the others would be parts of an export that never was.
            _discard(exc, files, rejected, plan.window is None or isinstance(exc, ValidationError))
            raise


def _valid(rejected: Rejected, chunk: pd.DataFrame, changes: bool) -> pd.DataFrame:
    """The chunk's valid rows; a change-mode delete (its key, NULLs) is never checked."""
    if not changes:
        return rejected.valid(chunk)
    deletes = chunk[OP] == "delete"
    if not deletes.any():
        return rejected.valid(chunk)
    return pd.concat([rejected.valid(chunk[~deletes]), chunk[deletes]]).sort_index()


def _count_aside(source: Source, request: Request) -> Future[int | None]:
    """The source's row count, asked on a thread of its own: a COUNT over a filter scans
    the rows as the export does, and the export need not wait for it."""
    counted: Future[int | None] = Future()

    def count() -> None:
        try:
            counted.set_result(source.count(request))
        except Exception:  # the export meets the same failure and reports it
            counted.set_result(None)

    threading.Thread(target=count, name="count", daemon=True).start()
    return counted


def _discard(error: BaseException, files: FileSet, rejected: Rejected, committed: bool) -> None:
    """Discard what the failed run wrote; then raise the destination's account of it, if any.

    A destination answers a failed write with its own account of it ("the disk is
    full"), which is the better message; one failing step must not skip the next.
    """
    account: Exception | None = None
    steps = [lambda: files.abort(error), lambda: rejected.abort(error)]
    for step in [*steps, files.discard_committed] if committed else steps:
        try:
            step()
        except Exception as exc:
            account = account or exc
    if account is not None and account is not error:
        raise account


def _result(
    plan: ExportPlan,
    status: Status,
    started: datetime,
    finished: datetime,
    parts: list[Part],
    error: str | None = None,
    rows: int | None = None,
) -> RunResult:
    single = len(parts) == 1 and not plan.spec.destination.splits
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
    if spec.destination.splits:
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
    if plan.time_range is not None:
        manifest["time_range"] = plan.time_range.to_json()
    uri = sibling_uri(plan.destination, MANIFEST)
    with registry.destination_for(uri, spec.destination.options).open(uri) as sink:
        sink.stream.write(json.dumps(manifest, indent=2).encode() + b"\n")
    assert sink.written is not None
    return sink.written
