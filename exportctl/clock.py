"""The wall clock, read in one place: commands take `now` from here and pass it on."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
