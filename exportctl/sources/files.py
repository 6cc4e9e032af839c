"""The `files` source: records from JSON Lines, CSV or Parquet files.

For data that lives in files: proxywhirl's L2 cache shards (`cache/proxies/shard_*.jsonl`)
and earlier exports, re-exported in another format or filtered. `path` is a file, a glob
relative to the spec's folder, a URI smart-open reads, or an `s3://` glob; `.gz`, `.bz2`,
`.zst` and `.xz` files are unpacked. Files are read in name order and must agree on their
columns: JSON Lines as the `http_json` source frames records (the first records, or
`columns`, fix the columns and types); CSV columns are text, the header's names, a quoted
empty field an empty string and an unquoted `null` marker NULL (as exportctl writes CSV);
Parquet keeps its own schema.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from smart_open import open as open_uri

from exportctl.errors import SourceError
from exportctl.sources.base import Request, greatest_position
from exportctl.sources.files_options import FilesOptions, Format
from exportctl.sources.http_json.records import Framer
from exportctl.sources.logs.files import is_remote, local_files, remote_files
from exportctl.sources.logs.lines import json_value

_COMPRESSED = (".gz", ".bz2", ".zst", ".xz")
_EXTENSIONS: dict[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
}


def format_of(name: str) -> Format | None:
    """A file's format from its extension, a compression extension aside."""
    lowered = name.lower()
    for suffix in _COMPRESSED:
        lowered = lowered.removesuffix(suffix)
    return next((f for ext, f in _EXTENSIONS.items() if lowered.endswith(ext)), None)


class FileSource:
    Options = FilesOptions

    def __init__(self, options: FilesOptions, base_dir: Path):
        self.options = options
        self.base_dir = base_dir
        self._first: tuple[str, Any] | None = None  # the file that fixed CSV/Parquet columns

    def describe(self, request: Request) -> dict[str, Any]:
        path = self.options.path
        return {
            "path": path,
            "format": self.options.format or "by extension",
            # Listing a bucket is I/O `plan` does not do; local globs are cheap.
            "files": [path] if is_remote(path) else self._files(),
            "filter": repr(request.query.where) if request.query.where else None,
        }

    def count(self, request: Request) -> int | None:
        return None

    def last_position(self, request: Request, columns: tuple[str, ...]) -> tuple[Any, ...] | None:
        return greatest_position(self.chunks(request), request, columns)

    def chunks(self, request: Request) -> Generator[pd.DataFrame, None, None]:
        framer = Framer(self.options.columns, self.options.timestamps)
        empty, yielded = pd.DataFrame(), False
        for file in self._files():
            kind = self.options.format or format_of(file)
            if kind is None:
                raise SourceError(
                    f"{file}: cannot tell its format from its name; set the source's `format` "
                    "(jsonl, csv or parquet)"
                )
            try:
                for chunk in self._read(kind, file, framer):
                    if chunk.empty:
                        empty = chunk
                    else:
                        yielded = True
                        yield chunk
            except OSError as exc:
                raise SourceError(f"cannot read {file}: {exc}") from None
        if not yielded:
            yield empty  # at least one chunk, so the columns are known

    def report(self) -> list[str]:
        return []

    def close(self) -> None:
        """Nothing stays open between chunks."""

    def _files(self) -> list[str]:
        path = self.options.path
        if is_remote(path):
            return remote_files(path, what="file")
        return local_files(path, self.base_dir, what="file")

    def _read(self, kind: Format, file: str, framer: Framer) -> Iterator[pd.DataFrame]:
        if kind == "jsonl":
            return self._jsonl(file, framer)
        if kind == "csv":
            return self._csv(file)
        return self._parquet(file)

    def _jsonl(self, file: str, framer: Framer) -> Iterator[pd.DataFrame]:
        records: list[dict[str, Any]] = []
        first = 1
        with open_uri(file, "rb") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = json_value(line.decode("utf-8"))
                except (ValueError, UnicodeDecodeError) as exc:
                    raise SourceError(f"{file}:{number}: not a JSON line ({exc})") from None
                if not isinstance(record, dict):
                    kind = type(record).__name__
                    raise SourceError(f"{file}:{number}: a JSON {kind}, not an object")
                records.append(record)
                if len(records) == self.options.chunk_size:
                    yield framer.frame(records, f"{file}:{first}-{number}")
                    records, first = [], number + 1
        if records or framer.columns is None:
            yield framer.frame(records, f"{file}:{first}-")

    def _csv(self, file: str) -> Iterator[pd.DataFrame]:
        names = self._header(file)
        self._same_columns(file, names)
        convert = pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            null_values=[self.options.null],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,  # `""` is the empty string, as we write it
        )
        parse = pacsv.ParseOptions(delimiter=self.options.delimiter, newlines_in_values=True)
        with open_uri(file, "rb") as stream:
            try:
                reader = pacsv.open_csv(stream, parse_options=parse, convert_options=convert)
                yield from self._batches(reader, self.options.chunk_size)
            except pa.ArrowInvalid as exc:
                raise SourceError(f"{file}: not CSV with the first file's columns: {exc}") from None

    def _header(self, file: str) -> list[str]:
        with open_uri(file, "rb") as stream:
            text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
            header = next(csv.reader(text, delimiter=self.options.delimiter), None)
        if not header:
            raise SourceError(f"{file}: no CSV header line")
        if len(set(header)) != len(header):
            raise SourceError(f"{file}: the CSV header names a column twice: {header}")
        return header

    def _parquet(self, file: str) -> Iterator[pd.DataFrame]:
        with open_uri(file, "rb") as stream:
            try:
                parquet = pq.ParquetFile(stream)
            except pa.ArrowInvalid as exc:
                raise SourceError(f"{file}: not a Parquet file ({exc})") from None
            self._same_columns(file, parquet.schema_arrow)
            batches = parquet.iter_batches(batch_size=self.options.chunk_size)
            yield pa.Table.from_batches([], parquet.schema_arrow).to_pandas(
                types_mapper=pd.ArrowDtype
            )
            for batch in batches:
                yield batch.to_pandas(types_mapper=pd.ArrowDtype)

    def _batches(self, reader: Any, size: int) -> Iterator[pd.DataFrame]:
        yield pa.Table.from_batches([], reader.schema).to_pandas(types_mapper=pd.ArrowDtype)
        pending: list[pa.RecordBatch] = []
        rows = 0
        for batch in reader:
            pending.append(batch)
            rows += batch.num_rows
            if rows >= size:
                yield pa.Table.from_batches(pending).to_pandas(types_mapper=pd.ArrowDtype)
                pending, rows = [], 0
        if pending:
            yield pa.Table.from_batches(pending).to_pandas(types_mapper=pd.ArrowDtype)

    def _same_columns(self, file: str, columns: Any) -> None:
        """Every file's columns (CSV names, a Parquet schema) are the first file's."""
        if self._first is None:
            self._first = (file, columns)
        elif columns != self._first[1]:
            raise SourceError(
                f"{file}: its columns differ from those of {self._first[0]}: "
                "the files of one export must agree"
            )
