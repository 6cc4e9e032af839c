"""What a run's ledger row says of its progress: rows, rate, percent and time left.

One description for `exportctl status` and the daemon's status page and API.
"""

from __future__ import annotations

from typing import Any

from exportctl.values import jsontext


def describe_progress(run: dict[str, Any]) -> dict[str, Any]:
    """Rows so far, rows/s, and percent and ETA where the total is known."""
    elapsed = (run["heartbeat_at"] - run["started_at"]).total_seconds()
    rate = run["rows"] / elapsed if elapsed > 0 else None
    total = run["total_rows"]
    return {
        "run_id": run["id"],
        "spec": run["spec"],
        "status": run["status"],
        "rows": run["rows"],
        "total_rows": total,
        "rows_per_second": round(rate) if rate else None,
        "percent": round(100 * run["rows"] / total, 1) if total else None,
        "eta_seconds": (
            round((total - run["rows"]) / rate)
            if total and rate and run["status"] in ("running", "succeeded")  # else: never ends
            else None
        ),
        "updated_at": jsontext.instant(run["heartbeat_at"]),
    }
