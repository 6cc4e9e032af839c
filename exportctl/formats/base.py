"""What every format shares: the encoder protocol and exact value conversion."""

from __future__ import annotations

from typing import Any, BinaryIO, ClassVar, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from exportctl.errors import FormatError

# With microsecond timestamps Arrow's `%S` carries the fraction: 2024-01-02T03:04:05.000006Z.
ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


class Encoder(Protocol):
    """Writes chunks of rows to a binary stream it was given; `close` ends the document."""

    Options: ClassVar[type]
    extension: ClassVar[str]

    def __init__(self, options: Any, stream: BinaryIO) -> None: ...

    def write(self, chunk: pd.DataFrame) -> None: ...

    def close(self) -> None: ...


def to_arrow(chunk: pd.DataFrame) -> pa.Table:
    """The chunk as an Arrow table, timestamps and dates turned into ISO-8601 text.

    Timestamps always read `YYYY-MM-DDTHH:MM:SS.ffffffZ`, in UTC, whatever their
    unit; naive ones are taken to be UTC, as the origin system stores them.
    """
    table = pa.Table.from_pandas(chunk, preserve_index=False)
    for index, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            try:
                column = table.column(index).cast(pa.timestamp("us", tz="UTC"))
            except pa.ArrowInvalid:
                raise FormatError(
                    f"field `{field.name}` holds timestamps finer than a microsecond, "
                    "which exports carry only to the microsecond"
                ) from None
            table = table.set_column(index, field.name, pc.strftime(column, format=ISO_UTC))
        elif pa.types.is_date(field.type):
            table = table.set_column(index, field.name, table.column(index).cast(pa.string()))
    return table


def python_columns(chunk: pd.DataFrame) -> list[list[Any]]:
    """Each column as a list of plain Python values (None for NULL)."""
    table = to_arrow(chunk)
    for field in table.schema:
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            raise FormatError(
                f"field `{field.name}` holds binary data, which this format cannot carry as it is"
            )
    return [column.to_pylist() for column in table.columns]
