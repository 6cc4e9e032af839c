"""Incremental windows: which rows a run exports, given the last committed watermark.

A position is the (cursor, key) of a row. A run exports the rows after the
watermark's position, up to the last position present when it starts; rows
written while it runs fall past that bound and go to the next run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exportctl import model as m

Position = tuple[Any, ...]


@dataclass(frozen=True)
class Window:
    incremental: m.Incremental
    after: Position | None  # exclusive; None: from the first row
    upto: Position | None  # inclusive; None: the source holds no row yet

    @property
    def is_empty(self) -> bool:
        return self.upto is None or self.upto == self.after

    def filter(self) -> m.Filter:
        """The window as a condition on the rows."""
        columns = self.incremental.columns
        upto = self.upto if self.upto is not None else self.after
        # No upper bound and no watermark: the source held no row, so the window holds none.
        parts = [m.IsNull(columns[0]) if upto is None else _at_or_before(columns, upto)]
        if self.after is not None:
            parts.append(m.Not(_at_or_before(columns, self.after)))
        parts.append(m.IsNull(columns[0], negate=True))
        return m.And(tuple(parts))


def _at_or_before(columns: tuple[str, ...], position: Position) -> m.Filter:
    """(c, k) <= (p, q), spelled out so every database and pandas read it alike."""
    cursor, value = columns[0], position[0]
    if len(columns) == 1:
        return m.Compare(cursor, "le", value)
    return m.Or(
        (
            m.Compare(cursor, "lt", value),
            m.And((m.Compare(cursor, "eq", value), m.Compare(columns[1], "le", position[1]))),
        )
    )


def fingerprint(spec: m.ExportSpec) -> str:
    """Changes when the rows a watermark stands for would change: query or cursor."""
    # `identity`, not the whole object: `settle` moves no watermark, and a cursor spec's
    # fingerprint must stay what it was before change mode existed.
    identity = spec.incremental.identity if spec.incremental else None
    text = f"({spec.source.type!r}, {spec.query!r}, {identity})"
    # A source whose query is among its options (PromQL, an API's URL) names what picks rows.
    rows = getattr(spec.source.options, "rows_identity", None)
    if rows is not None:
        text += repr(rows)
    return hashlib.sha256(text.encode()).hexdigest()


def encode(position: Position | None) -> str | None:
    return None if position is None else json.dumps(tagged(position))


def tagged(position: Position) -> list[Any]:
    """The position as plain JSON values, typed ones tagged (`{"$datetime": ...}`)."""
    return [_tagged(v) for v in position]


def decode(text: str | None) -> Position | None:
    if text is None:
        return None
    return tuple(_untagged(v) for v in json.loads(text))


def _tagged(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    return value


_TAGS: dict[str, Callable[[str], Any]] = {
    "$datetime": dt.datetime.fromisoformat,
    "$date": dt.date.fromisoformat,
    "$decimal": Decimal,
    "$uuid": uuid.UUID,
}


def _untagged(value: Any) -> Any:
    if isinstance(value, dict):
        ((tag, text),) = value.items()
        return _TAGS[tag](text)
    return value
