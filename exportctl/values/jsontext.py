"""JSON for scripts, one shape everywhere: the CLI's `--json` and the daemon's API print alike.

Timestamps are ISO-8601 in UTC with `T` and `Z` (`2026-12-07T03:55:00.123456Z`), whatever
the ledger's database hands back, so a script can compare the two outputs as text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any


def instant(value: datetime) -> str:
    """`2026-12-07T03:55:00Z`; a naive value is taken as UTC, as the ledger stores it."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def run(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ledger run as every `--json` and the API show it: its id named `run_id`, as
    `apply --json`, `audit` and `watermark show` name it."""
    return {"run_id": row["id"], **{k: v for k, v in row.items() if k != "id"}}


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return instant(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def dumps(document: Any, indent: int | None = 2) -> str:
    """`document` as JSON text, timestamps as `instant` writes them."""
    return json.dumps(document, indent=indent, default=_default)
