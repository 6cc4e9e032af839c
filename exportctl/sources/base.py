"""What a source promises the runner."""

from __future__ import annotations

import math
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from exportctl.model import Query
from exportctl.transforms.filter import apply_filter


@dataclass(frozen=True)
class Request:
    """What the runner wants from a source: a query and the columns it needs (None: all)."""

    query: Query
    columns: tuple[str, ...] | None = None
    #: (source column, type) a spec's fields declare: the type a source reads a column
    #: as when its own data cannot tell (see sources.sql.column_types).
    declared: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class KeyBounds:
    """A key column among a request's rows, as partitions are cut from it: its least and
    greatest values (None: no row has one) and how many rows have one or a NULL."""

    low: Any
    high: Any
    rows: int
    nulls: int
    #: Whether the source's ascending order puts NULL keys first (SQLite) or last (PostgreSQL).
    nulls_first: bool = True
    #: Key values that split the keyed rows into pieces of about `size` rows, ascending,
    #: where the database can find them (PostgreSQL's `percentile_disc`); empty elsewhere.
    quantiles: tuple[Any, ...] = ()
    #: Whether the key may be NULL at all (else no partition is cut for NULL keys).
    nullable: bool = True


def pieces(rows: int, size: int) -> int:
    """How many partitions of about `size` rows `rows` rows make."""
    return max(1, math.ceil(rows / size))


class Source(Protocol):
    # What a source can do (apply `query.where` itself, count cheaply, ...) is declared in
    # its registry entry (`registry.SourceEntry`), read without importing it.

    def __init__(self, options: Any, base_dir: Path) -> None: ...

    def describe(self, request: Request) -> dict[str, Any]:
        """What would be read, for `plan`: no secrets, no I/O beyond the spec."""
        ...

    def count(self, request: Request) -> int | None:
        """Rows the request would yield, if cheap to know."""
        ...

    def last_position(self, request: Request, columns: tuple[str, ...]) -> tuple[Any, ...] | None:
        """The greatest value of `columns` (compared in order) among the request's rows."""
        ...

    def chunks(self, request: Request) -> Generator[pd.DataFrame, None, None]:
        """Rows in chunks; at least one chunk (maybe empty) so the columns are known."""
        ...

    def report(self) -> list[str]:
        """What the source passed over, for the run's warnings (malformed lines, say)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class Partitionable(Source, Protocol):
    """A source whose registry entry declares `partitions`: it reads key ranges."""

    def key_bounds(self, request: Request, key: str, size: int | None = None) -> KeyBounds:
        """The bounds of `key` among the request's rows, found without reading them all;
        with `size`, also its quantiles for pieces of that many rows, if the source can."""
        ...


def greatest_position(
    chunks: Iterable[pd.DataFrame], request: Request, columns: tuple[str, ...]
) -> tuple[Any, ...] | None:
    """`last_position` for a source that cannot ask for a maximum: read every row once."""
    best: tuple[Any, ...] | None = None
    for chunk in chunks:
        if chunk.empty:
            continue
        rows = apply_filter(chunk, request.query.where)[list(columns)].dropna()
        if not rows.empty:
            candidate = max(rows.itertuples(index=False, name=None))
            best = candidate if best is None else max(best, candidate)
    return best and tuple(v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in best)
