"""SQLite read straight into Arrow (the ADBC SQLite driver), for a table's typed columns.

The general path fetches Python tuples through sqlite3 and SQLAlchemy and builds
Arrow arrays from them; this one has the driver fill Arrow batches in C, about four
times faster. Values come out the same: the driver reads a column's storage class
as sqlite3 does, booleans are SQLAlchemy's `bool(int)`, and timestamps in the form
SQLAlchemy stores them are parsed by Arrow, any other text by SQLAlchemy itself.

The driver infers a column's type from the first batch and holds every later batch
to it. So `stream` returns None, before anything is read for good, when the first
batch's types are not those the table declares (a column NULL throughout it, say):
the caller then reads through the general path instead. A later value of another
storage class fails the read, as on the general path (a BLOB in a text column is
checked for here); but in a text column without TEXT affinity, which SQLAlchemy does
not map to text, the driver would write a number as text where the general path
refuses it.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, suppress
from functools import partial
from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from exportctl.errors import SourceError, TransientError
from exportctl.sources.sql import sqlite_files

try:
    import adbc_driver_manager
    import adbc_driver_sqlite.dbapi as adbc_sqlite
except ImportError:  # pragma: no cover - an installation without the driver reads the slow way
    adbc_sqlite = None  # type: ignore[assignment]

#: SQLAlchemy's SQLite DATETIME storage form, the only text Arrow is trusted to parse.
_STORED_DATETIME = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$"
#: EXPORTCTL_SQLITE_ARROW=0 reads the general way: an escape hatch, and how tests compare.
SWITCH = "EXPORTCTL_SQLITE_ARROW"

Convert = Callable[[pa.Array], pa.Array]


def available(url: sa.URL) -> bool:
    """Whether `url` names a SQLite file this path can open (not memory, not a URI)."""
    database = url.database or ""
    return (
        os.environ.get(SWITCH, "1") != "0"
        and adbc_sqlite is not None
        and url.get_backend_name() == "sqlite"
        and not url.query
        and database not in ("", ":memory:")
        and not database.startswith("file:")
    )


def converters(
    columns: Sequence[Any], types: Sequence[pa.DataType | None], dialect: sa.Dialect
) -> list[tuple[pa.DataType, Convert]] | None:
    """Per selected column, the Arrow type the driver should give and how to finish it; None
    when a column's type is one this path does not read (dates, bytes, decimals, untyped)."""
    found: list[tuple[pa.DataType, Convert]] = []
    for column, arrow_type in zip(columns, types, strict=True):
        if arrow_type is None:
            return None
        if pa.types.is_boolean(arrow_type):
            found.append((pa.int64(), _boolean))
        elif pa.types.is_timestamp(arrow_type):
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
            found.append((pa.string(), _timestamps(arrow_type, process)))
        elif arrow_type == pa.string():
            found.append((arrow_type, partial(_text, column.name)))
        elif arrow_type in (pa.int64(), pa.float64()):
            found.append((arrow_type, _same))
        else:
            return None
    return found


def _same(values: pa.Array) -> pa.Array:
    return values


def _text(name: str, values: pa.Array) -> pa.Array:
    """Text as it is, once checked to be UTF-8: the driver passes text that is not (or a
    BLOB in a text column) on as its bytes. Then the column is bytes, in this batch only,
    which the source turns into text and `not_utf8` markers for validation to take."""
    try:
        values.validate(full=True)
    except pa.ArrowInvalid:
        return values.view(pa.binary())
    return values


def _boolean(values: pa.Array) -> pa.Array:
    """SQLAlchemy reads SQLite's 0 and 1 (any integer) as `bool(value)`."""
    return pc.not_equal(values, 0)


#: `_STORED_DATETIME` as bytes: where its digits are, and its separators.
_STORED_WIDTH = 26
_DIGITS = [i for i in range(_STORED_WIDTH) if i not in (4, 7, 10, 13, 16, 19)]
_SEPARATORS = np.frombuffer(b"--  ::.", np.uint8)[[0, 1, 2, 4, 5, 6]]


def _all_stored(values: pa.Array) -> bool:
    """Whether every value is in `_STORED_DATETIME`'s form, asked of the column's bytes at
    once (ten times faster than the regex per value); False when it cannot tell (NULLs,
    other widths), and the regex decides."""
    size = len(values)
    _, offsets, data = values.buffers()
    if values.null_count or size == 0 or data is None:
        return False
    bounds = np.frombuffer(offsets, np.int32)[values.offset : values.offset + size + 1]
    if bounds[-1] - bounds[0] != size * _STORED_WIDTH:
        return False
    text = np.frombuffer(data, np.uint8)[bounds[0] : bounds[-1]].reshape(size, _STORED_WIDTH)
    digits = text[:, _DIGITS] - np.uint8(ord("0"))  # wraps below "0": not a digit either
    return bool((digits <= 9).all() and (text[:, [4, 7, 10, 13, 16, 19]] == _SEPARATORS).all())


def _timestamps(arrow_type: pa.DataType, process: Callable[[Any], Any] | None) -> Convert:
    def convert(values: pa.Array) -> pa.Array:
        stored = True if _all_stored(values) else None
        if stored is None:
            stored = pc.all(pc.match_substring_regex(values, _STORED_DATETIME)).as_py()
        if stored is not False:  # True, or NULL where every value is NULL
            try:
                return values.cast(pa.timestamp("us")).cast(arrow_type)
            except pa.ArrowInvalid:  # a day that does not exist: SQLAlchemy says which
                pass
        assert process is not None
        return pa.array([None if v is None else process(v) for v in values.to_pylist()], arrow_type)

    return convert


def statement(select: sa.Select[Any], dialect: sa.Dialect) -> tuple[str, tuple[Any, ...]]:
    """The SQL and its parameters in order, bound as SQLAlchemy binds them (DATETIME as
    text, booleans as 0 and 1, IN lists expanded)."""
    compiled = select.compile(dialect=dialect)
    expanded = compiled.construct_expanded_state()
    values = []
    for name in expanded.positiontup or ():
        # An IN list's values have their processors here; the other parameters their binds.
        process = expanded.processors.get(name)
        if process is None and name in compiled.binds:
            bind_type = compiled.binds[name].type
            process = bind_type.dialect_impl(dialect).bind_processor(dialect)
        value = expanded.parameters[name]
        values.append(process(value) if process else value)
    return expanded.statement, tuple(values)


class Batches(AbstractContextManager["Batches"]):
    """One query's result as Arrow tables of `chunk_size` rows, typed as the table says."""

    def __init__(self, path: str, chunk_size: int, where: str, busy_timeout: float = 5.0):
        assert adbc_sqlite is not None
        self.where = where
        self.busy_timeout = busy_timeout
        self.chunk_size = chunk_size
        self.ahead: _ReadAhead | None = None
        #: The result's column names, once a statement runs: the driver's errors number them.
        self.names: list[str] = []
        with self._translated():
            self.connection = adbc_sqlite.connect(path, autocommit=True)
            self.cursor = self.connection.cursor()
            # As the general path's session: LIKE is case-sensitive, a source is only read,
            # and a writer's lock is waited for as long as the general path waits.
            self.cursor.execute("PRAGMA case_sensitive_like = ON")
            self.cursor.execute("PRAGMA query_only = ON")
            self.cursor.execute(f"PRAGMA busy_timeout = {round(busy_timeout * 1000)}")
            self.cursor.adbc_statement.set_options(
                **{"adbc.sqlite.query.batch_rows": str(chunk_size)}
            )

    def stream(
        self,
        sql: str,
        params: tuple[Any, ...],
        names: list[str],
        wanted: list[tuple[pa.DataType, Convert]],
    ) -> Iterator[pa.Table] | None:
        """The batches, or None (having read only the first) if the driver typed a column
        otherwise than the table declares it."""
        self.names = names
        with self._translated():
            self.cursor.execute(sql, params if params else None)
            reader = self.cursor.fetch_record_batch()
            first = next(iter(reader), None)
        if first is None or first.num_rows == 0:
            return None  # no rows: the general path gives the empty file its types
        if [f.type for f in first.schema] != [t for t, _ in wanted]:
            return None
        return self._tables(first, reader, names, [c for _, c in wanted])

    def _tables(
        self, first: pa.RecordBatch, reader: Any, names: list[str], convert: list[Convert]
    ) -> Iterator[pa.Table]:
        self.ahead = _ReadAhead(reader)
        batch: pa.RecordBatch | None = first
        while batch is not None:
            arrays = [c(batch.column(i)) for i, c in enumerate(convert)]
            yield pa.Table.from_arrays(arrays, names=names)
            with self._translated():
                batch = self.ahead.next()

    def _translated(self) -> AbstractContextManager[None]:
        return _Translated(self.where, self.busy_timeout, self.names)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Closed on any exit: an open statement holds SQLite's read lock. The reading
        # thread first, as the statement cannot close under it.
        if self.ahead is not None:
            self.ahead.close()
        for closeable in (getattr(self, "cursor", None), getattr(self, "connection", None)):
            if closeable is not None:
                with suppress(adbc_driver_manager.Error):
                    closeable.close()


class _ReadAhead:
    """Reads the next batches in a thread while the export encodes this one.

    The driver steps SQLite in C with the GIL released, so reading and encoding use
    both cores; two batches ahead at most, so memory stays a few chunks.
    """

    def __init__(self, reader: Any, depth: int = 2):
        self.reader = reader
        self.queue: queue.Queue[tuple[str, Any]] = queue.Queue(depth)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, name="sqlite-read-ahead", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for batch in self.reader:
                if not self._put(("batch", batch)):
                    return
            self._put(("end", None))
        except BaseException as exc:  # raised in the reading thread, re-raised in `next`
            self._put(("error", exc))

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def next(self) -> pa.RecordBatch | None:
        kind, item = self.queue.get()
        if kind == "error":
            raise item
        if kind == "end":
            self.queue.put(("end", None))  # a later call gets the end again
            return None
        return item

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


class _Translated(AbstractContextManager[None]):
    """The driver's errors as the general path words them: the source's failure."""

    def __init__(self, where: str, busy_timeout: float, names: Sequence[str] = ()):
        self.where = where
        self.busy_timeout = busy_timeout
        self.names = names

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(error, adbc_driver_manager.Error | OSError):
            message = str(error).removeprefix("[SQLite] ").strip()
            if sqlite_files.is_busy(error):
                hint = sqlite_files.busy_hint(self.busy_timeout)
                raise TransientError(f"{self.where}: {message}{hint}") from None
            mismatch = re.match(r"Type mismatch in column (\d+)", message)
            if mismatch is None:
                raise SourceError(f"{self.where}: {message}") from None
            index = int(mismatch.group(1))
            column = f"`{self.names[index]}`" if index < len(self.names) else "a column"
            raise SourceError(
                f"{self.where}: {message}; column {column} holds values of mixed or "
                "unexpected types: cast it in the query to one type"
            ) from None
