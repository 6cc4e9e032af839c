"""Whether the process behind a running run, or a lock, is still there.

On the recording host the answer is the process itself: its pid must exist and
must have started no later than the run (a pid the kernel gave to a new process
after the holder died is not the holder). Elsewhere only the heartbeat can tell:
a holder silent for longer than `STALE_AFTER` is taken as dead.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

#: How often a running export records its progress, which also keeps its lock alive.
HEARTBEAT_EVERY = 2.0
#: A lock or a running run whose process has not beaten for this long is taken as dead.
STALE_AFTER = timedelta(minutes=2)
#: Slack for comparing a process's start with a run's. The start is read as the ledger
#: clock's "now" less the process's age (from the kernel's boot-time counters), so it is
#: in the same time as the run's start even on an injected clock; a minute's slack covers
#: a wall clock stepped since, and a pid reused within the minute of a run's start is the
#: rare case it lets through.
_START_SLACK = timedelta(seconds=60)


def holder_dead(row: Any, host: str, now: datetime, since: datetime) -> bool:
    """Whether the holder recorded in `row` (host, pid, heartbeat_at) is gone.

    `since`: when the holder started holding (the run's start, the lock's).
    """
    if row["host"] == host:
        return not process_alive(row["pid"], since, now)
    return now - aware(row["heartbeat_at"]) > STALE_AFTER


def row_dead(row: Any, host: str, now: datetime) -> bool:
    """Whether the holder of a run's row or a lock's row is gone, as `holder_dead` tells."""
    since = aware(row["started_at"] if "started_at" in row else row["acquired_at"])
    return holder_dead(row, host, now, since)


def process_alive(pid: int, since: datetime, now: datetime) -> bool:
    """The process `pid` runs on this host and, where its age is known, started by `since`
    (`now`: the present on the clock that stamped `since`, the ledger's). A zombie is
    dead: a holder killed in a container whose first process reaps no children stays
    one, and its lock must not be held for ever."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    stat = _stat(pid)
    if stat is None:
        return True
    state, age = stat
    if state == "Z":
        return False
    return now - timedelta(seconds=age) <= aware(since) + _START_SLACK


def _stat(pid: int) -> tuple[str, float] | None:
    """The state of `pid` and the seconds since it started (Linux /proc), or None where
    they cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None
    # The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = int(fields[19])  # field 22, starttime, in clock ticks since boot
    return fields[0], max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; the ledger only ever stores UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
