"""The time bounds a filter puts on one column, read from the filter itself.

A Prometheus query needs a start and an end, but the runner hands a source only
its filter (the spec's `where`, its `time_range`, an incremental window). Any
conjunct that bounds the time column narrows the fetch; the filter itself is
still applied to every row, so a bound read loosely here loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from exportctl import model as m


@dataclass(frozen=True)
class Bounds:
    """Every row the filter keeps has `start <= column <= end` (None: unbounded)."""

    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    #: A condition that must hold says `column < end` (a time range's `to`): `end` is out.
    end_excluded: bool = False


def time_bounds(node: m.Filter | None, column: str) -> Bounds:
    """The tightest inclusive bounds on `column` that `node` implies, as far as they are read."""
    if node is None:
        return Bounds()
    end = _upper(node, column, False)
    return Bounds(_lower(node, column, False), end, end is not None and _below(node, column, end))


def instant(value: Any) -> pd.Timestamp | None:
    """A filter's time value as a UTC timestamp: naive text and datetimes are UTC."""
    if not isinstance(value, str | datetime | pd.Timestamp):
        return None
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _lower(node: m.Filter, column: str, negated: bool) -> pd.Timestamp | None:
    """A value every kept row's `column` is at or after (under `negated`: of `not node`)."""
    if isinstance(node, m.Not):
        return _lower(node.item, column, not negated)
    if isinstance(node, m.And | m.Or):
        found = [_lower(item, column, negated) for item in node.items]
        return _combine(found, isinstance(node, m.And) != negated, max)
    if isinstance(node, m.Between) and node.field == column and not negated:
        return instant(node.low)
    if isinstance(node, m.Compare) and node.field == column:
        ops = ("le", "lt") if negated else ("gt", "ge", "eq")
        return instant(node.value) if node.op in ops else None
    return None


def _upper(node: m.Filter, column: str, negated: bool) -> pd.Timestamp | None:
    """A value every kept row's `column` is at or before (under `negated`: of `not node`)."""
    if isinstance(node, m.Not):
        return _upper(node.item, column, not negated)
    if isinstance(node, m.And | m.Or):
        found = [_upper(item, column, negated) for item in node.items]
        return _combine(found, isinstance(node, m.And) != negated, min)
    if isinstance(node, m.Between) and node.field == column and not negated:
        return instant(node.high)
    if isinstance(node, m.Compare) and node.field == column:
        ops = ("ge", "gt") if negated else ("lt", "le", "eq")
        return instant(node.value) if node.op in ops else None
    return None


def _below(node: m.Filter, column: str, end: pd.Timestamp) -> bool:
    """Whether a condition that must hold (a conjunct) is `column < end`."""
    if isinstance(node, m.And):
        return any(_below(item, column, end) for item in node.items)
    return (
        isinstance(node, m.Compare)
        and node.field == column
        and node.op == "lt"
        and instant(node.value) == end
    )


def _combine(
    found: list[pd.Timestamp | None], all_hold: bool, tighter: Callable[..., pd.Timestamp]
) -> pd.Timestamp | None:
    """Bounds of conditions that all hold: the tightest known one. Of conditions one of which
    holds (`or`, or a negated `and`): the loosest, and only if every one has a bound."""
    known = [v for v in found if v is not None]
    if not known or (not all_hold and len(known) < len(found)):
        return None
    loosest = min if tighter is max else max
    return (tighter if all_hold else loosest)(known)
