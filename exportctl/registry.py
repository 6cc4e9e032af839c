"""Every built-in component, by the name a spec uses for it. Adding one is one line here."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from exportctl.destinations.base import Destination
from exportctl.destinations.http import HttpDestination
from exportctl.destinations.local import LocalDestination
from exportctl.destinations.s3 import S3Destination
from exportctl.errors import RunError
from exportctl.formats.csv import CsvEncoder
from exportctl.formats.json import JsonEncoder, JsonlEncoder
from exportctl.formats.parquet import ParquetEncoder
from exportctl.formats.text import TextEncoder
from exportctl.formats.yaml import YamlEncoder
from exportctl.sources.base import Source
from exportctl.sources.config import ConfigSource
from exportctl.sources.http_json import HttpJsonSource
from exportctl.sources.logs import LogSource
from exportctl.sources.prometheus import PrometheusSource, PrometheusTextSource
from exportctl.sources.sql import SqlSource

SOURCES: dict[str, type[Source]] = {
    "sql": SqlSource,
    "logs": LogSource,
    "config": ConfigSource,
    "prometheus": PrometheusSource,
    "prometheus_text": PrometheusTextSource,
    "http_json": HttpJsonSource,
}

FORMATS = {
    "csv": CsvEncoder,
    "json": JsonEncoder,
    "jsonl": JsonlEncoder,
    "text": TextEncoder,
    "yaml": YamlEncoder,
    "parquet": ParquetEncoder,
}

DESTINATIONS: dict[str, type[Destination]] = {
    scheme: kind
    for kind in (LocalDestination, S3Destination, HttpDestination)
    for scheme in kind.schemes
}
#: The spec keys that hold a destination's own options, e.g. `destination.s3`.
DESTINATION_OPTIONS = tuple(
    sorted({k.options_key for k in DESTINATIONS.values() if k.options_key is not None})
)


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
