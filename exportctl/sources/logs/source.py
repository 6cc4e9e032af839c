"""The `logs` source: log files as rows, in time order, malformed lines counted."""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa

from exportctl.errors import SourceError
from exportctl.sources.base import Request, greatest_position
from exportctl.sources.logs import levels, patterns, regex
from exportctl.sources.logs.files import is_remote, local_files, may_grow, remote_files
from exportctl.sources.logs.jsonl import JsonlParser
from exportctl.sources.logs.lines import Malformed, numbered_lines
from exportctl.sources.logs.logfmt import LogfmtParser, records
from exportctl.sources.logs.loguru import LoguruParser
from exportctl.sources.logs.options import LogOptions

Row = dict[str, Any]
Parser = Callable[[bytes, str], tuple[Row | None, int | None]]


def parser_for(options: LogOptions, below: int | None = None) -> Any:
    """The parser of the options' line format (each has a `schema` and is called per line)."""
    zone = ZoneInfo(options.timezone)
    if options.format == "jsonl":
        return JsonlParser(
            options.time_field,
            options.level_field or "level",
            options.message_field,
            options.time_format,
            zone,
        )
    if options.format == "logfmt":
        return LogfmtParser(zone)
    if options.format == "regex":
        assert options.pattern is not None  # LogOptions checked it
        time_format = options.time_format or patterns.builtin_time_format(options.pattern)
        return regex.RegexParser(patterns.compiled(options.pattern), time_format, zone)
    return LoguruParser(below)


class LogSource:
    Options = LogOptions

    def __init__(self, options: LogOptions, base_dir: Path):
        self.options = options
        self.base_dir = base_dir
        self._min_rank = None if options.min_level is None else levels.threshold(options.min_level)
        #: Lines under `min_level` may come back as None, unbuilt; `whole` builds every one.
        self.parse = parser_for(options, below=self._min_rank)
        self.whole = parser_for(options)
        self.schema: pa.Schema = self.parse.schema
        self.skipped: dict[str, int] = {}
        #: Unfinished last lines of a file still being written, left for the next run.
        self.held: dict[str, int] = {}
        self.unranked = 0
        self._message = None if options.message_regex is None else re.compile(options.message_regex)

    def describe(self, request: Request) -> dict[str, Any]:
        path = self.options.path
        return {
            "path": path,
            "format": self.options.format,
            # Listing a bucket is I/O `plan` does not do; local globs are cheap.
            "files": [path] if is_remote(path) else local_files(path, self.base_dir),
            "min_level": self.options.min_level,
            "message_regex": self.options.message_regex,
            "filter": repr(request.query.where) if request.query.where else None,
        }

    def count(self, request: Request) -> int | None:
        return None  # counting would mean reading every file twice

    def last_position(self, request: Request, columns: tuple[str, ...]) -> tuple[Any, ...] | None:
        return greatest_position(self.chunks(request), request, columns)

    def chunks(self, request: Request) -> Generator[pd.DataFrame, None, None]:
        batch: list[Row] = []
        for record in self._records():
            batch.append(record)
            if len(batch) == self.options.chunk_size:
                yield self._frame(batch)
                batch = []
        yield self._frame(batch)

    def report(self) -> list[str]:
        notes = [f"{n} malformed line(s) skipped in {f}" for f, n in self.skipped.items()]
        notes += [
            f"{n} unfinished last line (no line end yet) held back in {f} for the next run"
            for f, n in self.held.items()
        ]
        if self.unranked:
            notes.append(
                f"{self.unranked} line(s) kept whose level `min_level` cannot rank "
                f"(not one of {', '.join(levels.RANKS)}, nor a number)"
            )
        return notes

    def close(self) -> None:
        """Nothing stays open between chunks."""

    def _files(self) -> list[str]:
        path = self.options.path
        return remote_files(path) if is_remote(path) else local_files(path, self.base_dir)

    def _records(self) -> Iterator[Row]:
        files = sorted(self._files(), key=self._first_time)
        for file in files:
            growing = file == files[-1] and may_grow(file)
            for number, line in self._lines(file):
                if growing and isinstance(line, bytes) and not line.endswith(b"\n"):
                    # Still being written: complete or not, the next run reads it whole.
                    self.held[file] = 1
                    continue
                try:
                    row, rank = self._parsed(line, file)
                except Malformed as exc:
                    if self.options.on_malformed == "fail":
                        raise SourceError(f"{file}:{number}: {exc}") from None
                    self.skipped[file] = self.skipped.get(file, 0) + 1
                    continue
                if row is not None and self._keeps(row, rank):
                    yield row

    def _lines(self, file: str) -> Iterator[tuple[int, bytes | Malformed]]:
        """The file's lines; for logfmt, its records, which may span lines."""
        lines = numbered_lines(file, self.options.max_line_bytes)
        if self.options.format == "logfmt":
            return records(lines, self.options.max_line_bytes)
        return lines

    def _parsed(
        self, line: bytes | Malformed, file: str, parse: Parser | None = None
    ) -> tuple[Row | None, int | None]:
        if isinstance(line, Malformed):
            raise line
        parsed: tuple[Row | None, int | None] = (parse or self.parse)(line, file)
        return parsed

    def _keeps(self, row: Row, rank: int | None) -> bool:
        if self._message is not None:
            message = row.get("message")
            if message is None or not self._message.search(message):
                return False
        if self._min_rank is None:
            return True
        if rank is None:
            rank = levels.rank(row.get("level"))
        if rank is None:
            self.unranked += 1
            return True
        return rank >= self._min_rank

    def _first_time(self, file: str) -> datetime:
        """Files are read in the order of their first record: rotated ones first."""
        for _, line in self._lines(file):
            try:
                row = self._parsed(line, file, self.whole)[0]
                assert row is not None  # `whole` builds every row
                stamp: datetime = row["timestamp"]
                return stamp
            except Malformed:
                continue
        return datetime.max.replace(tzinfo=UTC)

    def _frame(self, rows: list[Row]) -> pd.DataFrame:
        table = pa.Table.from_pylist(rows, schema=self.schema)
        return table.to_pandas(types_mapper=pd.ArrowDtype)
