"""The `config` source: the files of a configuration folder, parsed, one row each."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from exportctl.errors import SourceError
from exportctl.sources.base import Request
from exportctl.sources.config import files, typed
from exportctl.sources.config.options import ConfigOptions
from exportctl.sources.config.redaction import ConfigRedactor

#: The document's columns; `content` holds the parsed values (see `typed`).
COLUMNS = ("kind", "path", "format", "sha256", "content")
_TEXT = pd.ArrowDtype(pa.string())


class ConfigSource:
    """One row per configuration file (`kind: file`), in path order, then one row for the
    environment variables under `env_prefix` (`kind: environment`)."""

    Options = ConfigOptions
    #: Redaction that knows configurations' secret keys and shapes, and digests after it.
    redactor = ConfigRedactor

    def __init__(
        self, options: ConfigOptions, base_dir: Path, environ: Mapping[str, str] | None = None
    ):
        self.options = options
        self.root = (base_dir / options.path).resolve()
        self.environ = os.environ if environ is None else environ

    def describe(self, request: Request) -> dict[str, Any]:
        return {
            "type": "config",
            "path": str(self.root),
            "include": list(self.options.include),
            "exclude": list(self.options.exclude),
            "env_prefix": self.options.env_prefix,
        }

    def count(self, request: Request) -> int | None:
        return len(self.files()) + (self.options.env_prefix is not None)

    def last_position(self, request: Request, columns: tuple[str, ...]) -> tuple[Any, ...] | None:
        raise SourceError("a `config` source is exported whole each time: it has no `incremental`")

    def files(self) -> list[Path]:
        """The files to export, by relative path (a file in no structured format is text)."""
        if not self.root.is_dir():
            raise SourceError(f"the configuration folder {self.root} does not exist")
        found = {p for glob in self.options.include for p in self.root.glob(glob) if p.is_file()}
        return sorted((p for p in found if not self._excluded(p)), key=lambda p: self._relative(p))

    def chunks(self, request: Request) -> Generator[pd.DataFrame, None, None]:
        # A chunk per row: Arrow infers each file's nested types alone, so the keys of one
        # file never appear as nulls in another.
        rows = [self.file_row(path) for path in self.files()]
        if self.options.env_prefix is not None:
            rows.append(self.environment_row(self.options.env_prefix))
        if not rows:
            yield _frame([])
        for row in rows:
            yield _frame([row])

    def file_row(self, path: Path) -> dict[str, Any]:
        name = self._relative(path)
        data = path.read_bytes()
        fmt, value = _read(path, name, data)
        content = _content(value, name)
        # Of the values, not the bytes: comments may hold secrets; redaction digests again.
        return {
            "kind": "file",
            "path": name,
            "format": fmt,
            "sha256": typed.digest(content),
            "content": content,
        }

    def environment_row(self, prefix: str) -> dict[str, Any]:
        variables = {k: v for k, v in sorted(self.environ.items()) if k.startswith(prefix)}
        return {
            "kind": "environment",
            "path": None,
            "format": "env",
            "sha256": typed.digest(variables),
            "content": variables,
        }

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _excluded(self, path: Path) -> bool:
        name = self._relative(path)
        return any(fnmatch.fnmatchcase(name, glob) for glob in self.options.exclude)

    def report(self) -> list[str]:
        return []

    def close(self) -> None:
        """Nothing held open."""


def _read(path: Path, name: str, data: bytes) -> tuple[str, Any]:
    """The file's format and values; a `.cfg` that does not read as INI is text."""
    fmt = files.format_of(path)
    try:
        try:
            return fmt, files.parse(data, fmt)
        except ValueError:
            if not files.falls_back_to_text(path):
                raise
            return "text", files.parse(data, "text")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{name} is not UTF-8 text (byte {exc.start}): a config export carries text "
            "files only; leave it out with `exclude`"
        ) from None
    except ValueError as exc:
        raise SourceError(f"{name} is not valid {fmt.upper()}: {exc}") from None


def _content(value: Any, name: str) -> Any:
    try:
        content = typed.encode(value)
    except typed.Untypable as exc:
        raise SourceError(f"{name}: {exc}; a config export holds text keys") from None
    if not typed.carried(content):  # every list was checked; this is the last guard
        raise SourceError(f"{name}: its values cannot be carried exactly into the export")
    return content


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns: dict[str, pd.Series] = {
        name: pd.Series([r[name] for r in rows], dtype=_TEXT) for name in COLUMNS[:-1]
    }
    columns["content"] = pd.Series([r["content"] for r in rows], dtype=object)
    return pd.DataFrame(columns)
