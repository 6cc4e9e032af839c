"""Every built-in component, by the name a spec uses for it. Adding one is one line here.

Each is imported when first asked for: a run needs one source, one format and one
destination, and the others' libraries (boto3, requests, cryptography...) would
otherwise cost every command, `--help` included, a few hundred milliseconds.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from exportctl.destinations.base import Destination
from exportctl.errors import RunError, UsageError
from exportctl.formats.base import Encoder
from exportctl.sources.base import Source

T = TypeVar("T")


class Lazy(Mapping[str, T], Generic[T]):
    """Names → `module:attribute` paths, imported on first use."""

    def __init__(self, paths: dict[str, str]):
        self._paths = paths
        self._loaded: dict[str, T] = {}

    def __getitem__(self, name: str) -> T:
        if name not in self._loaded:
            module, _, attribute = self._paths[name].partition(":")
            try:
                self._loaded[name] = getattr(importlib.import_module(module), attribute)
            except ModuleNotFoundError as exc:  # an optional extra's library (sftp: paramiko)
                if exc.name is None or exc.name.startswith("exportctl"):
                    raise
                raise UsageError(
                    f"`{name or 'local'}` needs the Python package `{exc.name}`, not installed "
                    f"here (pip install 'exportctl[{name}]' where it is an extra)"
                ) from exc
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


SOURCES: Lazy[type[Source]] = Lazy(
    {
        "sql": "exportctl.sources.sql:SqlSource",
        "logs": "exportctl.sources.logs:LogSource",
        "config": "exportctl.sources.config:ConfigSource",
        "prometheus": "exportctl.sources.prometheus:PrometheusSource",
        "prometheus_text": "exportctl.sources.prometheus:PrometheusTextSource",
        "http_json": "exportctl.sources.http_json:HttpJsonSource",
        "files": "exportctl.sources.files:FileSource",
    }
)

FORMATS: Lazy[type[Encoder]] = Lazy(
    {
        "csv": "exportctl.formats.csv:CsvEncoder",
        "json": "exportctl.formats.json:JsonEncoder",
        "jsonl": "exportctl.formats.json:JsonlEncoder",
        "text": "exportctl.formats.text:TextEncoder",
        "yaml": "exportctl.formats.yaml:YamlEncoder",
        "parquet": "exportctl.formats.parquet:ParquetEncoder",
    }
)

#: By URI scheme (`` for a plain path); each class lists the schemes it takes.
DESTINATIONS: Lazy[type[Destination]] = Lazy(
    {
        "": "exportctl.destinations.local:LocalDestination",
        "file": "exportctl.destinations.local:LocalDestination",
        "s3": "exportctl.destinations.s3:S3Destination",
        "http": "exportctl.destinations.http:HttpDestination",
        "https": "exportctl.destinations.http:HttpDestination",
        "sftp": "exportctl.destinations.sftp:SftpDestination",
    }
)
#: The spec keys that hold a destination's own options, e.g. `destination.s3`.
DESTINATION_OPTIONS = ("http", "s3", "sftp")


def scheme_of(uri: str) -> str:
    """`s3://b/k` → `s3`; a plain path → ``."""
    return urlsplit(uri).scheme.lower() if "://" in uri else ""


def destination_class(uri: str) -> type[Destination] | None:
    return DESTINATIONS.get(scheme_of(uri))


def destination_for(uri: str, options: Any = None) -> Destination:
    kind = destination_class(uri)
    if kind is None:
        known = ", ".join(f"{s}://" for s in DESTINATIONS if s)
        raise RunError(
            f"no destination handles `{scheme_of(uri)}://` URIs; known: local paths, {known}"
        )
    # A quarantine file may go elsewhere than the export: options are for their own kind.
    return kind(options if isinstance(options, kind.Options) else None)
