"""JSON (one array of objects, streamed) and JSON Lines (one object per line).

Every field is written, NULL included, in the order of the fields; floats use
Python's shortest exact repr, so every value reads back as it was.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import pandas as pd

from exportctl.errors import FormatError
from exportctl.formats.base import python_columns


@dataclass(frozen=True)
class JsonOptions:
    indent: int | None = None


@dataclass(frozen=True)
class JsonlOptions:
    pass


def _reject(value: Any) -> Any:
    raise FormatError(f"a value of type {type(value).__name__} cannot be written as JSON")


def _objects(chunk: pd.DataFrame, encoder: json.JSONEncoder) -> Iterator[str]:
    names = [str(c) for c in chunk.columns]
    for row in zip(*python_columns(chunk), strict=True):
        try:
            yield encoder.encode(dict(zip(names, row, strict=True)))
        except ValueError:
            bad = next(n for n, v in zip(names, row, strict=True) if _not_finite(v))
            raise FormatError(
                f"field `{bad}` holds {row[names.index(bad)]}, which JSON cannot represent"
            ) from None


def _not_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _encoder(indent: int | None = None) -> json.JSONEncoder:
    return json.JSONEncoder(
        ensure_ascii=False,
        allow_nan=False,
        indent=indent,
        separators=(",", ": ") if indent is not None else (",", ":"),
        default=_reject,
    )


class JsonlEncoder:
    Options = JsonlOptions
    extension = ".jsonl"

    def __init__(self, options: JsonlOptions, stream: BinaryIO):
        self.stream = stream
        self.encoder = _encoder()

    def write(self, chunk: pd.DataFrame) -> None:
        lines = "".join(f"{obj}\n" for obj in _objects(chunk, self.encoder))
        self.stream.write(lines.encode("utf-8"))

    def close(self) -> None:
        """JSON Lines has no trailer."""


class JsonEncoder:
    """A single array, written as it streams: `[` first, `]` at close."""

    Options = JsonOptions
    extension = ".json"

    def __init__(self, options: JsonOptions, stream: BinaryIO):
        self.stream = stream
        self.encoder = _encoder(options.indent)
        self.separator = "\n"
        self.stream.write(b"[")

    def write(self, chunk: pd.DataFrame) -> None:
        parts = []
        for obj in _objects(chunk, self.encoder):
            parts.append(self.separator)
            parts.append(obj)
            self.separator = ",\n"
        self.stream.write("".join(parts).encode("utf-8"))

    def close(self) -> None:
        self.stream.write(b"\n]\n")
