"""The rows validation turns away: skipped, quarantined, or failing the run, as the spec says."""

from __future__ import annotations

import pandas as pd

from exportctl import registry
from exportctl.destinations.base import WrittenFile
from exportctl.errors import ValidationError
from exportctl.plan.compiler import ExportPlan
from exportctl.run.changes import OP
from exportctl.run.quarantine import Quarantine
from exportctl.transforms import validate
from exportctl.transforms.fields import typed_as_declared
from exportctl.transforms.secrets import secret_columns


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
        self.quarantine = Quarantine(plan, plan.quarantine) if plan.quarantine else None
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

    def valid_changes(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """The valid rows of a change-mode chunk; a delete (its key, NULLs) is never checked."""
        deletes = chunk[OP] == "delete"
        if not deletes.any():
            return self.valid(chunk)
        return pd.concat([self.valid(chunk[~deletes]), chunk[deletes]]).sort_index()

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
