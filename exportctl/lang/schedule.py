"""When a scheduled spec runs next: schedule phrases parsed into rules, and their run instants.

Pure and clock-free: every function takes the instant to count from (`after`) and returns
aware UTC datetimes strictly after it, so the daemon and `exportctl plan` read the clock
once at their edge and tests pass any instant they like.

What a phrase means, in the spec's timezone (IANA name, default UTC):

- `every day at HH:MM[:SS]`, `every <weekday> at HH:MM[:SS]` (`every day`, `every monday`:
  at 00:00): once per local day (or week) at that wall-clock time. On a spring-forward day,
  when the time does not exist (02:30 in Europe/Berlin on the last Sunday of March), the run
  is at the first instant after the gap (03:00 local), once. On a fall-back day, when the
  time exists twice (02:30 on the last Sunday of October), the run is once, at the first.
- `every hour at :MM` (`every hour`: at :00): at every instant the local clock shows minute
  MM, so once per elapsed hour: a repeated hour on fall-back runs twice (it is two hours of
  real time), and a skipped hour on spring-forward has no run of its own (the runs before
  and after it are still one hour apart).
- `every N seconds|minutes|hours|days|weeks` (`every 1 day` too), `every second`,
  `every minute`: fixed elapsed time, unaffected by DST and by the timezone, at the
  multiples of the interval counted from the Unix epoch (1970-01-01T00:00:00Z). Every
  daemon, restarted or not, agrees on the instants: `every 15 minutes` is at :00, :15, :30,
  :45 UTC; `every 2 hours` at even UTC hours; `every 1 days` at midnight UTC (`every day` is
  midnight local).
- A cron expression (`0 2 * * *`, `*/15 * * * *`, `30 3 * * mon-fri`, or `@hourly`, `@daily`,
  `@midnight`, `@weekly`, `@monthly`, `@yearly`, `@annually`) in the same local time, with
  the same DST rules as Debian's cron, which are the phrases' rules above: a job at a fixed
  time skipped by spring-forward runs once right after the gap, one at a time repeated by
  fall-back runs once, at its first occurrence; a job that runs every hour or more often runs
  whenever the local clock matches, so a repeated hour has its runs twice.

Phrases are read case-insensitively, with any run of spaces as one.

Cron expressions are computed by cronsim (the evaluator healthchecks.io is built on): it
counts from an instant we pass in, as this module does, and its stated aim is Debian cron's
behaviour across DST changes, which is the rule the phrases follow (tested side by side).

Why not the `schedule` library (which is therefore not a dependency):
schedule 1.2's `Job._schedule_next_run` reads `datetime.datetime.now()` itself and takes no
`now`, so a controlled clock means monkeypatching `datetime` (which our conventions forbid)
or copying the method (which is not using the library). Its timezones also need pytz, it
returns naive machine-local times, a time in a DST gap moves by the size of the gap (02:30 →
03:30, not 03:00), and intervals count from when the job was created. zoneinfo (PEP 495
`fold`) gives exact answers in a few lines, so this module computes directly.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from functools import cache
from itertools import islice
from typing import Literal

from cronsim import CronSim, CronSimError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_PERIODS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(days=7)}
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Vixie cron's nicknames, which cronsim leaves to its callers.
_CRON_NICKNAMES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_PHRASE = re.compile(
    r"every (?:(?P<n>[0-9]+) (?P<unit>second|minute|hour|day|week)s?"
    r"|(?P<single>second|minute)"
    r"|hour(?: at :(?P<minute>[0-5][0-9]))?"
    r"|(?P<day>day|" + "|".join(WEEKDAYS) + r")"
    r"(?: at (?P<hh>[01][0-9]|2[0-3]):(?P<mm>[0-5][0-9])(?::(?P<ss>[0-5][0-9]))?)?)"
)


@dataclass(frozen=True)
class Rule:
    """One schedule phrase: a fixed interval, or a local wall-clock time each hour, day or week."""

    kind: Literal["interval", "hourly", "daily", "weekly", "cron"]
    #: The elapsed time between runs; only for `interval`.
    interval: timedelta = timedelta(0)
    #: The wall-clock time; `hourly` uses only its minute and second.
    at: time = time(0)
    #: 0 is Monday; only for `weekly`.
    weekday: int = 0
    #: The five cron fields (nicknames expanded); only for `cron`.
    cron: str = ""


def parse(phrase: str) -> Rule:
    """`every monday at 03:30` → Rule("weekly", at=03:30, weekday=0); ValueError if unparseable."""
    words = " ".join(phrase.split()).lower()
    if not words.startswith("every"):
        return _parse_cron(phrase, words)
    match = _PHRASE.fullmatch(words)
    if match is None:
        raise ValueError(
            f"`{phrase}` is not a schedule: write `every day at 02:00`, `every monday at 03:30`,"
            " `every hour at :05`, `every 15 minutes` (24-hour times) or a cron expression"
            " like `0 2 * * *`"
        )
    if match["unit"]:
        count = int(match["n"])
        if count == 0:
            raise ValueError(f"`{phrase}` never comes round: the interval must be at least 1")
        return Rule("interval", interval=timedelta(seconds=count * _UNITS[match["unit"]]))
    if match["single"]:
        return Rule("interval", interval=timedelta(seconds=_UNITS[match["single"]]))
    if match["day"] is None:
        return Rule("hourly", at=time(0, int(match["minute"] or 0)))
    at = time(int(match["hh"] or 0), int(match["mm"] or 0), int(match["ss"] or 0))
    if match["day"] == "day":
        return Rule("daily", at=at)
    return Rule("weekly", at=at, weekday=WEEKDAYS.index(match["day"]))


def _parse_cron(phrase: str, words: str) -> Rule:
    expression = _CRON_NICKNAMES.get(words, words)
    try:
        CronSim(expression, _EPOCH)
    except CronSimError as exc:
        raise ValueError(
            f"`{phrase}` is not a schedule: as a cron expression, {str(exc).lower()}; write five"
            " fields (`minute hour day-of-month month day-of-week`, e.g. `0 2 * * *`), a nickname"
            " like `@daily`, or a phrase like `every day at 02:00`"
        ) from None
    return Rule("cron", cron=expression)


def zone(name: str) -> tzinfo:
    """The IANA timezone `name`; ValueError naming the closest known zone if there is none."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    known = _zone_names()
    same = [z for z in known if z.lower() == name.lower()]
    guess = same or difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"did you mean `{guess[0]}`?" if guess else "use an IANA name like `Europe/Berlin`"
    raise ValueError(f"unknown timezone `{name}`; {hint}")


def next_run(rule: Rule, timezone: str, after: datetime) -> datetime:
    """The first run strictly after `after`, in UTC."""
    return next(_runs(rule, zone(timezone), _utc(after)))


def next_runs(rule: Rule, timezone: str, after: datetime, count: int) -> list[datetime]:
    """The first `count` runs strictly after `after`, in UTC, in order."""
    return list(islice(_runs(rule, zone(timezone), _utc(after)), count))


def period(rule: Rule, timezone: str, around: datetime) -> timedelta:
    """The time between two ticks of `rule` near `around`: for cron, the longest of a few gaps."""
    if rule.kind != "cron":
        return rule.interval if rule.kind == "interval" else _PERIODS[rule.kind]
    tz = zone(timezone)
    ticks = [_last_cron_tick(rule, tz, _utc(around)), *islice(_runs(rule, tz, _utc(around)), 4)]
    return max(b - a for a, b in zip(ticks, ticks[1:], strict=False))


def search_floor(rule: Rule, timezone: str, now: datetime) -> datetime:
    """An instant before the latest tick at or before `now`, and not much before it."""
    if rule.kind != "cron":
        return now - 2 * period(rule, timezone, now)
    # Reverse iteration only finds the neighbourhood: an hour of DST either way is allowed for.
    return _last_cron_tick(rule, zone(timezone), _utc(now)) - timedelta(hours=3)


def _last_cron_tick(rule: Rule, tz: tzinfo, now: datetime) -> datetime:
    # cronsim counts in whole minutes, strictly before its start in reverse.
    start = now.astimezone(tz).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return next(CronSim(rule.cron, start, reverse=True)).astimezone(UTC)


def _runs(rule: Rule, tz: tzinfo, after: datetime) -> Iterator[datetime]:
    """Run instants after `after`, strictly increasing, without end."""
    if rule.kind == "cron":
        last = after
        # cronsim counts in wall time and drops `fold`: started in a repeated hour's second
        # pass, it can answer with the first pass, before `after`. Only later instants count.
        for instant in CronSim(rule.cron, after.astimezone(tz)):
            if (utc := instant.astimezone(UTC)) > last:
                yield utc
                last = utc
        return
    if rule.kind == "interval":
        step = rule.interval
        instant = _EPOCH + step * ((after - _EPOCH) // step + 1)
        while True:
            yield instant
            instant += step
    candidates = _hourly(rule, tz, after) if rule.kind == "hourly" else _daily(rule, tz, after)
    last = after
    for instant in candidates:
        if instant > last:  # a gap can send two wall times to one instant
            yield instant
            last = instant


def _daily(rule: Rule, tz: tzinfo, after: datetime) -> Iterator[datetime]:
    """The rule's time on each local day (or its weekday) from the day before `after`."""
    day = after.astimezone(tz).date() - timedelta(days=1)
    while True:
        if rule.kind == "daily" or day.weekday() == rule.weekday:
            yield _once(datetime.combine(day, rule.at), tz)
        day += timedelta(days=1)


def _hourly(rule: Rule, tz: tzinfo, after: datetime) -> Iterator[datetime]:
    """Every instant whose local wall clock shows the rule's minute and second."""
    local = after.astimezone(tz).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    wall = local.replace(minute=rule.at.minute, second=rule.at.second) - timedelta(hours=2)
    while True:
        yield from sorted({i for i in (_exact(wall, tz, 0), _exact(wall, tz, 1)) if i})
        wall += timedelta(hours=1)


def _exact(wall: datetime, tz: tzinfo, fold: int) -> datetime | None:
    """The instant the local clock shows `wall` (its earlier or later one), if it ever does."""
    instant = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
    return instant if instant.astimezone(tz).replace(tzinfo=None) == wall else None


def _once(wall: datetime, tz: tzinfo) -> datetime:
    """`wall` in `tz`: its first instant if it occurs twice, the end of the gap if never."""
    instant = _exact(wall, tz, 0)
    if instant is not None:
        return instant
    # In a gap, fold=1 counts with the offset after it and fold=0 with the one before, which
    # puts the transition between the two: find its first second.
    low = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    high = int(wall.replace(tzinfo=tz, fold=0).timestamp())
    offset_after = datetime.fromtimestamp(high, tz).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _utc(after: datetime) -> datetime:
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("`after` must be an aware datetime; a naive one has no instant")
    return after.astimezone(UTC)


@cache
def _zone_names() -> list[str]:
    return sorted(zoneinfo.available_timezones())
