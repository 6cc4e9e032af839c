"""JSON values from a source (PostgreSQL `json`/`jsonb`), carried as their JSON text.

A JSON column travels as Arrow's canonical JSON extension type (`arrow.json`, text
underneath) holding the text the database wrote. Parsing it into Python or Arrow
structures would change it: Arrow gives every object of a column the union of the
column's keys, and floats or 64-bit integers cannot hold every JSON number. Each
format writes the text itself (JSON, JSON Lines, CSV, Parquet's JSON type), or parses
it where it must (YAML, indented JSON) and fails, naming the field, where the value
cannot be written exactly.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pyarrow as pa

from exportctl.errors import FormatError, SourceError
from exportctl.values.json_numbers import json_integer

#: The Arrow type of a JSON column: the canonical `arrow.json` extension over UTF-8 text.
JSON = pa.json_()


class JsonText(str):
    """A JSON value as the database wrote it (the driver's JSON loader returns this)."""


def from_driver(data: str | bytes) -> JsonText:
    """A JSON value as the driver reads it, kept as text: a loader for json/jsonb."""
    return JsonText(data.decode("utf-8") if isinstance(data, bytes | bytearray) else data)


def checked(data: str | bytes) -> JsonText:
    """`from_driver` for a database that stores any text as JSON (SQLite): checked to be
    JSON, since formats write it as it is. The error shows where, not the value."""
    text = from_driver(data)
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        why = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        raise SourceError(f"a JSON column holds text that is not JSON ({why})") from None
    return text


def holds_json(value: Any) -> bool:
    """Whether a driver's value is JSON text, or an array (json[], jsonb[]) holding some."""
    if isinstance(value, list):
        return any(holds_json(v) for v in value)
    return isinstance(value, JsonText)


def as_json(value: Any) -> JsonText | None:
    """A driver's JSON value, or an array of them as the JSON array of those values."""
    if value is None or isinstance(value, JsonText):
        return value
    if isinstance(value, list):
        items = (as_json(v) for v in value)
        return JsonText("[" + ", ".join("null" if i is None else i for i in items) + "]")
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def is_json(t: pa.DataType) -> bool:
    """Whether `t` is the JSON extension type."""
    return isinstance(t, pa.JsonType)


#: A JSON string (escapes included), or white space outside strings, which JSON ignores.
_STRING_OR_SPACE = re.compile(r'("(?:[^"\\]|\\.)*")|[ \t\n\r]+', re.DOTALL)


def compact(text: str) -> str:
    """The JSON text without the white space between tokens: the same value, key order,
    duplicate keys and number texts, on one line."""
    return _STRING_OR_SPACE.sub(lambda m: m.group(1) or "", text)


def compact_texts(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A JSON column as compact JSON text (`pa.string()`), NULL kept."""
    values = column.to_pylist()
    return pa.array([None if v is None else compact(v) for v in values], pa.string())


def python_value(text: str, field: str) -> Any:
    """The JSON value as Python's dicts, lists, text and numbers, for formats that nest it;
    a FormatError naming the field where Python's values would change it."""
    try:
        return json.loads(
            text,
            object_pairs_hook=lambda pairs: _object(pairs, field),
            parse_int=json_integer,
            parse_float=lambda number: _float(number, field),
        )
    except ValueError as exc:
        raise FormatError(f"field `{field}` holds text that is not JSON ({exc})") from None


def _object(pairs: list[tuple[str, Any]], field: str) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        twice = sorted({k for k, _ in pairs if sum(k == o for o, _ in pairs) > 1})
        raise FormatError(
            f"field `{field}` holds a JSON object with the key {twice[0]!r} twice, which "
            "this format cannot keep; write it as json, jsonl, csv or parquet"
        )
    return found


def _float(number: str, field: str) -> float:
    value = float(number)
    if Decimal(number) != Decimal(repr(value)):  # the float written names another number
        raise FormatError(
            f"field `{field}` holds the JSON number {number}, which a float cannot hold "
            "exactly; write it as json (no indent), jsonl, csv or parquet"
        )
    return value
