"""A range query's points, on multiples of its step, cut into windows the server accepts."""

from __future__ import annotations


def windows(start_ms: int, end_ms: int, step_ms: int, max_points: int) -> list[tuple[int, int]]:
    """`[first, last]` pairs covering every multiple of `step_ms` in `[start_ms, end_ms]`.

    Each holds at most `max_points` points and starts one step after the one before it, so
    no point is asked for twice or skipped, and a run that starts where another ended asks
    for the same points (they lie on multiples of the step since the epoch, not of `start`).
    """
    first, last = points(start_ms, end_ms, step_ms)
    span = (max_points - 1) * step_ms
    found = []
    while first <= last:
        found.append((first, min(first + span, last)))
        first += span + step_ms
    return found


def points(start_ms: int, end_ms: int, step_ms: int) -> tuple[int, int]:
    """The first and last multiples of `step_ms` in `[start_ms, end_ms]` (first > last: none)."""
    return -(-start_ms // step_ms) * step_ms, end_ms // step_ms * step_ms


def seconds(ms: int) -> str:
    """Milliseconds as the seconds Prometheus's API takes, exactly."""
    sign = "-" if ms < 0 else ""
    whole, part = divmod(abs(ms), 1000)
    return f"{sign}{whole}.{part:03d}"
