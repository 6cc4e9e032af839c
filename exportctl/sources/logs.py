"""Log files as rows: loguru's serialized JSON lines, rotated `.gz` files included.

Files are found by path or glob (relative to the spec's folder) or named by a
URI that smart-open reads, and are read in time order. A line that is not a
loguru record (broken JSON, invalid UTF-8, longer than `max_line_bytes`) is
counted and, as the spec chooses, skipped or fatal; it never ends a run
halfway with a partial file.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

import pandas as pd
import pyarrow as pa
from smart_open import open as open_uri

from exportctl.errors import SourceError
from exportctl.sources.base import Request
from exportctl.transforms.filter import apply_filter

#: The columns a loguru record becomes, in order.
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


@dataclass(frozen=True)
class LogOptions:
    path: str = ""
    format: Literal["loguru"] = "loguru"
    on_malformed: Literal["fail", "skip"] = "fail"
    max_line_bytes: int = 1 << 20
    chunk_size: int = 10_000


class Malformed(ValueError):
    """A line that is not a record."""


class LogSource:
    Options = LogOptions
    filters_rows = False

    def __init__(self, options: LogOptions, base_dir: Path):
        self.options = options
        self.base_dir = base_dir
        self.skipped: dict[str, int] = {}

    def describe(self, request: Request) -> dict[str, Any]:
        return {
            "path": self.options.path,
            "files": [str(f) for f in self._files()],
            "filter": repr(request.query.where) if request.query.where else None,
        }

    def count(self, request: Request) -> int | None:
        return None  # counting would mean reading every file twice

    def last_position(self, request: Request, columns: tuple[str, ...]) -> tuple[Any, ...] | None:
        best: tuple[Any, ...] | None = None
        for chunk in self.chunks(request):
            rows = apply_filter(chunk, request.query.where)[list(columns)].dropna()
            if not rows.empty:
                candidate = max(rows.itertuples(index=False, name=None))
                best = candidate if best is None else max(best, candidate)
        return best and tuple(v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in best)

    def chunks(self, request: Request) -> Generator[pd.DataFrame, None, None]:
        batch: list[dict[str, Any]] = []
        for record in self._records():
            batch.append(record)
            if len(batch) == self.options.chunk_size:
                yield _frame(batch)
                batch = []
        yield _frame(batch)

    def report(self) -> list[str]:
        return [f"{n} malformed line(s) skipped in {f}" for f, n in self.skipped.items()]

    def close(self) -> None:
        """Nothing stays open between chunks."""

    def _files(self) -> list[str]:
        path = self.options.path
        if "://" in path:
            return [path]
        path = os.path.expanduser(path)
        pattern = os.path.join(self.base_dir, path)
        if glob.has_magic(path):  # the spec's folder may hold `[` or `*` too: only `path` globs
            found = sorted(glob.glob(os.path.join(glob.escape(str(self.base_dir)), path)))
        else:
            found = [pattern]
        if not found or not Path(found[0]).exists():
            raise SourceError(f"no log file matches {pattern}")
        return found

    def _records(self) -> Iterator[dict[str, Any]]:
        files = sorted(self._files(), key=self._first_time)
        for file in files:
            for number, line in _lines(file, self.options.max_line_bytes):
                try:
                    yield _flatten(line, file)
                except Malformed as exc:
                    if isinstance(line, bytes) and not line.endswith(b"\n"):
                        continue  # the file's last line, still being written: next run's
                    if self.options.on_malformed == "fail":
                        raise SourceError(f"{file}:{number}: {exc}") from None
                    self.skipped[file] = self.skipped.get(file, 0) + 1

    def _first_time(self, file: str) -> datetime:
        """Files are read in the order of their first record: rotated ones first."""
        for _, line in _lines(file, self.options.max_line_bytes):
            try:
                return _flatten(line, file)["timestamp"]
            except Malformed:
                continue
        return datetime.max.replace(tzinfo=UTC)


def _lines(uri: str, limit: int) -> Iterator[tuple[int, bytes | Malformed]]:
    """Numbered lines; a line over `limit` bytes comes back as Malformed, without its bytes."""
    with open_uri(uri, "rb") as stream:
        number = 0
        while line := stream.readline(limit + 1):
            number += 1
            if len(line) > limit and not line.endswith(b"\n"):
                _skip_rest_of_line(stream)
                yield number, Malformed(f"line longer than {limit} bytes")
            else:
                yield number, line


def _skip_rest_of_line(stream: BinaryIO) -> None:
    while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
        pass


def _flatten(line: bytes | Malformed, file: str) -> dict[str, Any]:
    """A loguru serialized line as one flat row."""
    if isinstance(line, Malformed):
        raise line
    try:
        record = json.loads(line.decode("utf-8"))["record"]
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
            "component": _text(extra.get("component")),
            "request_id": _text(extra.get("request_id")),
            "extra": json.dumps(extra, ensure_ascii=False) if extra else None,
            "file": file,
        }
        _check_types(row)
        return row
    except UnicodeDecodeError as exc:
        raise Malformed(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
        raise Malformed(f"not a loguru record ({type(exc).__name__}: {exc})") from None


_STRINGS = ("level", "message", "logger", "module", "function")
_INTEGERS = ("line", "process", "thread")


def _check_types(row: dict[str, Any]) -> None:
    """Values that fit their columns, so a stray line is Malformed, never an Arrow error."""
    for name in _STRINGS:
        if row[name] is not None and not isinstance(row[name], str):
            raise TypeError(f"`{name}` is {type(row[name]).__name__}, not text")
    for name in _INTEGERS:
        value = row[name]
        if value is not None and (
            type(value) is not int or not -(1 << 63) <= value < 1 << 63  # bool is no integer
        ):
            raise TypeError(f"`{name}` is {value!r}, not a 64-bit integer")


def _text(value: Any) -> str | None:
    """A bound `extra` value as text: strings as they are, other values as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    return table.to_pandas(types_mapper=pd.ArrowDtype)
