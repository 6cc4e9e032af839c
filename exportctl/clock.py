"""Time, read in one place: the wall clock, the monotonic clock and sleep.

Whatever stamps, measures or waits takes a `Clock` (default `SYSTEM`) and never reads
`datetime.now`, `time.monotonic` or `time.sleep` itself, so a test passes a `FakeClock`
and a daemon's day passes in milliseconds.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Event(Protocol):
    """A `threading.Event`, or a `multiprocessing.Event` shared with worker processes."""

    def is_set(self) -> bool: ...
    def set(self) -> None: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for intervals and deadlines."""
        ...

    def sleep(self, seconds: float) -> None: ...

    def wait(self, event: Event, seconds: float) -> bool:
        """Sleep up to `seconds`, less once `event` is set; whether it is set."""
        ...


class SystemClock:
    """The machine's clocks."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def wait(self, event: Event, seconds: float) -> bool:
        return event.wait(seconds)


SYSTEM: Clock = SystemClock()

#: How often a fake clock's waiter in another thread looks at its event (real seconds).
_LOOK_EVERY = 0.01


def utc_now() -> datetime:
    return SYSTEM.now()


class FakeClock:
    """A clock that moves only when told to, or when something sleeps on it.

    The thread that made it drives it: its sleeps and waits pass at once, moving the
    clock. Another thread's sleep or wait (a run's heartbeat, a worker's backoff) does not
    move it: it lasts until its event is set or the driver moves the clock past its end.
    """

    def __init__(self, start: datetime):
        self._now = start
        self._monotonic = 0.0
        self.slept: list[float] = []
        self._driver = threading.get_ident()
        self._moved = threading.Condition()

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def sleep(self, seconds: float) -> None:
        if threading.get_ident() != self._driver:
            self.wait(threading.Event(), seconds)  # until the driver moves the clock past it
            return
        self.slept.append(seconds)
        self.advance(seconds)

    def wait(self, event: Event, seconds: float) -> bool:
        if event.is_set():
            return True
        if threading.get_ident() == self._driver:
            self.sleep(seconds)
            return event.is_set()
        with self._moved:
            end = self._monotonic + seconds
            while not event.is_set() and self._monotonic < end:
                self._moved.wait(_LOOK_EVERY)  # events do not tell the condition
        return event.is_set()

    def advance(self, seconds: float) -> None:
        with self._moved:
            self._monotonic += max(seconds, 0.0)
            self._now += timedelta(seconds=max(seconds, 0.0))
            self._moved.notify_all()
