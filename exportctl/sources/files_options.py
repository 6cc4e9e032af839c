"""The `files` source's options, in a module `validate` imports without pandas or pyarrow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from exportctl.errors import OptionError

Format = Literal["jsonl", "csv", "parquet"]


@dataclass(frozen=True)
class FilesOptions:
    path: str = ""
    #: Omitted: each file's extension says (`.jsonl`, `.ndjson`, `.csv`, `.parquet`).
    format: Format | None = None
    #: jsonl: the fields, in order (default: those of the first records).
    columns: tuple[str, ...] | None = None
    #: jsonl: fields read as UTC timestamps (ISO-8601 text or epoch seconds).
    timestamps: tuple[str, ...] = ()
    delimiter: str = ","
    null: str = ""
    chunk_size: int = 10_000

    def __post_init__(self) -> None:
        if not self.path:
            raise OptionError("path", "`path` must name the files to read")
        if self.columns is not None:
            object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "timestamps", tuple(self.timestamps))
        if (self.columns is not None or self.timestamps) and self.format not in (None, "jsonl"):
            raise OptionError("columns", "`columns` and `timestamps` are for `format: jsonl`")
        if (self.delimiter != "," or self.null) and self.format not in (None, "csv"):
            raise OptionError("delimiter", "`delimiter` and `null` are for `format: csv`")
        if len(self.delimiter) != 1:
            raise OptionError("delimiter", "`delimiter` must be one character")
