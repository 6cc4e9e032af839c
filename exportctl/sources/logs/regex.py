"""`format: regex`: plain-text lines cut into columns by a regex's named groups.

The columns are the pattern's named groups in order, then `file`. `timestamp` (required)
is read as a time in UTC; `line`, `process` and `thread` are integers; the rest is text.
A line the pattern does not match, whole, is malformed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

import pyarrow as pa

from exportctl.sources.logs.lines import Malformed, decoded, parse_time

INTEGER_GROUPS = frozenset({"line", "process", "thread"})


def _schema(pattern: re.Pattern[str]) -> pa.Schema:
    def kind(name: str) -> pa.DataType:
        if name == "timestamp":
            return pa.timestamp("us", tz="UTC")
        return pa.int64() if name in INTEGER_GROUPS else pa.string()

    names = sorted(pattern.groupindex, key=pattern.groupindex.__getitem__)
    return pa.schema([(n, kind(n)) for n in names] + [("file", pa.string())])


@dataclass(frozen=True)
class RegexParser:
    pattern: re.Pattern[str]
    time_format: str | None
    zone: tzinfo

    @property
    def schema(self) -> pa.Schema:
        return _schema(self.pattern)

    def __call__(self, line: bytes, file: str) -> tuple[dict[str, Any], int | None]:
        found = self.pattern.fullmatch(decoded(line))
        if found is None:
            raise Malformed(f"does not match the pattern {self.pattern.pattern!r}")
        row: dict[str, Any] = found.groupdict()
        row["timestamp"] = parse_time(row["timestamp"], self.time_format, self.zone)
        for name in INTEGER_GROUPS & row.keys():
            value = row[name]
            if value is not None:
                if not re.fullmatch(r"[+-]?\d{1,18}", value):
                    raise Malformed(f"`{name}` is {value!r}, not an integer")
                row[name] = int(value)
        row["file"] = file
        return row, None
