"""Every built-in component, by the name a spec uses for it. Adding one is one line here."""

from __future__ import annotations

from urllib.parse import urlsplit

from exportctl.destinations.local import LocalDestination
from exportctl.errors import RunError
from exportctl.formats.csv import CsvEncoder
from exportctl.formats.json import JsonEncoder, JsonlEncoder
from exportctl.formats.parquet import ParquetEncoder
from exportctl.formats.text import TextEncoder
from exportctl.formats.yaml import YamlEncoder
from exportctl.sources.base import Source
from exportctl.sources.logs import LogSource
from exportctl.sources.sql import SqlSource

SOURCES: dict[str, type[Source]] = {"sql": SqlSource, "logs": LogSource}

FORMATS = {
    "csv": CsvEncoder,
    "json": JsonEncoder,
    "jsonl": JsonlEncoder,
    "text": TextEncoder,
    "yaml": YamlEncoder,
    "parquet": ParquetEncoder,
}

DESTINATIONS = {scheme: LocalDestination for scheme in LocalDestination.schemes}


def destination_for(uri: str) -> LocalDestination:
    scheme = urlsplit(uri).scheme if "://" in uri else ""
    if scheme not in DESTINATIONS:
        known = ", ".join(f"{s}://" for s in DESTINATIONS if s)
        raise RunError(f"no destination handles `{scheme}://` URIs; known: local paths, {known}")
    return DESTINATIONS[scheme]()
