"""Each format's options, checked without pandas or pyarrow (`validate` imports only these)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from exportctl.errors import OptionError
from exportctl.lang import templating

Layout = Literal["url", "host:port", "host:port:user:pass"]


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = ","
    header: bool = True
    quoting: Literal["strings", "all"] = "strings"
    null: str = ""
    line_terminator: Literal["crlf", "lf"] = "crlf"

    def __post_init__(self) -> None:
        if self.delimiter in ('"', "\r", "\n"):
            raise OptionError("delimiter", f"{self.delimiter!r} cannot separate CSV fields")
        if any(c in self.null for c in ('"', "\r", "\n", self.delimiter)):
            raise OptionError(
                "null", "the `null` marker cannot hold a quote, a line break or the delimiter"
            )


#: How NaN and ±infinity are written: as the strings "NaN", "Infinity", "-Infinity";
#: as null (lossy: it reads back as NULL); or refused, failing the row (the old way).
NonFinite = Literal["string", "null", "error"]


@dataclass(frozen=True)
class JsonOptions:
    indent: int | None = None
    non_finite: NonFinite = "string"


@dataclass(frozen=True)
class JsonlOptions:
    non_finite: NonFinite = "string"


@dataclass(frozen=True)
class TextOptions:
    layout: Layout | None = None
    template: str | None = None

    def __post_init__(self) -> None:
        if self.layout and self.template:
            raise ValueError("give a `layout` or a `template`, not both")
        if self.template:
            templating.check_syntax(self.template, "template")


@dataclass(frozen=True)
class YamlOptions:
    pass


@dataclass(frozen=True)
class ParquetOptions:
    codec: Literal["zstd", "snappy", "gzip", "lz4", "none"] = "zstd"
    row_group_rows: int = 100_000
