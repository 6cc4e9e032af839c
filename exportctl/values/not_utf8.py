"""Text values that are not UTF-8, carried to validation instead of failing the read.

SQLite stores whatever bytes it is given in a TEXT column. Such a value is read as a
`NotUtf8` marker (in an object column, for the chunks that hold one), and validation
takes its row as invalid, naming the column and the row's key: `on_invalid: fail` fails
the run saying where, `skip` and `quarantine` keep the other rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pyarrow as pa


class NotUtf8:
    """The bytes of a text value that are not UTF-8, and where they were read. (Not a
    dataclass: orjson would write its fields; a quarantine file shows `str()`.)"""

    __slots__ = ("data", "where")

    def __init__(self, data: bytes, where: str = ""):
        self.data, self.where = data, where

    def __str__(self) -> str:
        """The bytes as text with `\\xff` escapes: how a quarantine file shows the value."""
        return self.data.decode("utf-8", "backslashreplace")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NotUtf8) and other.data == self.data

    def __hash__(self) -> int:
        return hash(self.data)

    def reason(self, column: str) -> str:
        at = f" ({self.where})" if self.where else ""
        return f"{column}: bytes that are not UTF-8 text{at}: {repr(self.data)[:60]}"


def decode(data: bytes) -> str | NotUtf8:
    """UTF-8 text, or the marker for bytes that are not (sqlite3's `text_factory`)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return NotUtf8(bytes(data))


def holds_markers(values: Sequence[object]) -> bool:
    return any(isinstance(v, NotUtf8) for v in values)


def object_column(values: Sequence[object], index: pd.Index) -> pd.Series:
    """A column holding markers: text and markers as Python objects."""
    return pd.Series(list(values), index=index, dtype=object)


def from_binary(frame: pd.DataFrame) -> pd.DataFrame:
    """A text column read as bytes because some were not UTF-8 (see sqlite_arrow), as text
    and markers."""
    for name in frame.columns:
        dtype = frame[name].dtype
        if isinstance(dtype, pd.ArrowDtype) and pa.types.is_binary(dtype.pyarrow_dtype):
            values = [decode(v) if isinstance(v, bytes) else None for v in frame[name].tolist()]
            frame[name] = object_column(values, frame.index)
    return frame


def locate(frame: pd.DataFrame, what: str, keys: Sequence[str], first_row: int) -> pd.DataFrame:
    """Each marker told where it is: `what` (a table), and the row's key columns' values, or
    its row number in the result when the key is not among the columns."""
    for name in frame.columns:
        column = frame[name]
        if column.dtype != object or not holds_markers(column.tolist()):
            continue
        placed = []
        for position, value in enumerate(column.tolist()):
            if isinstance(value, NotUtf8):
                row = frame.iloc[position]
                key = ", ".join(f"{k}={row[k]!r}" for k in keys if k in frame.columns)
                at = key if key and all(k in frame.columns for k in keys) else None
                value = NotUtf8(value.data, f"{what}, {at or f'row {first_row + position}'}")
            placed.append(value)
        frame[name] = object_column(placed, frame.index)
    return frame


def problems(chunk: pd.DataFrame) -> pd.Series | None:
    """Per row, its values that are not UTF-8, named; None if no row has one.

    Only an object column can hold a marker (the source checked the others' text as it
    read them), so a chunk without one costs nothing per row."""
    found: dict[int, list[str]] = {}
    for name in chunk.columns:
        if chunk[name].dtype != object:
            continue
        for position, value in enumerate(chunk[name].tolist()):
            if isinstance(value, NotUtf8):
                found.setdefault(position, []).append(value.reason(str(name)))
    if not found:
        return None
    joined = ["; ".join(found[at]) if at in found else None for at in range(len(chunk))]
    return pd.Series(joined, index=chunk.index, dtype=object)
