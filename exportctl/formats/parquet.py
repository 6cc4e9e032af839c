"""Parquet, with its own column compression; values keep their Arrow types exactly."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from exportctl.errors import FormatError
from exportctl.formats.base import arrow_table
from exportctl.formats.options import ParquetOptions


def join(parts: Iterable[BinaryIO], target: BinaryIO, options: ParquetOptions) -> None:
    """Parquet files of one schema as one: each part's row groups copied as row groups,
    their values as Arrow read them (exactly). A part without rows adds nothing; with no
    rows at all, the first part's schema makes an empty file."""
    writer: pq.ParquetWriter | None = None
    first: pa.Schema | None = None
    for part in parts:
        file = pq.ParquetFile(pa.BufferReader(part.read()))
        first = first or file.schema_arrow
        for index in range(file.num_row_groups):
            group = file.read_row_group(index)
            if writer is None:
                writer = pq.ParquetWriter(target, group.schema, compression=options.codec)
            if not group.schema.equals(writer.schema):
                raise FormatError(
                    f"the parts' Parquet schemas differ, so they cannot be merged: "
                    f"{writer.schema} and {group.schema}"
                )
            writer.write_table(group, row_group_size=max(1, group.num_rows))
    if writer is None:
        writer = pq.ParquetWriter(target, first or pa.schema([]), compression=options.codec)
    writer.close()


class ParquetEncoder:
    """Timestamps stay timestamps (UTC), integers stay 64-bit, NULL stays NULL."""

    Options = ParquetOptions
    extension = ".parquet"
    #: How its parts join into one file (`engine.merge`); other formats concatenate.
    join = staticmethod(join)

    def __init__(self, options: ParquetOptions, stream: BinaryIO):
        self.options = options
        #: The writer writes through this, so that `discard` can cut it off from `stream`.
        self.stream = _Detachable(stream)
        self.writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None

    def write(self, chunk: pd.DataFrame) -> None:
        table = _utc_instants(arrow_table(chunk))
        if self.writer is None:
            self.schema = _settled(table.schema)
            self.writer = pq.ParquetWriter(self.stream, self.schema, compression=self.options.codec)
        self.writer.write_table(_cast(table, self.schema), self.options.row_group_rows)

    def close(self) -> None:
        if self.writer is None:  # no chunk at all: an empty file still needs a schema
            self.writer = pq.ParquetWriter(self.stream, pa.schema([]))
        self.writer.close()

    def discard(self) -> None:
        """The file is being thrown away: close the writer without touching the stream.

        Left open, the writer would finish the file when garbage-collected, writing to a
        stream closed by then ("Exception ignored in ParquetWriter.__del__").
        """
        self.stream.cut_off()
        if self.writer is not None:
            with contextlib.suppress(pa.ArrowException, OSError):  # the run's error is reported
                self.writer.close()  # its trailer goes nowhere


class _Detachable(io.RawIOBase):
    """Passes writes on to `target` until detached; then swallows them."""

    def __init__(self, target: BinaryIO):
        self.target: BinaryIO | None = target

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self.target is not None:
            self.target.write(data)
        return memoryview(data).nbytes

    def flush(self) -> None:
        if self.target is not None:
            self.target.flush()

    def cut_off(self) -> None:
        self.target = None

    def close(self) -> None:
        self.target = None  # the destination closes its own stream
        super().close()


_UTC = pa.timestamp("us", tz="UTC")


def _utc_instants(table: pa.Table) -> pa.Table:
    """Timestamps as UTC instants (`isAdjustedToUTC`), to the microsecond: naive ones are
    UTC, as the origin system stores them; finer ones are refused, as in the text formats."""
    for index, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type != _UTC:
            try:
                table = table.set_column(index, field.name, table.column(index).cast(_UTC))
            except pa.ArrowInvalid:
                raise FormatError(
                    f"field `{field.name}` holds timestamps finer than a microsecond, "
                    "which exports carry only to the microsecond"
                ) from None
    return table


def _settled(schema: pa.Schema) -> pa.Schema:
    """A column NULL throughout the first chunk has no type yet (a source that does not
    type its columns): text, and a later chunk must agree (see `_cast`)."""
    return pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in schema])


def _cast(table: pa.Table, schema: pa.Schema | None) -> pa.Table:
    """A later chunk in the file's schema. Only a column NULL throughout the chunk is cast:
    casting values (numbers to text, say) would make a column's type depend on where a
    chunk boundary falls, so a chunk of another type fails the run, naming the column."""
    assert schema is not None
    if table.schema.equals(schema):
        return table
    for field, wanted in zip(table.schema, schema, strict=True):
        if field.type != wanted.type and not pa.types.is_null(field.type):
            raise FormatError(
                f"column `{wanted.name}` holds {field.type} values in a later chunk but "
                f"{wanted.type} in the first; the source does not type it, so declare its "
                "type (a field's `type`) or cast it in the query to one type"
            )
    return table.cast(schema)
