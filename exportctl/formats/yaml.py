"""YAML: one list of mappings, streamed a chunk at a time, read back by `yaml.safe_load`.

NaN and infinities are YAML's own `.nan`, `.inf` and `-.inf`, which `safe_load` reads back as
floats; a map (a `json: true` field) is a nested mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import yaml

from exportctl.errors import FormatError
from exportctl.formats.base import (
    arrow_columns,
    fine_timestamps,
    is_binary,
    python_columns,
    refused_types,
    row_problems,
)

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class YamlOptions:
    pass


class YamlEncoder:
    """Every field kept, NULL as `null`, in field order; floats in their exact repr."""

    Options = YamlOptions
    extension = ".yaml"

    @staticmethod
    def problems(chunk: pd.DataFrame, options: YamlOptions | None = None) -> pd.Series | None:
        """Per row, why YAML cannot hold it (bytes; decimals, times, durations)."""
        columns = arrow_columns(chunk)
        refusals = fine_timestamps(columns) + refused_types(columns, _refused)
        return row_problems(chunk, refusals)

    def __init__(self, options: YamlOptions, stream: BinaryIO):
        self.stream = stream
        self.empty = True

    def write(self, chunk: pd.DataFrame) -> None:
        names = [str(c) for c in chunk.columns]
        rows = [dict(zip(names, r, strict=True)) for r in zip(*python_columns(chunk), strict=True)]
        if rows:
            try:
                text = yaml.dump(
                    rows, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 30
                )
            except yaml.representer.RepresenterError as exc:
                kind = type(exc.args[-1]).__name__  # the value itself may be a secret
                raise FormatError(f"YAML cannot hold a value of type {kind}") from None
            self.stream.write(text.encode("utf-8"))
            self.empty = False

    def close(self) -> None:
        if self.empty:
            self.stream.write(b"[]\n")


def _refused(t: pa.DataType) -> str | None:
    """Why a non-NULL value of type `t` cannot be written, or None if it can."""
    if is_binary(t):
        return "binary data cannot be written as YAML"
    # The safe dumper has no representation for these, and a reader could not load one.
    for test, what in (
        (pa.types.is_decimal, "a decimal"),
        (pa.types.is_time, "a time of day"),
        (pa.types.is_duration, "a duration"),
    ):
        if test(t):
            return f"{what} cannot be written as YAML; cast it to a number or text"
    return None
