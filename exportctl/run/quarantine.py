"""The side file where `on_invalid: quarantine` puts the rows validation turned away."""

from __future__ import annotations

import math
from contextlib import ExitStack
from typing import Any

import orjson
import pandas as pd

from exportctl.destinations.base import Sink, WrittenFile
from exportctl.plan.compiler import ExportPlan


class Quarantine:
    """JSON lines of `{"reason": ..., "row": {...}}`, opened at the first bad row.

    Committed with the export and discarded with it: a failed run leaves none.
    """

    def __init__(self, plan: ExportPlan, uri: str):
        self.plan, self.uri = plan, uri
        self._stack: ExitStack | None = None
        self._sink: Sink | None = None

    def write(self, rows: pd.DataFrame, reasons: list[str]) -> None:
        if rows.empty:
            return
        if self._sink is None:
            self._stack = ExitStack()
            destination = self.plan.destination_for(self.uri)
            self._sink = self._stack.enter_context(destination.open(self.uri))
        lines = (
            orjson.dumps({"reason": reason, "row": _plain(record)}, default=str) + b"\n"
            for reason, record in zip(reasons, rows.to_dict("records"), strict=True)
        )
        self._sink.stream.write(b"".join(lines))

    def commit(self) -> WrittenFile | None:
        if self._stack is None:
            return None
        self._stack.close()
        assert self._sink is not None
        return self._sink.written

    def abort(self, error: BaseException) -> None:
        if self._stack is not None:
            self._stack.__exit__(type(error), error, error.__traceback__)
            self._stack = None


def _plain(record: dict[Any, Any]) -> dict[str, Any]:
    """JSON can carry neither NaN nor infinity, often the very reason a row is here."""
    return {
        str(key): repr(value) if isinstance(value, float) and not math.isfinite(value) else value
        for key, value in record.items()
    }
