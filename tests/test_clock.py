"""The fake clock: its driver's waits move it; another thread's wait never does."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from exportctl.clock import SYSTEM, FakeClock

START = datetime(2025, 1, 1, tzinfo=UTC)


def test_the_drivers_wait_passes_at_once_unless_its_event_is_set():
    clock, event = FakeClock(START), threading.Event()
    assert clock.wait(event, 90) is False
    assert clock.now() == START + timedelta(seconds=90) and clock.slept == [90]
    event.set()
    assert clock.wait(event, 90) is True
    assert clock.now() == START + timedelta(seconds=90) and clock.slept == [90]


def test_another_threads_wait_lasts_until_the_driver_moves_the_clock_past_it():
    clock, event = FakeClock(START), threading.Event()
    woken: list[bool] = []
    waiter = threading.Thread(target=lambda: woken.append(clock.wait(event, 60)))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and clock.now() == START  # it waits, and moves nothing
    clock.advance(59)
    waiter.join(0.2)
    assert waiter.is_alive()
    clock.advance(1)
    waiter.join(5)
    assert woken == [False] and clock.slept == []


def test_another_threads_sleep_moves_nothing_and_ends_when_the_driver_passes_it():
    clock = FakeClock(START)
    waiter = threading.Thread(target=lambda: clock.sleep(30))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and clock.now() == START and clock.slept == []
    clock.advance(30)
    waiter.join(5)
    assert not waiter.is_alive() and clock.now() == START + timedelta(seconds=30)


def test_another_threads_wait_ends_when_its_event_is_set():
    clock, event = FakeClock(START), threading.Event()
    woken: list[bool] = []
    waiter = threading.Thread(target=lambda: woken.append(clock.wait(event, 3600)))
    waiter.start()
    event.set()
    waiter.join(5)
    assert woken == [True] and clock.now() == START


def test_the_system_clocks_wait_returns_as_soon_as_the_event_is_set():
    event = threading.Event()
    event.set()
    started = SYSTEM.monotonic()
    assert SYSTEM.wait(event, 60) is True
    assert SYSTEM.monotonic() - started < 5
