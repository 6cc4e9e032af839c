"""`format: logfmt`: the records proxywhirl's `configure_logging(format="logfmt")` writes.

Its loguru template is `time=... level=... name=... function=... line=... message=...
{extra}`: the message is not quoted and `{extra}` is the repr of loguru's extra dict, so
this is not key=value logfmt a generic parser could split. loguru appends a traceback on
the lines after a record, and a message may hold line breaks: a record runs until the
next line that starts with `time=` (see `records`). The time has no UTC offset (it is the
host's local time): `timezone` says which zone it is in.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from exportctl.sources.logs.lines import Malformed, decoded, parse_time
from exportctl.sources.logs.loguru import SCHEMA

HEAD = re.compile(
    r"time=(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) level=(?P<level>\S+) "
    r"name=(?P<logger>\S*) function=(?P<function>\S*) line=(?P<line>\d{1,18}) message="
)
START = b"time="
TRACEBACK = "\nTraceback (most recent call last):"
#: Candidate ` {` positions tried from the right before a record is called malformed: a
#: message full of braces must not make one line cost quadratic time.
MAX_SPLITS = 64


def records(
    lines: Iterator[tuple[int, bytes | Malformed]], limit: int
) -> Iterator[tuple[int, bytes | Malformed]]:
    """Lines joined into records: a line not starting with `time=` continues the one before.

    A record numbered by its first line; one longer than `limit` bytes is Malformed.
    """
    number, size = 0, 0
    parts: list[bytes] = []
    for at, line in lines:
        if isinstance(line, bytes) and parts and not line.startswith(START):
            parts.append(line)
            size += len(line)
            continue
        if parts:
            yield number, _joined(parts, size, limit)
        if isinstance(line, Malformed):
            number, parts, size = 0, [], 0
            yield at, line
        else:
            number, parts, size = at, [line], len(line)
    if parts:
        yield number, _joined(parts, size, limit)


def _joined(parts: list[bytes], size: int, limit: int) -> bytes | Malformed:
    if size > limit:
        return Malformed(f"record longer than {limit} bytes")
    return b"".join(parts)


def split_extra(body: str) -> tuple[str, dict[str, Any]]:
    """`message {extra}` → the message and loguru's extra dict, read as a Python literal.

    The extra dict ends the record, so the rightmost ` {` that starts a dict literal
    reaching the end is its start; a message may itself hold `{...}`.
    """
    end = len(body)
    for _ in range(MAX_SPLITS):
        start = body.rfind("{", 0, end)
        if start < 0:
            break
        if start == 0 or body[start - 1] == " ":
            try:
                # literal_eval builds literals only: it never calls or imports anything.
                extra = ast.literal_eval(body[start:])
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                extra = None
            if isinstance(extra, dict):
                return body[: max(start - 1, 0)], extra
        end = start
    raise Malformed("no `{extra}` dict ends the record")


@dataclass(frozen=True)
class LogfmtParser:
    zone: tzinfo

    schema = SCHEMA

    def __call__(self, record: bytes, file: str) -> tuple[dict[str, Any], int | None]:
        content = decoded(record)
        head = HEAD.match(content)
        if head is None:
            raise Malformed("not a proxywhirl logfmt record (time=... level=... message=...)")
        body, exception = content[head.end() :], None
        cut = body.find(TRACEBACK)
        if cut >= 0:
            body, exception = body[:cut], body[cut + 1 :]
        message, extra = split_extra(body)
        row = {
            "timestamp": parse_time(head["time"], None, self.zone),
            "level": head["level"],
            "message": message,
            "logger": head["logger"],
            "module": None,
            "function": head["function"],
            "line": int(head["line"]),
            "process": None,
            "thread": None,
            "exception": exception,
            "component": _text(extra.get("component")),
            "request_id": _text(extra.get("request_id")),
            "extra": json.dumps(extra, ensure_ascii=False, default=repr) if extra else None,
            "file": file,
        }
        return row, None


def _text(value: Any) -> str | None:
    """Text as it is; other literals (numbers, tuples, sets, bytes) as JSON, or their repr."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=repr)
