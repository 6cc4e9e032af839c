"""The ledger as one object: runs, their files, locks and watermarks, read and recorded
in SQLite or PostgreSQL; each part in its own module, every change in one transaction."""

from __future__ import annotations

from exportctl.ledger.files import RunFiles
from exportctl.ledger.locks import Locks
from exportctl.ledger.runs import Runs
from exportctl.ledger.watermarks import Watermarks


class Ledger(Runs, RunFiles, Locks, Watermarks):
    """`Ledger(url, located=None, clock=SYSTEM)`: opened, and brought to the current schema."""
