"""Log levels ranked as loguru ranks them, for the `min_level` threshold."""

from __future__ import annotations

#: loguru's built-in levels and their numbers (Python's logging agrees where they overlap).
RANKS = {
    "TRACE": 5,
    "DEBUG": 10,
    "INFO": 20,
    "SUCCESS": 25,
    "WARNING": 30,
    "ERROR": 40,
    "CRITICAL": 50,
}
#: Other spellings of the same levels.
ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}


def rank(level: str | int | None) -> int | None:
    """A level's number: a known name (any case), a number, or None when it is neither."""
    if level is None or isinstance(level, bool):
        return None
    if isinstance(level, int):
        return level
    name = level.strip().upper()
    if name.isdigit():
        return int(name)
    return RANKS.get(ALIASES.get(name, name))


def threshold(level: str | int) -> int:
    """The number `min_level` names; ValueError, listing the known names, if none."""
    found = rank(level)
    if found is None:
        known = ", ".join(RANKS)
        raise ValueError(f"`min_level` {level!r} is not a level; known: {known}, or a number")
    return found
