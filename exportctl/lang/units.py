"""Lengths of time and numbers of bytes as specs write them: `15m`, `30d`, `2GiB`."""

from __future__ import annotations

import re
from datetime import timedelta

_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_BYTES = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_BYTES |= {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhdw])")
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?([A-Za-z]+)")


def duration(text: str) -> timedelta:
    """`15m` → 15 minutes; `s`, `m`, `h`, `d` (24 hours), `w`. ValueError for anything else."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a length of time like 30s, 15m, 12h, 30d or 2w")
    return timedelta(seconds=float(match[1]) * _SECONDS[match[2]])


def byte_count(size: int | str) -> int:
    """`2GiB` → 2147483648; an int is already bytes. ValueError for anything else."""
    if isinstance(size, int):
        return size
    match = _SIZE.fullmatch(size)
    if match is None or match[2] not in _BYTES:
        raise ValueError(f"{size!r} is not a size like 500MB or 2GiB")
    return int(float(match[1]) * _BYTES[match[2]])
