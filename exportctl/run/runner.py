"""Run a plan, the run stage's one entry point: `run`, `failed` and `failure_message`
(run/result.py holds the `RunResult` and `Observer` they speak in).

The engine (run/engine.py) puts the plan's partitions through the pipeline
(run/pipeline.py); this module sets up the stages, writes the manifest last
(run/manifest.py) and turns a failure into a failed result.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from contextlib import closing
from dataclasses import replace
from datetime import datetime
from typing import cast

from exportctl import registry
from exportctl.clock import SYSTEM, Clock
from exportctl.errors import ExportctlError, RunError, TransientError, scrub
from exportctl.plan.compiler import ExportPlan, Part
from exportctl.plan.partitions import Partition, partitions_of
from exportctl.run.engine import Engine, Exported, LocalEngine
from exportctl.run.manifest import write_manifest
from exportctl.run.merge import merged
from exportctl.run.parts import FileSet, remove_run_parts
from exportctl.run.pipeline import Stages
from exportctl.run.rejected import Rejected
from exportctl.run.result import Observer, RunResult, result_of, with_file
from exportctl.secrecy import MESSAGE_LIMIT, SECRET_MARGIN, capped, debug_trace, debugging
from exportctl.sources.base import Partitionable
from exportctl.spec import secrets as credentials
from exportctl.transforms.credentials import CredentialsStage
from exportctl.transforms.redact.columns import Redactor
from exportctl.transforms.secrets import SecretValues


def run(
    plan: ExportPlan,
    observer: Observer | None = None,
    clock: Clock = SYSTEM,
    engine: Engine | None = None,
    partitions: Sequence[Partition] | None = None,
) -> RunResult:
    """Run one export (by default its plan's partitions, on the local engine). Failures
    become a failed result; interruptions propagate."""
    started = clock.now()
    observer = observer or Observer()
    cut = plan.spec.engine.partitions is not None
    # Merged parts are no part of the export: nobody hears of them.
    heard = observer.committed if not plan.spec.engine.merge else _unheard
    files = FileSet(plan, heard, partitioned=cut or len(partitions or ()) > 1)
    rejected = Rejected(plan)
    secrets = SecretValues(rejected.hidden)
    try:
        if plan.window is not None and plan.window.is_empty:
            return result_of(plan, "succeeded", started, clock.now(), [])
        _check_room(plan)
        partitions = _partitions(plan) if partitions is None else partitions
        redactor = redactor_of(plan)
        stage = CredentialsStage(plan.spec.credentials)
        stages = Stages(observer, files, rejected, stage, secrets, redactor)
        exported = (engine or engine_of(plan)).export(plan, partitions, stages)
        if plan.spec.engine.merge:
            exported = _merged(plan, stages, exported)
        return _succeeded(plan, stages, exported, started, clock.now())
    except Exception as exc:  # one failing export must not stop the others
        return failed(plan, exc, started, clock.now(), rows=files.rows, secrets=secrets)


def _unheard(part: Part) -> None:
    """A part that is not the export's own: nobody is told."""


def _merged(plan: ExportPlan, stages: Stages, exported: Exported) -> Exported:
    """`engine.merge`: the parts as the one file of an unsplit export; if they cannot be
    joined, the run fails and removes them."""
    try:
        joined = merged(plan, exported.parts)
    except BaseException:
        remove_run_parts(plan)
        raise
    stages.files.split = False
    stages.files.parts = [joined]
    return replace(exported, parts=[joined])


def engine_of(plan: ExportPlan) -> Engine:
    """The engine the spec names; Dask's module (and Dask) only imported when asked for."""
    if plan.spec.engine.type == "dask":
        from exportctl.run.dask_engine import DaskEngine

        return DaskEngine(plan.spec.engine.address)
    return LocalEngine()


def _partitions(plan: ExportPlan) -> list[Partition]:
    """The plan's partitions: where its spec asks for them, cut from the key's bounds,
    which the source finds over the same rows (filter, time range, window)."""
    cut = plan.spec.engine.partitions
    if cut is None:
        return partitions_of(plan)
    source = registry.SOURCES[plan.spec.source.type](plan.spec.source.options, plan.spec.base_dir)
    with closing(cast(Partitionable, source)) as keyed:
        return partitions_of(plan, keyed.key_bounds(plan.request, cut.by, cut.size))


def redactor_of(plan: ExportPlan) -> Redactor | None:
    """The spec's `redact`, as its source does it: a source may bring its own redaction
    (`config`: its keys, shapes and digests)."""
    redact = plan.spec.redact
    make = getattr(registry.SOURCES[plan.spec.source.type], "redactor", Redactor)
    return make(redact, plan.spec.fields) if redact is not None else None


def _succeeded(
    plan: ExportPlan, stages: Stages, exported: Exported, started: datetime, finished: datetime
) -> RunResult:
    """The result of the export the engine committed, with its quarantine and its
    manifest (written last)."""
    split = stages.files.split
    rejected, redactor = stages.rejected, stages.redactor
    result = replace(
        result_of(plan, "succeeded", started, finished, exported.parts, split=split),
        warnings=(
            *_unredacted(plan),
            *stages.credentials.warnings(),
            *exported.warnings,
            *rejected.warnings(),
        ),
        invalid_rows=rejected.rows,
        redactions=dict(redactor.counts) if redactor is not None else {},
    )
    if rejected.file is not None:
        result = with_file(result, rejected.file, "quarantine")
    if plan.spec.destination.manifest:
        columns = stages.files.columns
        manifest = write_manifest(plan, result, exported.parts, columns, split)
        result = with_file(result, manifest, "manifest")
    return result


def _unredacted(plan: ExportPlan) -> tuple[str, ...]:
    """A source whose rows hold secrets unless redacted, told `redact: false`: say so."""
    if credentials.unredacted(plan.spec):
        kind = plan.spec.source.type
        return (f"`redact: false`: this `{kind}` export holds its secrets as they are",)
    return ()


def _check_room(plan: ExportPlan) -> None:
    """Fail before writing when the destination's free space cannot hold the likely size."""
    needed = plan.expected_bytes
    if plan.spec.destination.max_bytes is not None:
        needed = min(needed or 0, plan.spec.destination.max_bytes)
    destination = plan.destination_for()
    free = getattr(destination, "free_bytes", lambda uri: None)(plan.destination)
    if needed and free is not None and free < needed:
        raise RunError(
            f"not enough free space for {plan.destination}: {free:,} bytes free, and the "
            f"export will likely need {needed:,} (the size of its last one); nothing was written"
        )


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
    result = result_of(plan, "failed", started, finished, [], failure_message(error, secrets))
    return replace(result, rows=rows, transient=isinstance(error, TransientError))


def failure_message(error: BaseException, secrets: SecretValues | None = None) -> str:
    """What a failure says: our own message, or a library's type and text; never a secret.

    With `--debug` (EXPORTCTL_DEBUG=1) its traceback goes to stderr, scrubbed alike.
    """
    if debugging():
        debug_trace(safe_traceback(error, secrets))
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
