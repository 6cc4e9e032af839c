"""Which earlier exports a retention policy lets go: pure, with the clock passed in.

A spec's exports are its succeeded runs whose files are still stored, as the ledger
recorded them; nothing here looks at a folder or a bucket. A run is let go when it is
beyond the `keep_last` newest, or when it started longer than `max_age` before `now`.
The newest run (the one just written) is always kept, and a file is never deleted
while a kept run, or any other run in the ledger, also recorded its URI (a destination
without a templated name overwrites one file every run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from exportctl.lang import units
from exportctl.model import Retention


@dataclass(frozen=True)
class StoredFile:
    uri: str
    role: str


@dataclass(frozen=True)
class PastRun:
    """A succeeded run of the spec, with the files it wrote that are still stored."""

    id: str
    started_at: datetime
    files: tuple[StoredFile, ...]


@dataclass(frozen=True)
class Deletion:
    """One file retention lets go, and why."""

    run_id: str
    uri: str
    role: str
    reason: str


def age_limit(text: str) -> timedelta:
    """`30d` → 30 days, as the schema allows (m, h, d, w)."""
    if text[-1:] == "s":
        raise ValueError(f"{text!r} is not an age like 30d, 12h, 2w or 90m")
    try:
        return units.duration(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an age like 30d, 12h, 2w or 90m") from None


def expired(
    policy: Retention, runs: Sequence[PastRun], now: datetime, keep: str | None = None
) -> dict[str, str]:
    """The runs the policy lets go, by id, with the reason; never the newest, nor `keep`."""
    newest_first = sorted(runs, key=lambda r: (r.started_at, r.id), reverse=True)
    oldest = now - age_limit(policy.max_age) if policy.max_age else None
    reasons: dict[str, str] = {}
    for rank, run in enumerate(newest_first):
        if rank == 0 or run.id == keep:
            continue
        if policy.keep_last is not None and rank >= policy.keep_last:
            reasons[run.id] = f"beyond the {policy.keep_last} newest"
        elif oldest is not None and run.started_at < oldest:
            reasons[run.id] = f"older than {policy.max_age}"
    return reasons


def deletions(
    policy: Retention,
    runs: Sequence[PastRun],
    now: datetime,
    *,
    keep: str | None = None,
) -> list[Deletion]:
    """The files to delete, oldest run first: those of expired runs that no kept run holds.

    Runs outside `runs` (another spec's, an unfinished one's) may hold a URI too: the
    caller asks the ledger about these few (`Ledger.held_uris`).
    """
    reasons = expired(policy, runs, now, keep)
    held = {f.uri for run in runs if run.id not in reasons for f in run.files}
    chosen: list[Deletion] = []
    for run in sorted(runs, key=lambda r: (r.started_at, r.id)):
        if run.id not in reasons:
            continue
        for stored in run.files:
            if stored.uri not in held:
                chosen.append(Deletion(run.id, stored.uri, stored.role, reasons[run.id]))
    return chosen
