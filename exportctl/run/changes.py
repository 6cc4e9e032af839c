"""Change mode: the rows inserted, updated and deleted since the last committed export.

A snapshot holds, for every row of the last committed state, its key and a 16-byte
hash of its values, sorted by key, in a Parquet file. A run reads the source ordered
by key and walks it alongside the snapshot (a merge of two sorted streams, so memory
follows the chunk size, not the table), emitting each difference with an `_op` column
and writing the new snapshot beside the old. The new one becomes current only when the
ledger commits the run (it is the run's watermark), so a killed run changes nothing.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from exportctl.errors import RunError
from exportctl.plan.changes import ChangePlan
from exportctl.values.rowhash import canonical, python_values, row_hashes

OP = "_op"
HASH = "_hash"
#: Rows per batch read from the old snapshot, and per chunk of trailing deletes.
BATCH = 10_000

Key = tuple[Any, ...]


def _key_values(column: str, values: list[Any]) -> list[Any]:
    keys = [v if isinstance(v, str | int) else canonical(v) for v in values]
    if None in keys:
        raise RunError(f"the key column `{column}` holds NULL: change mode needs every row's key")
    return keys


class Snapshot:
    """The old snapshot as a sorted stream of (key, hash), read a batch at a time."""

    def __init__(self, path: Path | None, key: tuple[str, ...]):
        self._rows = self._read(path, key) if path is not None else iter(())
        self.head: tuple[Key, bytes] | None = next(self._rows, None)

    @staticmethod
    def _read(path: Path, key: tuple[str, ...]) -> Iterator[tuple[Key, bytes]]:
        if not path.exists():
            raise RunError(
                f"the change snapshot {path} the ledger names is missing; run "
                "`exportctl watermark reset` (or `apply --full`) to export every row again"
            )
        with pq.ParquetFile(path) as file:
            for batch in file.iter_batches(batch_size=BATCH):
                columns = [batch.column(c).to_pylist() for c in key]
                hashes = batch.column(HASH).to_pylist()
                yield from zip(zip(*columns, strict=True), hashes, strict=True)

    def advance(self) -> None:
        self.head = next(self._rows, None)


class SnapshotWriter:
    """The new snapshot, written to a temporary name and renamed when complete."""

    def __init__(self, path: Path, key: tuple[str, ...]):
        self.path, self.key = path, key
        self.temp = path.with_name(path.name + ".tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer: pq.ParquetWriter | None = None

    def write(self, keys: list[Key], hashes: list[bytes]) -> None:
        if not keys:
            return
        arrays = [pa.array(list(column)) for column in zip(*keys, strict=True)]
        arrays.append(pa.array(hashes, type=pa.binary(16)))
        table = pa.Table.from_arrays(arrays, names=[*self.key, HASH])
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.temp, table.schema)
        try:
            self._writer.write_table(table.cast(self._writer.schema))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise RunError(f"a change-mode key column changed type between rows: {exc}") from None

    def close(self) -> None:
        if self._writer is None:  # no row at all: an empty snapshot
            fields = [pa.field(c, pa.string()) for c in self.key]
            schema = pa.schema([*fields, pa.field(HASH, pa.binary(16))])
            self._writer = pq.ParquetWriter(self.temp, schema)
        self._writer.close()
        os.chmod(self.temp, 0o600)  # it holds the keys' values
        with open(self.temp, "rb") as done:  # durable before the ledger may name it
            os.fsync(done.fileno())
        os.replace(self.temp, self.path)


class Differ:
    """Walks the source's chunks (sorted by key) alongside the old snapshot."""

    def __init__(self, plan: ChangePlan):
        self.key = plan.key
        self.old = Snapshot(plan.before, plan.key)
        self.new = SnapshotWriter(plan.after, plan.key)
        self.last: Key | None = None
        self.columns: list[str] = list(plan.key)
        #: The last chunk with no rows: its columns' types, for the rows of deleted keys.
        self.template = pd.DataFrame(columns=self.columns)

    def changes(self, chunks: Iterator[pd.DataFrame]) -> Generator[pd.DataFrame, None, None]:
        """Each chunk's changes (maybe none), then the deletes past the source's last key."""
        for chunk in chunks:
            self.columns, self.template = list(chunk.columns), chunk.iloc[:0]
            yield self._chunk(chunk)
        while self.old.head is not None:
            deletes: list[Key] = []
            while self.old.head is not None and len(deletes) < BATCH:
                deletes.append(self.old.head[0])
                self.old.advance()
            yield self._frame(pd.DataFrame(columns=self.columns), [], deletes)
        self.new.close()

    def _chunk(self, chunk: pd.DataFrame) -> pd.DataFrame:
        if OP in chunk.columns:
            raise RunError(f"the rows have a column `{OP}`, which change mode adds; rename it")
        missing = [c for c in self.key if c not in chunk.columns]
        if missing:
            raise RunError(f"the change-mode key column(s) {missing} are not among the rows")
        keys = list(zip(*(_key_values(c, python_values(chunk[c])) for c in self.key), strict=True))
        hashes = row_hashes(chunk)
        changed: list[tuple[int, str]] = []  # (row position, op)
        deletes: list[Key] = []
        for position, (key, digest) in enumerate(zip(keys, hashes, strict=True)):
            self._check_order(key)
            while self.old.head is not None and self.old.head[0] < key:
                deletes.append(self.old.head[0])
                self.old.advance()
            if self.old.head is not None and self.old.head[0] == key:
                if self.old.head[1] != digest:
                    changed.append((position, "update"))
                self.old.advance()
            else:
                changed.append((position, "insert"))
        self.new.write(keys, hashes)
        return self._frame(chunk, changed, deletes)

    def _check_order(self, key: Key) -> None:
        # The merge is only right on keys in strictly increasing order; a source that sorts
        # text by a locale (not code point) or a key that repeats would give wrong changes.
        try:
            ordered = self.last is None or self.last < key
        except TypeError:
            ordered = False
        if not ordered:
            raise RunError(
                f"change mode needs unique keys returned in increasing order, but {key!r} "
                f"came after {self.last!r}: is the key unique, and does the database sort "
                'its text by code point (COLLATE "C" on PostgreSQL)?'
            )
        self.last = key

    def _frame(
        self, chunk: pd.DataFrame, changed: list[tuple[int, str]], deletes: list[Key]
    ) -> pd.DataFrame:
        """The changed rows as read, then the deleted keys (other columns NULL), with `_op`."""
        rows = chunk.iloc[[p for p, _ in changed]].reset_index(drop=True)
        rows.insert(0, OP, [op for _, op in changed])
        if not deletes:
            return rows
        gone = pd.DataFrame({OP: ["delete"] * len(deletes)})
        keys = dict(zip(self.key, zip(*deletes, strict=True), strict=True))
        for column in self.columns:
            values = list(keys.get(column, [None] * len(deletes)))
            gone[column] = _typed(values, self.template.get(column))
        if rows.empty:
            return gone
        return pd.concat([rows, gone], ignore_index=True)


def _typed(values: list[Any], like: pd.Series | None) -> pd.Series:
    """Deleted rows' values in the type of the chunk's column where it holds NULLs (Arrow
    types, floats, datetimes), so a format writes them as it writes the others (JSON stays
    nested); else as Python objects (an int64 column cannot hold NULL)."""
    dtype = like.dtype if like is not None else None
    holds_null = isinstance(dtype, pd.ArrowDtype) or (dtype is not None and dtype.kind in "fmM")
    if holds_null:
        try:
            return pd.Series(values, dtype=dtype)
        except (TypeError, ValueError, pa.ArrowException):
            pass
    return pd.Series(values, dtype=object)


def snapshot_name(run_id: str) -> str:
    return f"{run_id}.parquet"


def remove_stale(folder: Path, current: str | None) -> None:
    """Remove snapshots other than the current one (killed runs' and superseded ones)."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.name != current:
            path.unlink(missing_ok=True)


def folder(ledger_url: Any, spec: str) -> Path:
    """Where a spec's snapshots live: beside a SQLite ledger's file, else in the user's state.

    (A PostgreSQL ledger's snapshots stay on the host that ran the export.)
    """
    database = ledger_url.database if ledger_url.get_backend_name() == "sqlite" else None
    if database and database != ":memory:":
        base = Path(database).parent / "snapshots"
    else:
        state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        digest = hashlib.sha256(str(ledger_url).encode()).hexdigest()[:16]
        base = Path(state) / "exportctl" / "snapshots" / digest
    return base / hashlib.sha256(spec.encode()).hexdigest()[:16]
