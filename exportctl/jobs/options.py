"""How a run was asked for: what the CLI's flags or the daemon's tick say about it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Options:
    full: bool = False
    wait: float = 0
    trigger: str = "cli"
    #: The schedule tick a daemon run is for, recorded in the ledger as `scheduled_at`.
    scheduled_for: datetime | None = None
    #: The run's id, when the caller must know it before the run starts (the run API).
    run_id: str | None = None
