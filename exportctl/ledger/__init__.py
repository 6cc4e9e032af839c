"""The run ledger: history, audit trail, watermarks and locks, in SQLite or PostgreSQL."""

from exportctl.ledger.store import Ledger, LockHeld, RunRecord

__all__ = ["Ledger", "LockHeld", "RunRecord"]
