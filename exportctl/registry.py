"""Every component by the name a spec uses for it, with what it can do. Adding one is one line.

An entry names the component's class and its options class as `module:attribute` paths and
declares the component's capabilities, so the spec rules can ask what a format, source or
destination allows without importing it. The class is imported when a run first asks for
it: a run needs one source, one format and one destination, and the others' libraries
(pandas, boto3, requests...) would otherwise cost every command, `validate` and `--help`
included. An options class lives in a module light enough for `validate` to import.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlsplit

from exportctl.errors import RunError, UsageError

if TYPE_CHECKING:
    from exportctl.destinations.base import Destination
    from exportctl.formats.base import Encoder
    from exportctl.sources.base import Source

#: The codecs `compression` may name (see `exportctl.compression`).
CODECS = frozenset({"none", "gzip", "zstd", "zip"})
#: The codecs whose outputs join by concatenation, as a split export's parts must.
JOINABLE_CODECS = frozenset({"none", "gzip", "zstd"})


@dataclass(frozen=True)
class Entry:
    """Where a component and its options are, as `module:attribute` paths."""

    path: str
    #: Its options class, in a module that imports no data library (None: it takes none).
    options: str | None
    #: The JSON Schema of its options, for a component registered at run time: the
    #: published schema lists the built-ins' (a source's or format's keys besides `type`).
    schema: Mapping[str, Any] | None = field(default=None, compare=False)
    #: The Python packages of an optional extra it needs (`pip install 'exportctl[name]'`).
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceEntry(Entry):
    #: Applies `query.where` itself (else the runner filters the rows it reads).
    pushes_filters: bool = False
    #: Reads rows sorted by a key, as `incremental.mode: changes` merges them.
    sorts_by_key: bool = False
    #: Takes the SQL query keys: `table`, `sql` and `params`.
    sql_query: bool = False
    #: Its rows hold secrets: redacted with the defaults unless a spec says `redact: false`.
    redacts_by_default: bool = False
    #: `exportctl restore` reads its exports back, finding secrets by their mask.
    restores_masked: bool = False
    #: Reads one range of a key column at a time, and tells the key's bounds without
    #: reading every row (`key_bounds`): `engine.partitions` can cut its rows.
    partitions: bool = False
    #: The keys it can be cut by, where not any column of its rows.
    partition_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class FormatEntry(Entry):
    #: Takes `split`: its parts join back into the whole export.
    splittable: bool = True
    #: Why it takes no `split`, for the message refusing one.
    split_reason: str = ""
    #: The codecs `compression` may wrap its stream in.
    codecs: frozenset[str] = CODECS
    #: Why it takes no other codec, for the message refusing one.
    codecs_reason: str = ""
    #: `credentials: keep` only with a `template`: its own layouts would put the stored
    #: ciphertext where a reader takes the password.
    keep_needs_template: bool = False


@dataclass(frozen=True)
class DestinationEntry(Entry):
    #: The spec key holding its options, e.g. `destination.s3` (None: it takes none).
    options_key: str | None = None
    #: Writes local files, created with the `mode` a spec or its secrets ask for.
    local_files: bool = False
    #: A URI with a query string is a presigned URL, which names one object only.
    presigned_urls: bool = False


E = TypeVar("E", bound=Entry)
T = TypeVar("T")


class Registry(Mapping[str, T], Generic[E, T]):
    """Names → entries; reading a name imports its class (once)."""

    def __init__(self, entries: dict[str, E]):
        self._entries = dict(entries)
        self._loaded: dict[str, T] = {}

    def __getitem__(self, name: str) -> T:
        if name not in self._loaded:
            self._loaded[name] = _imported(self._entries[name].path, name)
        return self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries  # Mapping's own would import the class

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, name: str) -> E:
        """What `name` can do, without importing it (KeyError: no such component)."""
        return self._entries[name]

    def options(self, name: str) -> Any:
        """The options class of `name` (None: it takes no options)."""
        path = self._entries[name].options
        return None if path is None else _imported(path, name)

    def check_installed(self, name: str) -> None:
        """UsageError when a package `name` needs is not installed; nothing is imported."""
        for package in self._entries[name].requires:
            if importlib.util.find_spec(package) is None:
                raise _not_installed(name, package)

    def register(self, name: str, entry: E) -> None:
        """Add a component under a name no other component has."""
        if name in self._entries:
            raise UsageError(f"a component named `{name}` is already registered")
        self._entries[name] = entry

    def unregister(self, name: str) -> None:
        """Remove a component `register` added."""
        del self._entries[name]
        self._loaded.pop(name, None)


def _imported(path: str, name: str) -> Any:
    module, _, attribute = path.partition(":")
    try:
        return getattr(importlib.import_module(module), attribute)
    except ModuleNotFoundError as exc:  # an optional extra's library (sftp: paramiko)
        if exc.name is None or exc.name.startswith("exportctl"):
            raise
        raise _not_installed(name, exc.name) from exc


def _not_installed(name: str, package: str) -> UsageError:
    return UsageError(
        f"`{name or 'local'}` needs the Python package `{package}`, not installed "
        f"here (pip install 'exportctl[{name}]' where it is an extra)"
    )


_S = "exportctl.sources"
SOURCES: Registry[SourceEntry, type[Source]] = Registry(
    {
        "sql": SourceEntry(
            f"{_S}.sql.source:SqlSource",
            f"{_S}.sql.options:SqlOptions",
            pushes_filters=True,
            sorts_by_key=True,
            sql_query=True,
            partitions=True,
        ),
        "logs": SourceEntry(f"{_S}.logs.source:LogSource", f"{_S}.logs.options:LogOptions"),
        "config": SourceEntry(
            f"{_S}.config.source:ConfigSource",
            f"{_S}.config.options:ConfigOptions",
            redacts_by_default=True,
            restores_masked=True,
        ),
        "prometheus": SourceEntry(
            f"{_S}.prometheus.source:PrometheusSource",
            f"{_S}.prometheus.options:PrometheusOptions",
            pushes_filters=True,
            partitions=True,
            partition_keys=("timestamp",),
        ),
        "prometheus_text": SourceEntry(
            f"{_S}.prometheus.text:PrometheusTextSource",
            f"{_S}.prometheus.options:PrometheusTextOptions",
        ),
        "http_json": SourceEntry(
            f"{_S}.http_json.source:HttpJsonSource",
            f"{_S}.http_json.options:HttpJsonOptions",
        ),
        "files": SourceEntry(f"{_S}.files:FileSource", f"{_S}.files_options:FilesOptions"),
    }
)

_F = "exportctl.formats"
FORMATS: Registry[FormatEntry, type[Encoder]] = Registry(
    {
        "csv": FormatEntry(f"{_F}.csv:CsvEncoder", f"{_F}.options:CsvOptions"),
        "json": FormatEntry(
            f"{_F}.json:JsonEncoder",
            f"{_F}.options:JsonOptions",
            splittable=False,
            split_reason="a JSON array cannot be split into parts that join back; use `jsonl`",
        ),
        "jsonl": FormatEntry(f"{_F}.json:JsonlEncoder", f"{_F}.options:JsonlOptions"),
        "text": FormatEntry(
            f"{_F}.text:TextEncoder",
            f"{_F}.options:TextOptions",
            keep_needs_template=True,
        ),
        "yaml": FormatEntry(f"{_F}.yaml:YamlEncoder", f"{_F}.options:YamlOptions"),
        "parquet": FormatEntry(
            f"{_F}.parquet:ParquetEncoder",
            f"{_F}.options:ParquetOptions",
            codecs=frozenset({"none"}),
            codecs_reason="Parquet compresses inside the file: set the format's `codec`, "
            "not `compression`",
        ),
    }
)

_D = "exportctl.destinations"
_LOCAL = DestinationEntry(
    f"{_D}.local:LocalDestination", f"{_D}.local:LocalOptions", local_files=True
)
_HTTP = DestinationEntry(
    f"{_D}.http:HttpDestination",
    f"{_D}.http_options:HttpOptions",
    options_key="http",
    presigned_urls=True,
)
#: By URI scheme (`` for a plain path); each class lists the schemes it takes.
DESTINATIONS: Registry[DestinationEntry, type[Destination]] = Registry(
    {
        "": _LOCAL,
        "file": _LOCAL,
        "s3": DestinationEntry(
            f"{_D}.s3:S3Destination",
            f"{_D}.s3_options:S3Options",
            options_key="s3",
        ),
        "http": _HTTP,
        "https": _HTTP,
        "sftp": DestinationEntry(
            f"{_D}.sftp:SftpDestination",
            f"{_D}.sftp_options:SftpOptions",
            options_key="sftp",
            requires=("paramiko",),
        ),
    }
)


def destination_options_keys() -> tuple[str, ...]:
    """The spec keys that hold a destination's own options, e.g. `destination.s3`."""
    keys = (DESTINATIONS.entry(scheme).options_key for scheme in DESTINATIONS)
    return tuple(sorted({key for key in keys if key is not None}))


def scheme_of(uri: str) -> str:
    """`s3://b/k` → `s3`; a plain path → ``."""
    return urlsplit(uri).scheme.lower() if "://" in uri else ""


def destination_entry(uri: str) -> DestinationEntry | None:
    """What the destination of `uri` can do, without importing it."""
    scheme = scheme_of(uri)
    return DESTINATIONS.entry(scheme) if scheme in DESTINATIONS else None


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
