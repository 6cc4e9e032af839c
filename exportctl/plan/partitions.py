"""A plan cut into partitions: the pieces of its rows an engine may export apart.

Pure, like the compiler: the key's bounds come in (the source's `key_bounds`, asked by
the runner), and the cut is arithmetic on them. A plan without `engine.partitions` is
one partition. A partitioned plan is half-open ranges of the key, the first open below
and the last open above, plus one partition for NULL keys (first or last, where the
source's ascending order puts NULLs): together they hold every row exactly once, in the
order `order_by: [key]` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from exportctl.errors import RunError
from exportctl.lang import units
from exportctl.model import And, Compare, Filter, IsNull, OrderKey, Partitioning
from exportctl.plan.compiler import ExportPlan
from exportctl.sources.base import KeyBounds, Request, pieces

_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class KeyRange:
    """Rows whose `key` is in [low, high) (None: unbounded that side), or NULL (`null`)."""

    key: str
    low: Any = None
    high: Any = None
    null: bool = False

    def filter(self) -> Filter:
        if self.null:
            return IsNull(self.key)
        bounds: list[Filter] = [IsNull(self.key, negate=True)]
        if self.low is not None:
            bounds.append(Compare(self.key, "ge", _scalar(self.low)))
        if self.high is not None:
            bounds.append(Compare(self.key, "lt", _scalar(self.high)))
        return And(tuple(bounds))

    def __str__(self) -> str:
        """As `plan` shows it: `id IS NULL`, `id < 26`, `26 <= id < 51`, `76 <= id`."""
        if self.null or (self.low is None and self.high is None):
            return f"{self.key} IS {'' if self.null else 'NOT '}NULL"
        low = "" if self.low is None else f"{_scalar(self.low)} <= "
        high = "" if self.high is None else f" < {_scalar(self.high)}"
        return f"{low}{self.key}{high}"

    def to_json(self) -> dict[str, Any]:
        """As the manifest records it: `from` inclusive, `to` exclusive, null unbounded."""
        if self.null:
            return {"key": self.key, "null": True}
        return {"key": self.key, "from": _scalar(self.low), "to": _scalar(self.high)}


@dataclass(frozen=True)
class Partition:
    """Rows of the export that one pass of the pipeline reads, transforms and writes."""

    #: Its place in the export: partitions are written, and their parts named, in this order.
    index: int
    #: The rows it reads.
    request: Request
    #: Rows read again only for their invalid rows (`ExportPlan.replay`): the first
    #: partition's, as a retry's kept parts come first.
    replay: Request | None = None
    #: The key range it holds, where the plan is partitioned (recorded in the manifest).
    range: KeyRange | None = None


def partitions_of(plan: ExportPlan, bounds: KeyBounds | None = None) -> list[Partition]:
    """The partitions of `plan`, in export order: the whole plan, unless its spec asks
    for partitions, which are cut from the key's `bounds`."""
    cut = plan.spec.engine.partitions
    if cut is None:
        return [Partition(0, plan.request, plan.replay)]
    if bounds is None:
        raise ValueError("a partitioned plan is cut from its key's bounds")
    ranges = key_ranges(cut, bounds)
    return [
        Partition(i, _within(plan.request, r), plan.replay if i == 0 else None, r)
        for i, r in enumerate(ranges)
    ]


def partition_at(plan: ExportPlan, index: int, key_range: KeyRange) -> Partition:
    """The partition `index` of `plan`, as `partitions_of` cut it at `key_range`: what an
    engine that rebuilds the plan elsewhere (a Dask worker) reads."""
    return Partition(index, _within(plan.request, key_range), None, key_range)


def key_ranges(cut: Partitioning, bounds: KeyBounds) -> list[KeyRange]:
    """The key's ranges in ascending order, cut evenly by value, and the NULL partition."""
    edges = _edges(cut, bounds) if bounds.low is not None else []
    lows, highs = [None, *edges], [*edges, None]
    ranges = [KeyRange(cut.by, low, high) for low, high in zip(lows, highs, strict=True)]
    if not bounds.nullable:  # a Prometheus sample always has its timestamp
        return ranges
    null = KeyRange(cut.by, null=True)
    return [null, *ranges] if bounds.nulls_first else [*ranges, null]


#: Periods `every` may cut a key's span into (the schema's `count` has the same limit).
MAX_PERIODS = 100_000


def _edges(cut: Partitioning, bounds: KeyBounds) -> list[Any]:
    """The values where one range ends and the next begins, strictly increasing."""
    if cut.every is not None:
        return _period_edges(cut, bounds)
    if cut.size is not None and bounds.quantiles:  # pieces of even rows, not even width
        return sorted({q for q in bounds.quantiles if q is not None and bounds.low < q})
    low, high = _number(bounds.low, cut.by), _number(bounds.high, cut.by)
    span = high - low + 1  # the distinct values a range may hold
    wanted = cut.count if cut.count is not None else pieces(bounds.rows, cut.size or 1)
    count = max(1, min(wanted, span, bounds.rows))
    return [_value(low + i * span // count, bounds.low) for i in range(1, count)]


def _period_edges(cut: Partitioning, bounds: KeyBounds) -> list[Any]:
    """The starts of the periods after the first, periods aligned to the epoch in UTC (so
    `1d` starts at midnight), up to the one holding the greatest key."""
    key = cut.by
    if not isinstance(bounds.low, datetime):
        raise RunError(
            f"`every` cuts a timestamp key into periods; `{key}` holds "
            f"{type(bounds.low).__name__} values such as {bounds.low!r}: use `count` or `size`"
        )
    step = units.duration(cut.every or "") // _MICROSECOND
    low, high = _number(bounds.low, key), _number(bounds.high, key)
    first, last = low - low % step, high - high % step
    if (last - first) // step >= MAX_PERIODS:
        raise RunError(
            f"`every: {cut.every}` cuts `{key}` from {bounds.low} to "
            f"{bounds.high} into over {MAX_PERIODS:,} periods: choose a longer period"
        )
    return [_value(start, bounds.low) for start in range(first + step, last + 1, step)]


def _number(value: Any, key: str) -> int:
    """An integer key as it is; a timestamp as microseconds since the epoch."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, datetime):
        return (value - _epoch(value)) // _MICROSECOND
    raise RunError(
        f"partitions cut integer and timestamp keys; `{key}` holds "
        f"{type(value).__name__} values such as {value!r}"
    )


def _value(number: int, like: Any) -> Any:
    """`_number` undone, as the same kind of value as `like`."""
    return _epoch(like) + number * _MICROSECOND if isinstance(like, datetime) else number


def _epoch(like: datetime) -> datetime:
    """The Unix epoch, naive for a naive key (SQLite's text, UTC by convention)."""
    return datetime(1970, 1, 1, tzinfo=UTC if like.tzinfo is not None else None)


def _scalar(value: Any) -> Any:
    """A bound as a filter and a manifest hold it: a timestamp as ISO text."""
    return value.isoformat() if isinstance(value, datetime) else value


def _within(request: Request, key_range: KeyRange) -> Request:
    """The request narrowed to the range, read in key order (the spec's order, which the
    rules let start only with the key)."""
    query = request.query
    where = key_range.filter() if query.where is None else And((query.where, key_range.filter()))
    order = query.order_by
    if not order or order[0].field != key_range.key:  # an incremental window's (cursor, key)
        order = (OrderKey(key_range.key),)
    return replace(request, query=replace(query, where=where, order_by=order))
