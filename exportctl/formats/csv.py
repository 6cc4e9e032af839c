"""CSV per RFC 4180, written by Arrow's CSV writer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Literal

import pandas as pd
import pyarrow.csv as pacsv

from exportctl.errors import FormatError
from exportctl.formats.base import to_arrow

_QUOTING = {"strings": "needed", "all": "all_valid"}
_EOL = {"crlf": "\r\n", "lf": "\n"}


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = ","
    header: bool = True
    quoting: Literal["strings", "all"] = "strings"
    null: str = ""
    line_terminator: Literal["crlf", "lf"] = "crlf"

    def __post_init__(self) -> None:
        if self.delimiter in ('"', "\r", "\n"):
            raise ValueError(f"{self.delimiter!r} cannot separate CSV fields")
        if any(c in self.null for c in ('"', "\r", "\n", self.delimiter)):
            raise ValueError("the `null` marker cannot hold a quote, a line break or the delimiter")


class CsvEncoder:
    """Text values are always quoted, so an empty string never reads back as NULL."""

    Options = CsvOptions
    extension = ".csv"

    def __init__(self, options: CsvOptions, stream: BinaryIO):
        self.options = options
        self.stream = stream
        self.header_pending = options.header

    def write(self, chunk: pd.DataFrame) -> None:
        table = to_arrow(chunk)
        options = pacsv.WriteOptions(
            include_header=self.header_pending,
            delimiter=self.options.delimiter,
            quoting_style=_QUOTING[self.options.quoting],
            null_string=self.options.null,
            eol=_EOL[self.options.line_terminator],
        )
        try:
            pacsv.write_csv(table, self.stream, options)
        except Exception as exc:  # Arrow says which type it cannot render
            raise FormatError(f"cannot write this data as CSV: {exc}") from exc
        self.header_pending = False

    def close(self) -> None:
        """CSV has no trailer."""
