"""Time, read in one place: the wall clock, the monotonic clock and sleep.

Whatever stamps, measures or waits takes a `Clock` (default `SYSTEM`) and never reads
`datetime.now`, `time.monotonic` or `time.sleep` itself, so a test passes a `FakeClock`
and a daemon's day passes in milliseconds.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for intervals and deadlines."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The machine's clocks."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM: Clock = SystemClock()


def utc_now() -> datetime:
    return SYSTEM.now()


class FakeClock:
    """A clock that moves only when told to, or when something sleeps on it."""

    def __init__(self, start: datetime):
        self._now = start
        self._monotonic = 0.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self._monotonic += max(seconds, 0.0)
        self._now += timedelta(seconds=max(seconds, 0.0))
