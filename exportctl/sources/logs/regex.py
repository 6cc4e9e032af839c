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


@dataclass(frozen=True)
class Builtin:
    regex: str
    time_format: str | None = None


#: Patterns a spec may name instead of writing one.
BUILTINS = {
    # loguru's default text sink: `2024-01-02 03:04:05.678 | INFO     | app.db:connect:42 - text`
    "loguru_text": Builtin(
        r"(?P<timestamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) \| (?P<level>\w+) *\| "
        r"(?P<logger>[^:]*):(?P<function>[^:]*):(?P<line>\d+) - (?P<message>.*)"
    ),
    # Common Log Format: `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /" 200 2326`
    "common_log": Builtin(
        r"(?P<host>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<timestamp>[^\]]+)\] "
        r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+|-)',
        "%d/%b/%Y:%H:%M:%S %z",
    ),
}
INTEGER_GROUPS = frozenset({"line", "process", "thread"})


def compiled(pattern: str) -> re.Pattern[str]:
    """The pattern a spec names or writes; ValueError saying what is wrong with it."""
    regex = BUILTINS[pattern].regex if pattern in BUILTINS else pattern
    try:
        found = re.compile(regex)
    except re.error as exc:
        raise ValueError(f"`pattern` is not a valid regex: {exc}") from None
    if "timestamp" not in found.groupindex:
        raise ValueError(
            "`pattern` needs a `(?P<timestamp>...)` group: rows are read in time order"
        )
    if "file" in found.groupindex:
        raise ValueError("`pattern` cannot name a group `file`: that column names the log file")
    return found


def builtin_time_format(pattern: str) -> str | None:
    return BUILTINS[pattern].time_format if pattern in BUILTINS else None


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
