"""What a run tells: its result (`RunResult`) and, as it goes, its `Observer`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Literal

from exportctl.destinations.base import WrittenFile
from exportctl.errors import scrub
from exportctl.plan.compiler import ExportPlan, Part

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

    #: Ask the source for a row count (an extra query, on a thread of its own) so progress
    #: can show a percentage. Read at each chunk: an observer may come to want it mid-run.
    wants_total = False

    def restart(self) -> None:
        """An attempt begins: what it reads is counted from zero."""

    def total(self, rows: int | None) -> None:
        """The number of rows expected, once the source can tell (maybe mid-run)."""

    def advance(self, rows: int) -> None:
        """`rows` more rows were written."""

    def committed(self, part: Part) -> None:
        """A part of a split export was committed."""


def result_of(
    plan: ExportPlan,
    status: Status,
    started: datetime,
    finished: datetime,
    parts: list[Part],
    error: str | None = None,
    split: bool = False,
) -> RunResult:
    """The result of a run that wrote `parts`: one data file, or (`split`) parts."""
    single = len(parts) == 1 and not split
    role = "data" if single else "part"
    return RunResult(
        spec=plan.spec.name,
        run_id=plan.run_id,
        status=status,
        rows=sum(p.rows for p in parts),
        bytes=sum(p.file.bytes for p in parts),
        uri=plan.destination if parts or status != "succeeded" else "",
        sha256=parts[0].file.sha256 if single else None,
        started_at=started.isoformat(),
        finished_at=finished.isoformat(),
        seconds=(finished - started).total_seconds(),
        error=error,
        files=tuple((p.file.uri, role, p.file.bytes, p.file.sha256) for p in parts),
    )


def with_file(result: RunResult, file: WrittenFile, role: str) -> RunResult:
    """`result` with one more file it committed (its quarantine, its manifest)."""
    entry = (file.uri, role, file.bytes, file.sha256)
    return RunResult(**{**asdict(result), "files": (*result.files, entry)})
