"""CSV per RFC 4180, written by Arrow's CSV writer.

Floats are written as Arrow writes them, the shortest text that reads back to the same
bits, with NaN and infinities as `nan`, `inf` and `-inf` (what Python's `float()` and
pandas read back). A map (a `json: true` field) is written as compact JSON text.
"""

from __future__ import annotations

import functools
import io
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from exportctl.errors import FormatError
from exportctl.formats.base import (
    Refusal,
    always,
    arrow_columns,
    fine_timestamps,
    is_binary,
    is_uuid,
    maps_as_json_text,
    refused_types,
    row_problems,
    to_arrow,
)
from exportctl.formats.options import CsvOptions
from exportctl.values.json_values import is_json

_QUOTING = {"strings": "needed", "all": "all_valid"}
_EOL = {"crlf": "\r\n", "lf": "\n"}


class CsvEncoder:
    """Text values are always quoted, so an empty string never reads back as NULL."""

    Options = CsvOptions
    extension = ".csv"

    @staticmethod
    def problems(chunk: pd.DataFrame, options: CsvOptions | None = None) -> pd.Series | None:
        """Per row, why CSV cannot hold it (nested values, bytes that are not UTF-8)."""
        columns = arrow_columns(chunk)
        refusals = fine_timestamps(columns) + _not_utf8(columns)
        refusals += refused_types(
            columns, lambda t: None if _writable(t) else f"CSV cannot hold a {t} value"
        )
        return row_problems(chunk, refusals)

    def __init__(self, options: CsvOptions, stream: BinaryIO):
        self.options = options
        self.stream = stream
        self.header_pending = options.header

    def write(self, chunk: pd.DataFrame) -> None:
        table = maps_as_json_text(to_arrow(chunk))
        options = pacsv.WriteOptions(
            include_header=self.header_pending,
            delimiter=self.options.delimiter,
            quoting_style=_QUOTING[self.options.quoting],
            null_string=self.options.null,
            eol=_EOL[self.options.line_terminator],
            # The chunk in one batch: a third less CPU than Arrow's default 1024 rows, and
            # one write to the stream instead of one per batch. The bytes are the same.
            batch_size=max(table.num_rows, 1),
        )
        try:
            pacsv.write_csv(table, self.stream, options)
        except OSError:
            raise  # the stream failed (a full disk, say): the destination says so
        except Exception as exc:  # Arrow says which type it cannot render
            raise FormatError(f"cannot write this data as CSV: {exc}") from exc
        self.header_pending = False

    def close(self) -> None:
        """CSV has no trailer."""


@functools.cache
def _writable(t: pa.DataType) -> bool:
    """Whether Arrow's CSV writer takes a column of type `t` (asked, not guessed), or `write`
    turns it into text (a map, JSON, a UUID)."""
    if is_json(t) or is_uuid(t):
        return True
    if pa.types.is_map(t):
        return pa.types.is_string(t.key_type) and pa.types.is_string(t.item_type)
    try:
        column = pa.array([None], t)
    except (pa.ArrowException, TypeError, ValueError):
        return True  # not a type we can probe; leave it to `write`
    try:
        pacsv.write_csv(pa.table({"x": column}), io.BytesIO())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return False
    return True


def _not_utf8(columns: dict[str, pa.ChunkedArray]) -> list[Refusal]:
    """Bytes are written as they are, so only text (valid UTF-8) can be."""
    refusals: list[Refusal] = []
    for name, column in columns.items():
        if is_binary(column.type):
            rows = np.array([v is not None and not _utf8(v) for v in column.to_pylist()], bool)
            why = "binary data that is not UTF-8 text cannot be written as CSV"
            refusals.append((rows, always(f"{name}: {why}")))
    return refusals


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
