"""The cutter, pure: from a key's bounds to ranges that hold every key value, and NULL,
exactly once, in ascending order, none of them empty by construction. Each range's filter
is evaluated by the runner's own filter (transforms.filter), as a source that cannot push
it down would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exportctl.errors import RunError
from exportctl.lang import units
from exportctl.model import And, Compare, IsNull, Partitioning
from exportctl.plan.partitions import KeyRange, key_ranges
from exportctl.sources.base import KeyBounds
from exportctl.transforms.filter import apply_filter

_EPOCH = datetime(2020, 1, 1)


def _check(ranges: list[KeyRange], bounds: KeyBounds, probes: pd.Series) -> None:
    """Each probe (and NULL) in exactly one range; the ranges ordered and contiguous."""
    key = ranges[0].key
    probes = pd.concat([probes, pd.Series([None], dtype=probes.dtype)], ignore_index=True)
    frame = pd.DataFrame({key: probes, "row": range(len(probes))})
    held = pd.concat([apply_filter(frame, r.filter()) for r in ranges])
    assert sorted(held["row"]) == list(frame["row"]), ranges  # each row once
    (null,) = [r for r in ranges if r.null]
    assert ranges.index(null) == (0 if bounds.nulls_first else len(ranges) - 1)
    keyed = [r for r in ranges if not r.null]
    assert keyed[0].low is None and keyed[-1].high is None
    for before, after in zip(keyed, keyed[1:], strict=False):
        assert before.high == after.low  # contiguous: no gap, no overlap
    inner = [r.low for r in keyed[1:]]
    assert inner == sorted(set(inner))  # strictly increasing edges: no empty range
    if bounds.low is not None:
        assert all(bounds.low < edge <= bounds.high for edge in inner)


def _probes(low: Any, high: Any, step: Any, extra: list[Any]) -> list[Any]:
    """Every value from a bit below `low` to a bit above `high` (a span kept small)."""
    values, value = [], low - 3 * step
    while value <= high + 3 * step:
        values.append(value)
        value += step
    return values + extra


def _timestamps(values: list[datetime]) -> pd.Series:
    return pd.Series(pd.to_datetime(values, utc=values[0].tzinfo is not None))


#: Each example filters a frame once per range: fewer, slower examples than the default.
_FILTERING = settings(max_examples=100, deadline=None)


@_FILTERING
@given(
    low=st.integers(-(10**6), 10**6),
    width=st.integers(0, 300),
    rows=st.integers(1, 10**7),
    count=st.integers(1, 120),
    by_size=st.booleans(),
    nulls_first=st.booleans(),
)
def test_every_integer_and_null_falls_in_exactly_one_range(
    low: int, width: int, rows: int, count: int, by_size: bool, nulls_first: bool
) -> None:
    bounds = KeyBounds(low, low + width, rows, nulls=1, nulls_first=nulls_first)
    cut = Partitioning("id", size=count) if by_size else Partitioning("id", count=count)
    ranges = key_ranges(cut, bounds)
    probes = _probes(low, low + width, 1, [-(2**63) + 1, 2**63 - 1])
    _check(ranges, bounds, pd.Series(probes, dtype="Int64"))
    wanted = -(-rows // count) if by_size else count
    assert len(ranges) - 1 == min(wanted, width + 1, rows)


@_FILTERING
@given(
    start=st.integers(0, 10**15),
    width=st.integers(0, 400),
    step=st.sampled_from([1, 1000, 10**6, 3_600_000_000]),
    count=st.integers(1, 50),
    aware=st.booleans(),
)
def test_every_timestamp_and_null_falls_in_exactly_one_range(
    start: int, width: int, step: int, count: int, aware: bool
) -> None:
    """Timestamps cut in microseconds, naive or aware, probed at the key's own step."""
    zero = _EPOCH.replace(tzinfo=UTC) if aware else _EPOCH
    low = zero + timedelta(microseconds=start)
    high = low + timedelta(microseconds=width * step)
    bounds = KeyBounds(low, high, rows=10**6, nulls=0, nulls_first=False)
    ranges = key_ranges(Partitioning("ts", count=count), bounds)
    tick = timedelta(microseconds=step)
    _check(ranges, bounds, _timestamps(_probes(low, high, tick, [])))
    assert all(type(r.low) is datetime and r.low.tzinfo == zero.tzinfo for r in ranges[1:-1])


@_FILTERING
@given(
    start=st.integers(0, 10**15),
    periods=st.integers(0, 40),
    every=st.sampled_from(["1h", "90m", "6h", "1d", "1w", "30s"]),
    aware=st.booleans(),
)
def test_periods_are_aligned_and_hold_every_timestamp_once(
    start: int, periods: int, every: str, aware: bool
) -> None:
    """`every`: ranges of one period each, starting at multiples of it since the epoch."""
    zero = _EPOCH.replace(tzinfo=UTC) if aware else _EPOCH
    low = zero + timedelta(microseconds=start)
    step = units.duration(every)
    high = low + periods * step
    bounds = KeyBounds(low, high, rows=10**6, nulls=0, nulls_first=True)
    ranges = key_ranges(Partitioning("ts", every=every), bounds)
    _check(ranges, bounds, _timestamps(_probes(low, high, step / 3, [])))
    epoch = datetime(1970, 1, 1, tzinfo=UTC if aware else None)
    keyed = ranges[1:]
    assert all((r.low - epoch) % step == timedelta(0) for r in keyed[1:])
    assert all(r.high - r.low == step for r in keyed[1:-1])
    assert keyed[0].high is None or keyed[0].high - step <= low < keyed[0].high
    assert keyed[-1].low is None or keyed[-1].low <= high < keyed[-1].low + step


@_FILTERING
@given(
    low=st.integers(-1000, 1000),
    width=st.integers(0, 200),
    quantiles=st.lists(st.integers(-1200, 1400), min_size=1, max_size=12),
    nulls_first=st.booleans(),
)
def test_quantiles_cut_sizes_and_every_value_falls_once(
    low: int, width: int, quantiles: list[int], nulls_first: bool
) -> None:
    """A database's quantiles (repeated, out of the span, unsorted as given) become
    strictly increasing edges inside the span; `count` ignores them."""
    high = low + width
    inside = [min(max(q, low), high) for q in quantiles]
    bounds = KeyBounds(low, high, 10**6, 0, nulls_first, tuple(inside))
    ranges = key_ranges(Partitioning("id", size=1000), bounds)
    _check(ranges, bounds, pd.Series(_probes(low, high, 1, []), dtype="Int64"))
    assert [r.low for r in ranges if not r.null][1:] == sorted({q for q in inside if q > low})
    counted = key_ranges(Partitioning("id", count=2), bounds)
    assert counted == key_ranges(
        Partitioning("id", count=2), KeyBounds(low, high, 10**6, 0, nulls_first)
    )


def test_periods_cut_only_timestamps_and_not_too_many() -> None:
    with pytest.raises(RunError, match="`every` cuts a timestamp key"):
        key_ranges(Partitioning("id", every="1d"), KeyBounds(1, 10, 10, 0))
    far = KeyBounds(datetime(1900, 1, 1), datetime(2100, 1, 1), 10, 0)
    with pytest.raises(RunError, match="over 100,000 periods"):
        key_ranges(Partitioning("ts", every="1h"), far)


@given(nulls_first=st.booleans(), count=st.integers(1, 20))
def test_no_key_at_all_leaves_one_range_for_values_and_one_for_null(
    nulls_first: bool, count: int
) -> None:
    """An empty table, or only NULL keys: still every row, once."""
    bounds = KeyBounds(None, None, rows=0, nulls=5, nulls_first=nulls_first)
    ranges = key_ranges(Partitioning("id", count=count), bounds)
    _check(ranges, bounds, pd.Series([0, -1, 10**9], dtype="Int64"))
    assert [str(r) for r in ranges] == (
        ["id IS NULL", "id IS NOT NULL"] if nulls_first else ["id IS NOT NULL", "id IS NULL"]
    )


def test_one_distinct_value_is_one_range_whatever_the_count() -> None:
    ranges = key_ranges(Partitioning("id", count=16), KeyBounds(7, 7, 1000, 0, True))
    assert [str(r) for r in ranges] == ["id IS NULL", "id IS NOT NULL"]


def test_more_partitions_than_rows_gives_one_range_per_row_at_most() -> None:
    ranges = key_ranges(Partitioning("id", count=16), KeyBounds(1, 1000, 3, 0, False))
    assert [str(r) for r in ranges] == ["id < 334", "334 <= id < 667", "667 <= id", "id IS NULL"]


def test_a_range_is_a_filter_and_a_manifest_entry() -> None:
    stamp = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    key_range = KeyRange("ts", stamp, stamp + timedelta(hours=1))
    assert key_range.filter() == And(
        (
            IsNull("ts", negate=True),
            Compare("ts", "ge", "2026-12-07T12:00:00+00:00"),
            Compare("ts", "lt", "2026-12-07T13:00:00+00:00"),
        )
    )
    assert key_range.to_json() == {
        "key": "ts",
        "from": "2026-12-07T12:00:00+00:00",
        "to": "2026-12-07T13:00:00+00:00",
    }
    assert KeyRange("ts", null=True).to_json() == {"key": "ts", "null": True}


@pytest.mark.parametrize("value", ["a", 1.5, True])
def test_a_key_neither_integer_nor_timestamp_is_refused(value: Any) -> None:
    with pytest.raises(RunError, match="partitions cut integer and timestamp keys; `k` holds"):
        key_ranges(Partitioning("k", count=2), KeyBounds(value, value, 1, 0, True))
