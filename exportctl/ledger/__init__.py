"""The run ledger: history, audit trail, watermarks and locks, in SQLite or PostgreSQL.

Import what you use from its module (`store.Ledger`, `runs.RunRecord`, `locks.LockHeld`):
this package imports nothing, so that a command reading a SQLite ledger loads no SQLAlchemy.
"""
