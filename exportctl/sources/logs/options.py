"""The typed options of a `logs` source, checked where the schema cannot check them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exportctl.errors import OptionError
from exportctl.sources.logs import levels, patterns

#: Options that only one line format reads.
_ONLY_FOR = {
    "pattern": "regex",
    "time_field": "jsonl",
    "level_field": "jsonl",
    "message_field": "jsonl",
}


@dataclass(frozen=True)
class LogOptions:
    path: str = ""
    format: Literal["loguru", "jsonl", "regex", "logfmt"] = "loguru"
    on_malformed: Literal["fail", "skip"] = "fail"
    max_line_bytes: int = 1 << 20
    chunk_size: int = 10_000
    #: Keep lines at this level or above (a name or a number).
    min_level: str | int | None = None
    #: Keep lines whose message `re.search` finds this in.
    message_regex: str | None = None
    # format: regex
    pattern: str | None = None
    # format: jsonl
    time_field: str | None = None
    level_field: str | None = None
    message_field: str | None = None
    # format: jsonl and regex (timezone: logfmt too)
    time_format: str | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        for name, fmt in _ONLY_FOR.items():
            if getattr(self, name) is not None and self.format != fmt:
                raise OptionError(
                    name, f"`{name}` is for `format: {fmt}`, not `format: {self.format}`"
                )
        if self.format == "loguru" and (self.time_format or self.timezone != "UTC"):
            raise OptionError(
                "time_format",
                "`time_format` and `timezone` are for `format: jsonl` and `regex`: "
                "loguru records carry their own UTC offset",
            )
        if self.format == "logfmt" and self.time_format:
            raise OptionError(
                "time_format",
                "`time_format` is for `format: jsonl` and `regex`: proxywhirl's logfmt "
                "template fixes it (`YYYY-MM-DD HH:mm:ss.SSS`, local time: set `timezone`)",
            )
        if self.min_level is not None:
            levels.threshold(self.min_level)
        if self.message_regex is not None:
            try:
                re.compile(self.message_regex)
            except re.error as exc:
                raise OptionError(
                    "message_regex", f"`message_regex` is not a valid regex: {exc}"
                ) from None
        self._check_zone()
        if self.format == "regex":
            self._check_pattern()

    def _check_zone(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise OptionError(
                "timezone",
                f"`timezone` {self.timezone!r} is not an IANA time zone (e.g. Europe/Berlin)",
            ) from None

    def _check_pattern(self) -> None:
        if self.pattern is None:
            names = ", ".join(patterns.BUILTINS)
            raise OptionError(
                "pattern", f"`format: regex` needs a `pattern`: a regex or one of {names}"
            )
        groups = patterns.compiled(self.pattern).groupindex
        for option, group in (("min_level", "level"), ("message_regex", "message")):
            if getattr(self, option) is not None and group not in groups:
                raise OptionError(
                    option, f"`{option}` needs a `(?P<{group}>...)` group in `pattern`"
                )
