"""What the status page and the run API show: documents built from the daemon and the ledger.

The API returns these documents as JSON; the page renders the same ones as HTML, so the two
never disagree. Field names, run ids and timestamps are those of the CLI's `--json`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol

from exportctl.ledger.progress import describe_progress
from exportctl.ledger.store import Ledger
from exportctl.values import jsontext

#: Runs shown per spec: the page's history and its sparklines.
RECENT = 30


class Board(Protocol):
    """The daemon as the page sees it (exportctl.daemon.loop.Daemon)."""

    def board(self) -> list[dict[str, Any]]: ...
    def request_run(self, name: str) -> str: ...


def specs(board: Board, ledger: Ledger) -> list[dict[str, Any]]:
    """Every scheduled spec with its last run and its recent runs (newest first)."""
    documents = []
    for spec in board.board():
        recent = ledger.history_as_seen(spec["name"], limit=RECENT)
        documents.append({**spec, "last_run": run_summary(recent[0]) if recent else None,
                          "recent": [run_summary(r) for r in recent]})  # fmt: skip
    return documents


def run_summary(run: dict[str, Any]) -> dict[str, Any]:
    """A ledger run with the figures a person looks for: duration and lateness in seconds."""
    return {**jsontext.run(run), "duration": _seconds(run["started_at"], run.get("finished_at")),
            "lateness": _seconds(run.get("scheduled_at"), run["started_at"])}  # fmt: skip


def running(ledger: Ledger) -> list[dict[str, Any]]:
    """Exports going now, with progress as `exportctl status --json` describes it."""
    return [describe_progress(run) for run in ledger.history_as_seen(status="running")]


def audit(
    ledger: Ledger, spec: str | None = None, since: datetime | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Audit events, oldest first, each with its detail as an object."""
    events = ledger.audit_events(spec=spec, since=since, limit=limit)
    return [{**e, "detail": _object(e.get("detail"))} for e in events]


def sparkline(values: list[float | None], width: int = 120, height: int = 24) -> str:
    """SVG polyline points for `values` (oldest first), scaled into width x height."""
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return ""
    top = max(known) or 1.0
    step = width / (len(values) - 1)
    points = [
        f"{i * step:.1f},{height - (v / top) * (height - 2) - 1:.1f}"
        for i, v in enumerate(values)
        if v is not None
    ]
    return " ".join(points)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def _object(detail: Any) -> Any:
    if isinstance(detail, str):
        try:
            return json.loads(detail)
        except ValueError:
            return detail
    return detail
