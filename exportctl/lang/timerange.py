"""Time ranges: `[start, end)` of a time field, from expressions resolved against a given `now`.

Pure: `now` comes in as an argument and no clock is read. An expression is `now`,
`now-7d` or `now+1h30m` (units s, m, h, d, w; a day is 24 hours), an ISO-8601 date
(midnight in the range's timezone) or instant (its offset, or the range's timezone when
it has none). A calendar window (`yesterday`, `last_week`, ...) is aligned to midnight
in the range's timezone, so it is 23 or 25 hours long across a DST change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from exportctl.lang import schedule as scheduler
from exportctl.lang import units

if TYPE_CHECKING:
    from exportctl.model import TimeRange

WINDOWS = ("today", "yesterday", "this_week", "last_week", "this_month", "last_month")
EXPRESSIONS = "`now`, `now-7d` (units s, m, h, d, w), or an ISO-8601 date or instant"

_RELATIVE = re.compile(r"now(?:\s*([+-])\s*((?:\d+[smhdw])+))?")
_TERM = re.compile(r"(\d+)([smhdw])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ANY_TIME = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ResolvedRange:
    """The rows whose `field` is at or after `start` and before `end` (None: unbounded)."""

    field: str
    start: datetime | None
    end: datetime | None
    timezone: str = "UTC"

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "from": _iso(self.start),
            "to": _iso(self.end),
            "timezone": self.timezone,
        }


def instant(text: str, now: datetime, tz: tzinfo) -> datetime:
    """The UTC instant an expression stands for, or ValueError saying what is allowed."""
    text = text.strip()
    relative = _RELATIVE.fullmatch(text)
    if relative:
        sign, terms = relative.groups()
        delta = sum(
            (units.duration(n + u) for n, u in _TERM.findall(terms or "")),
            timedelta(),
        )
        return now.astimezone(UTC) + (-delta if sign == "-" else delta)
    try:
        if _DATE.fullmatch(text):
            return _midnight(date.fromisoformat(text), tz)
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        detail = f" ({exc})" if text[:1].isdigit() and len(text) > 6 else ""
        window_hint = f"; the calendar window is `window: {text}`" if text in WINDOWS else ""
        message = f"`{text}` is not a time{detail}: use {EXPRESSIONS}{window_hint}"
        raise ValueError(message) from None
    if moment.tzinfo is None:
        local = moment.replace(tzinfo=tz)
        if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != moment:
            raise ValueError(f"`{text}` does not exist in {tz} (the clocks skip it); add an offset")
        moment = local
    return moment.astimezone(UTC)


def problems(spec_range: TimeRange) -> dict[str, str]:
    """What is wrong with a range whatever the time, by key (`timezone`, `from`, `to`)."""
    try:
        tz = scheduler.zone(spec_range.timezone)
    except ValueError as exc:
        return {"timezone": str(exc)}
    found: dict[str, str] = {}
    for key, text in (("from", spec_range.start), ("to", spec_range.end)):
        try:
            if text is not None:
                instant(text, _ANY_TIME, tz)
        except ValueError as exc:
            found[key] = str(exc)
    fixed = spec_range.window is None and "now" not in f"{spec_range.start}{spec_range.end}"
    if not found and fixed:
        try:  # two fixed instants are in the wrong order at any time
            resolve(spec_range, _ANY_TIME)
        except ValueError as exc:
            found["to"] = str(exc)
    return found


def window(name: str, now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """The calendar window `name` around `now`, aligned to midnight in `tz`, in UTC."""
    today = now.astimezone(tz).date()
    if name in ("today", "yesterday"):
        day = today - timedelta(days=1 if name == "yesterday" else 0)
        return _midnight(day, tz), _midnight(day + timedelta(days=1), tz)
    if name in ("this_week", "last_week"):  # ISO weeks start on Monday
        monday = today - timedelta(days=today.weekday() + (7 if name == "last_week" else 0))
        return _midnight(monday, tz), _midnight(monday + timedelta(days=7), tz)
    if name in ("this_month", "last_month"):
        first = today.replace(day=1)
        if name == "last_month":
            first = (first - timedelta(days=1)).replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return _midnight(first, tz), _midnight(following, tz)
    raise ValueError(f"unknown window `{name}`; known: {', '.join(WINDOWS)}")


def resolve(spec_range: TimeRange, now: datetime) -> ResolvedRange:
    """The range at `now`: a window's bounds, each replaced by an explicit `from`/`to`."""
    tz = scheduler.zone(spec_range.timezone)
    start: datetime | None = None
    end: datetime | None = None
    if spec_range.window is not None:
        start, end = window(spec_range.window, now, tz)
    if spec_range.start is not None:
        start = instant(spec_range.start, now, tz)
    if spec_range.end is not None:
        end = instant(spec_range.end, now, tz)
    if start is not None and end is not None and start >= end:
        raise ValueError(
            f"the range is empty: `from` ({_iso(start)}) is not before `to` ({_iso(end)})"
        )
    return ResolvedRange(spec_range.field, start, end, spec_range.timezone)


def bound_text(moment: datetime) -> str:
    """A UTC instant as naive UTC text, `YYYY-MM-DD HH:MM:SS.ffffff`.

    Filters read text without an offset as UTC, for typed columns and log records alike, and
    this is the very text SQLAlchemy stores in SQLite DATETIME columns, so it compares right
    even where the column is untyped text (raw `sql:` over SQLite).
    """
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"


def _midnight(day: date, tz: tzinfo) -> datetime:
    # Where midnight is skipped by a DST change, this is the instant the day begins.
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}"


def since(text: str, now: datetime) -> datetime:
    """`7d`, `12h`, `30m`, `2w` before `now`, or an ISO date or instant (UTC if naive)."""
    relative = re.fullmatch(r"(\d+)([mhdw])", text)
    if relative:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[relative[2]]
        return now - timedelta(**{unit: int(relative[1])})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"`{text}` is neither an ISO date nor like 7d") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
