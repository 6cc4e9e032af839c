"""The ledger as one object: runs, their files, locks, claims on ticks and watermarks, read
and recorded in SQLite or PostgreSQL; each part in its own module, every change in one
transaction."""

from __future__ import annotations

from exportctl.ledger.claims import Claims
from exportctl.ledger.files import RunFiles
from exportctl.ledger.runs import Runs
from exportctl.ledger.watermarks import Watermarks


class Ledger(Runs, RunFiles, Claims, Watermarks):
    """`Ledger(url, located=None, clock=SYSTEM)`: opened, and brought to the current schema."""
