"""`format: loguru`: the JSON lines loguru writes with `serialize=True`, flattened."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from exportctl.sources.logs.lines import Malformed, integer, json_line, text

#: The columns a loguru record becomes, in order (`format: jsonl` shares them).
SCHEMA = pa.schema(
    [
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("level", pa.string()),
        ("message", pa.string()),
        ("logger", pa.string()),
        ("module", pa.string()),
        ("function", pa.string()),
        ("line", pa.int64()),
        ("process", pa.int64()),
        ("thread", pa.int64()),
        ("exception", pa.string()),
        ("component", pa.string()),
        ("request_id", pa.string()),
        ("extra", pa.string()),
        ("file", pa.string()),
    ]
)
STRINGS = ("level", "message", "logger", "module", "function")
INTEGERS = ("line", "process", "thread")


class LoguruParser:
    """One serialized loguru line as one flat row, with the level's own number.

    With `below`, a line whose level number is under it is passed over as soon as its
    level is read (None for the row): most lines of a `min_level` export are, and
    building their rows was most of the time spent on them.
    """

    schema = SCHEMA

    def __init__(self, below: int | None = None):
        self.below = below

    def __call__(self, line: bytes, file: str) -> tuple[dict[str, Any] | None, int | None]:
        try:
            record = json_line(line)["record"]
            number = record["level"].get("no")
            if self.below is not None and type(number) is int and number < self.below:
                return None, number
            extra = record.get("extra") or {}
            moment = datetime.fromisoformat(record["time"]["repr"])
            if moment.utcoffset() is None:  # loguru always writes one; the host's zone would guess
                raise ValueError(f"time {record['time']['repr']!r} has no UTC offset")
            row = {
                "timestamp": moment.astimezone(UTC),
                "level": record["level"]["name"],
                "message": record["message"],
                "logger": record.get("name"),
                "module": record.get("module"),
                "function": record.get("function"),
                "line": record.get("line"),
                "process": (record.get("process") or {}).get("id"),
                "thread": (record.get("thread") or {}).get("id"),
                "exception": None
                if record.get("exception") is None
                else json.dumps(record["exception"], ensure_ascii=False),
                "component": text(extra.get("component")),
                "request_id": text(extra.get("request_id")),
                "extra": json.dumps(extra, ensure_ascii=False) if extra else None,
                "file": file,
            }
            check_types(row)
            return row, number if type(number) is int else None
        except Malformed:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            raise Malformed(f"not a loguru record ({type(exc).__name__}: {exc})") from None


def check_types(row: dict[str, Any]) -> None:
    """Values that fit their columns, so a stray line is Malformed, never an Arrow error."""
    for name in STRINGS:
        if row[name] is not None and not isinstance(row[name], str):
            raise Malformed(f"`{name}` is {type(row[name]).__name__}, not text")
    for name in INTEGERS:
        integer(row[name], name)
