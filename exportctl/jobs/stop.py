"""A stop request shared by the exports of one process (or of a daemon's workers)."""

from __future__ import annotations

import threading

from exportctl.clock import SYSTEM, Clock, Event
from exportctl.errors import Interrupted


class Stop:
    """Asks running exports to stop at their next chunk (SIGTERM with several jobs)."""

    def __init__(self, event: Event | None = None) -> None:
        self._event: Event = event or threading.Event()
        self.signum = 0

    def request(self, signum: int) -> None:
        self.signum = signum
        self._event.set()

    def check(self) -> None:
        if self._event.is_set():
            raise Interrupted(self.signum)

    def sleep(self, seconds: float, clock: Clock = SYSTEM) -> None:
        """Wait between attempts on `clock`, but not past a stop request."""
        if clock.wait(self._event, seconds):
            raise Interrupted(self.signum)
