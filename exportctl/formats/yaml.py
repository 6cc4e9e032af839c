"""YAML: one list of mappings, streamed a chunk at a time, read back by `yaml.safe_load`.

NaN and infinities are YAML's own `.nan`, `.inf` and `-.inf`, which `safe_load` reads back as
floats; a map (a `json: true` field) is a nested mapping. A string is quoted whenever a YAML 1.1
reader (PyYAML) or a YAML 1.2 reader (ruamel.yaml, libyaml-based 1.2 loaders, Go's, JS's) could
resolve its plain form to anything but a string, so every reader gets the same text back.
"""

from __future__ import annotations

import re
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
from exportctl.formats.options import YamlOptions

_SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_SafeDumper):  # type: ignore[misc,valid-type]
    """The safe dumper, with the plain forms other YAML readers resolve also quoted."""


#: Plain scalars the safe dumper's YAML 1.1 resolvers leave as strings but another reader does
#: not: the tag is only ever compared with `str`'s, so a match makes the dumper quote the value.
#: Wider than the grammars on purpose (a needless quote costs two bytes, a missing one a value):
#: YAML 1.2 numbers (`08123`, `1e3`, `0o17`, `1_000`, `+1`, `.5`), YAML 1.1's sexagesimal and
#: dotted forms, hexadecimal and binary, `.inf`/`.nan` in every case, and 1.1's `y`/`n` booleans.
_QUOTED_TAG = "tag:exportctl,2026:resolves-elsewhere"
_RESOLVED_ELSEWHERE = (
    (r"[-+]?[0-9.][0-9_.:]*(?:[eE][-+]?[0-9_]*)?", "-+0123456789."),
    (r"[-+]?0[xXoObB][0-9a-fA-F_]*", "-+0"),
    (r"[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)", "-+."),
    (r"[yYnN]|~|null|Null|NULL|true|True|TRUE|false|False|FALSE", "yYnN~NnTtFf"),
)
for _pattern, _first in _RESOLVED_ELSEWHERE:
    # add_implicit_resolver is PyYAML's public way to teach a dumper a plain form; on a
    # subclass it copies the table first, so yaml.SafeDumper itself is left as it was.
    _Dumper.add_implicit_resolver(_QUOTED_TAG, re.compile(f"^(?:{_pattern})$"), list(_first))


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
