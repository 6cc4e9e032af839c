"""`format: jsonl`: one JSON object per line, its top-level keys mapped onto loguru's columns.

The time, level and message come from configurable keys; keys named like the other
columns (`logger`, `module`, `function`, `line`, `process`, `thread`, `exception`,
`component`, `request_id`) fill them; every other key stays in `extra`, as JSON text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from exportctl.sources.logs.lines import Malformed, integer, json_line, parse_time, text
from exportctl.sources.logs.loguru import SCHEMA

TIME_FIELDS = ("timestamp", "time")
MESSAGE_FIELDS = ("message", "msg")
_TEXT_COLUMNS = ("logger", "module", "function", "component", "request_id")
_INTEGER_COLUMNS = ("line", "process", "thread")


@dataclass(frozen=True)
class JsonlParser:
    time_field: str | None
    level_field: str
    message_field: str | None
    time_format: str | None
    zone: tzinfo

    schema = SCHEMA

    def __call__(self, line: bytes, file: str) -> tuple[dict[str, Any], int | None]:
        try:
            doc = json_line(line)
        except ValueError as exc:
            raise Malformed(f"not JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise Malformed(f"a JSON {type(doc).__name__}, not an object")
        time_key = _first_key(doc, (self.time_field,) if self.time_field else TIME_FIELDS)
        if time_key is None:
            wanted = self.time_field or " or ".join(f"`{k}`" for k in TIME_FIELDS)
            raise Malformed(f"no time: the object has no {wanted} key")
        row: dict[str, Any] = {
            "timestamp": parse_time(doc.pop(time_key), self.time_format, self.zone)
        }
        level = doc.pop(self.level_field, None)
        if isinstance(level, dict | list):
            raise Malformed(f"`{self.level_field}` is {level!r}, not a level")
        row["level"] = text(level)
        message_key = _first_key(
            doc, (self.message_field,) if self.message_field else MESSAGE_FIELDS
        )
        row["message"] = text(doc.pop(message_key)) if message_key else None
        for name in _TEXT_COLUMNS:
            row[name] = text(doc.pop(name, None))
        for name in _INTEGER_COLUMNS:
            row[name] = integer(doc.pop(name, None), name)
        exception = doc.pop("exception", None)
        row["exception"] = text(exception)
        row["extra"] = json.dumps(doc, ensure_ascii=False) if doc else None
        row["file"] = file
        return row, None


def _first_key(doc: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    return next((k for k in keys if k in doc), None)
