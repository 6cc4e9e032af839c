"""Change mode's plan: which snapshot a run compares with, and where it writes the next.

The snapshots and the streaming merge that reads them are in `exportctl.run.changes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ChangePlan:
    """Where a change-mode run reads the last committed snapshot and writes the next."""

    key: tuple[str, ...]
    #: The current snapshot; None: the first run (or `--full`), every row is an insert.
    before: Path | None
    #: The run's new snapshot, current only once the ledger commits the run.
    after: Path
