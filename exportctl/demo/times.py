"""The demo's clock: a fixed "now" and the windows before it, and instants as SQLite
stores them. Log events and samples are spread over windows from the seed alone, so
system.db and the log files hold the same events without either writer knowing of the other.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

# A fixed "now", never the wall clock: the same seed must give the same bytes.
END = datetime(2026, 11, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
DAY_US = 86_400 * SECOND_US
END_US = (END - EPOCH) // timedelta(microseconds=1)
LOG_DAYS = 3  # proxywhirl.log plus two rotated, gzipped days
WINDOW_US = 30 * DAY_US  # what the pool and the metric samples span

_EPOCH_ORDINAL = EPOCH.date().toordinal()


@lru_cache(maxsize=1 << 16)
def _minute_text(minute: int) -> str:
    day, minute_of_day = divmod(minute, 1440)
    hours, minutes = divmod(minute_of_day, 60)
    return f"{date.fromordinal(_EPOCH_ORDINAL + day).isoformat()} {hours:02d}:{minutes:02d}:"


def sqlite_datetime(us: int) -> str:
    """Microseconds since the epoch as SQLAlchemy's SQLite dialect stores DATETIME."""
    # A cached prefix and %-formatting, not strftime: this runs millions of times.
    minute, rest = divmod(us, MINUTE_US)
    return "%s%02d.%06d" % (_minute_text(minute), rest // SECOND_US, rest % SECOND_US)  # noqa: UP031


def spread(rng: random.Random, index: int, count: int, start_us: int, span_us: int) -> int:
    """The index-th of `count` instants over a span, jittered but never out of order."""
    low = start_us + index * span_us // count
    high = start_us + (index + 1) * span_us // count
    return low + int(rng.random() * (high - low))
