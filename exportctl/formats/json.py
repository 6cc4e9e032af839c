"""JSON (one array of objects, streamed) and JSON Lines (one object per line).

Every field is written, NULL included, in the order of the fields; floats use
the shortest text that reads back to the same bits, so every value reads back
as it was. JSON has no NaN or infinity: `non_finite` says how they are written
(the strings "NaN", "Infinity", "-Infinity" by default). A map (a `json: true`
field) is a nested object.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from exportctl.errors import FormatError
from exportctl.formats.base import (
    Refusal,
    arrow_columns,
    fine_timestamps,
    has_non_finite,
    is_binary,
    non_finite_text,
    python_values,
    refused_types,
    row_problems,
    rows_of,
    to_arrow,
)
from exportctl.formats.options import JsonlOptions, JsonOptions, NonFinite
from exportctl.values.json_values import compact_texts, is_json

Dumps = Callable[[dict[str, Any]], bytes]


def _reject(value: Any) -> Any:
    raise TypeError(f"a value of type {type(value).__name__} cannot be written as JSON")


def _dumps(indent: int | None) -> Dumps:
    if indent is None:
        return lambda row: orjson.dumps(row, default=_reject)
    pretty = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=indent, default=_reject)
    return lambda row: pretty.encode(row).encode("utf-8")


def _objects(chunk: pd.DataFrame, dumps: Dumps, non_finite: NonFinite) -> Iterator[bytes]:
    table = to_arrow(chunk)
    if non_finite == "error":
        _refuse_non_finite(table)
    names = table.column_names
    columns = [
        _values(column, non_finite, name) for name, column in zip(names, table.columns, strict=True)
    ]
    for row in zip(*columns, strict=True):
        try:
            yield dumps(dict(zip(names, row, strict=True)))
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise FormatError(f"cannot write a row as JSON: {exc}") from None


def _rows(chunk: pd.DataFrame, non_finite: NonFinite, end: str) -> pa.Array:
    """Each row as compact JSON text followed by `end`, built column by column.

    The same bytes as `dumps` gives row by row (orjson's), five times faster: text is
    escaped as orjson escapes it, by Arrow, and numbers are orjson's own text for the
    whole column at once; other values (maps, and text with rarer control characters)
    are dumped one by one.
    """
    table = to_arrow(chunk)
    if non_finite == "error":
        _refuse_non_finite(table)
    pieces: list[Any] = []
    for index, (name, column) in enumerate(zip(table.column_names, table.columns, strict=True)):
        key = orjson.dumps(name).decode()
        texts = _texts(column, non_finite).cast(pa.string())  # one type for the join
        pieces += [("{" if index == 0 else ",") + key + ":", texts]
    if not pieces:
        return pa.array(["{}" + end] * table.num_rows, pa.string())
    return pc.binary_join_element_wise(*pieces, "}" + end, "")


def _texts(column: pa.ChunkedArray, non_finite: NonFinite) -> pa.Array:
    """The column's values as JSON text, `null` for NULL."""
    values = column.combine_chunks()
    kind = values.type
    if is_json(kind):  # the value's own text: every key, number and order as it was
        return pc.fill_null(compact_texts(values), "null")
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _string_texts(values.cast(pa.string()))
    if pa.types.is_integer(kind):
        return pc.fill_null(values.cast(pa.string()), "null")
    if pa.types.is_boolean(kind):
        return pc.fill_null(pc.if_else(values, "true", "false"), "null")
    if pa.types.is_floating(kind):
        listed = _values(values, non_finite)
        if not listed:
            return pa.array([], pa.string())
        return pa.array(orjson.dumps(listed)[1:-1].split(b","), pa.string())
    try:
        texts = [orjson.dumps(v, default=_reject) for v in _values(values, non_finite)]
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise FormatError(f"cannot write a row as JSON: {exc}") from None
    return pa.array(texts, pa.string())


def _string_texts(values: pa.Array) -> pa.Array:
    """Text as JSON strings, as orjson writes them: the values that hold nothing JSON
    escapes (control characters, `"`, `\\`) quoted by Arrow, the others dumped by orjson.

    Those bytes are looked for in the column's bytes at once (in UTF-8 they never occur
    inside another character), and each found is placed in its value by the offsets."""
    data, bounds = _data_and_bounds(values)
    found = np.frombuffer(data, np.uint8)
    quoted = pc.fill_null(pc.binary_join_element_wise('"', values, '"', ""), "null")
    escaped = np.flatnonzero((found < 0x20) | (found == 0x22) | (found == 0x5C))
    if len(escaped) == 0:
        return quoted
    # The value each escaped byte is in: memory in escaped bytes, not in the column's bytes.
    holding = np.searchsorted(bounds - bounds[0], escaped, side="right") - 1
    marks = np.zeros(len(values), bool)
    marks[holding] = True
    if marks.sum() * 8 > len(values):  # many: Arrow's passes, no Python object a value
        return _escaped_by_arrow(values, bytes(data))
    dirty = pa.array(marks)
    texts = [orjson.dumps(v) for v in values.filter(dirty).to_pylist()]
    return pc.replace_with_mask(quoted, dirty, pa.array(texts, pa.string()))


#: Control characters orjson writes as `\u00XX`; the others (\b\t\n\f\r) have short escapes.
_LONG_ESCAPES = r"[\x00-\x07\x0b\x0e-\x1f]"
_LONG_ESCAPE_BYTES = [bytes([c]) for c in (*range(0x08), 0x0B, *range(0x0E, 0x20))]
_SHORT_ESCAPES = (
    ("\\", "\\\\"),
    ('"', '\\"'),
    ("\n", "\\n"),
    ("\r", "\\r"),
    ("\t", "\\t"),
    ("\x08", "\\b"),
    ("\x0c", "\\f"),
)


def _escaped_by_arrow(values: pa.Array, text: bytes) -> pa.Array:
    """A column where many values need escapes (JSON text, say): each short escape the
    column's bytes hold replaced by an Arrow pass, the rare other control characters by
    orjson. (orjson value by value held 26 MiB more at the peak of a log export.)"""
    escaped = values
    for plain, replacement in _SHORT_ESCAPES:
        if plain.encode() in text:
            escaped = pc.replace_substring(escaped, plain, replacement)
    quoted = pc.fill_null(pc.binary_join_element_wise('"', escaped, '"', ""), "null")
    if any(control in text for control in _LONG_ESCAPE_BYTES):
        rare = pc.fill_null(pc.match_substring_regex(values, _LONG_ESCAPES), False)
        texts = [orjson.dumps(v) for v in values.filter(rare).to_pylist()]
        quoted = pc.replace_with_mask(quoted, rare, pa.array(texts, pa.string()))
    return quoted


def _data(rows: pa.Array) -> memoryview:
    """The text of a string array's values, back to back, without copying them."""
    return _data_and_bounds(rows)[0]


def _data_and_bounds(rows: pa.Array) -> tuple[memoryview, np.ndarray]:
    """`_data`, and where each value starts in the data buffer (and where the last ends)."""
    _, offsets, data = rows.buffers()
    if len(rows) == 0 or data is None:  # Arrow may leave out the buffer of no text at all
        return memoryview(b""), np.zeros(len(rows) + 1, np.int32)
    bounds = np.frombuffer(offsets, np.int32)[rows.offset : rows.offset + len(rows) + 1]
    return memoryview(data)[bounds[0] : bounds[-1]], bounds


def _values(column: pa.ChunkedArray | pa.Array, non_finite: NonFinite, name: str = "") -> list[Any]:
    """The column's values for `dumps`, NaN and infinities replaced as `non_finite` says."""
    values = python_values(column, name)
    if non_finite == "error" or not has_non_finite(column):
        return values
    shown = non_finite_text if non_finite == "string" else lambda v: None
    return [v if v is None or math.isfinite(v) else shown(v) for v in values]


def _refuse_non_finite(table: pa.Table) -> None:
    """JSON has no NaN or infinity; orjson would quietly write null."""
    for name, column in zip(table.column_names, table.columns, strict=True):
        if not pa.types.is_floating(column.type):
            continue
        # filter() drops NULLs; a chunk with no rows, or only NULLs, has nothing to refuse.
        bad = column.filter(pc.invert(pc.is_finite(column)))
        if len(bad):
            raise FormatError(f"field `{name}` holds {bad[0]}, which JSON cannot represent")


def _problems(chunk: pd.DataFrame, indent: int | None, non_finite: NonFinite) -> pd.Series | None:
    """Rows with a value `write` would refuse: bytes, decimals, durations; NaN and infinity
    with `non_finite: error`."""
    columns = arrow_columns(chunk)
    refusals = fine_timestamps(columns)
    if non_finite == "error":
        refusals += _non_finite(columns)
    refusals += refused_types(columns, lambda t: _refused(t, indent))
    return row_problems(chunk, refusals)


def _non_finite(columns: dict[str, pa.ChunkedArray]) -> list[Refusal]:
    refusals: list[Refusal] = []
    for name, column in columns.items():
        if pa.types.is_floating(column.type):
            rows = rows_of(pc.invert(pc.is_finite(column)))
            refusals.append((rows, _shown_value(name, column)))
    return refusals


def _shown_value(name: str, column: pa.ChunkedArray) -> Callable[[int], str]:
    return lambda position: f"{name}: {column[position]} cannot be written as JSON"


def _refused(t: pa.DataType, indent: int | None) -> str | None:
    """Why JSON cannot hold a non-NULL value of type `t`, or None if it can."""
    if is_binary(t):
        return "binary data cannot be written as JSON"
    if pa.types.is_decimal(t):
        return "a decimal cannot be written as JSON exactly; cast it to a float or text"
    if pa.types.is_duration(t):
        return "a duration cannot be written as JSON; cast it to a number or text"
    if pa.types.is_time(t) and indent is not None:  # orjson writes times; json does not
        return "a time of day cannot be written as indented JSON; cast it to text"
    return None


class JsonlEncoder:
    Options = JsonlOptions
    extension = ".jsonl"

    @staticmethod
    def problems(chunk: pd.DataFrame, options: JsonlOptions | None = None) -> pd.Series | None:
        """Per row, why JSON Lines cannot hold it; None if every row is fine."""
        return _problems(chunk, None, (options or JsonlOptions()).non_finite)

    def __init__(self, options: JsonlOptions, stream: BinaryIO):
        self.stream = stream
        self.dumps = _dumps(None)
        self.non_finite = options.non_finite

    def write(self, chunk: pd.DataFrame) -> None:
        self.stream.write(_data(_rows(chunk, self.non_finite, "\n")))

    def close(self) -> None:
        """JSON Lines has no trailer."""


class JsonEncoder:
    """A single array, written as it streams: `[` first, `]` at close."""

    Options = JsonOptions
    extension = ".json"

    @staticmethod
    def problems(chunk: pd.DataFrame, options: JsonOptions | None = None) -> pd.Series | None:
        """Per row, why JSON cannot hold it; None if every row is fine."""
        options = options or JsonOptions()
        return _problems(chunk, options.indent, options.non_finite)

    def __init__(self, options: JsonOptions, stream: BinaryIO):
        self.stream = stream
        self.dumps = _dumps(options.indent)
        self.indent = options.indent
        self.non_finite = options.non_finite
        self.separator = b"\n"
        self.stream.write(b"[")

    def write(self, chunk: pd.DataFrame) -> None:
        if self.indent is not None:
            parts: list[bytes] = []
            for obj in _objects(chunk, self.dumps, self.non_finite):
                parts += (self.separator, obj)
                self.separator = b",\n"
            self.stream.write(b"".join(parts))
            return
        if chunk.empty:
            return
        # Each row after its separator; the document's first row has a bare line break.
        data = _data(pc.binary_join_element_wise(",\n", _rows(chunk, self.non_finite, ""), ""))
        if self.separator == b"\n":
            self.stream.write(b"\n")
            data = data[2:]
        self.stream.write(data)
        self.separator = b",\n"

    def close(self) -> None:
        self.stream.write(b"\n]\n")
