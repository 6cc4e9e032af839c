"""The patterns a `regex` log source may name or write, checked without reading a line."""

from __future__ import annotations

import re
from dataclasses import dataclass

from exportctl.errors import OptionError


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


def compiled(pattern: str) -> re.Pattern[str]:
    """The pattern a spec names or writes; ValueError saying what is wrong with it."""
    regex = BUILTINS[pattern].regex if pattern in BUILTINS else pattern
    try:
        found = re.compile(regex)
    except re.error as exc:
        raise OptionError("pattern", f"`pattern` is not a valid regex: {exc}") from None
    if "timestamp" not in found.groupindex:
        raise OptionError(
            "pattern", "`pattern` needs a `(?P<timestamp>...)` group: rows are read in time order"
        )
    if "file" in found.groupindex:
        raise OptionError(
            "pattern", "`pattern` cannot name a group `file`: that column names the log file"
        )
    return found


def builtin_time_format(pattern: str) -> str | None:
    return BUILTINS[pattern].time_format if pattern in BUILTINS else None
