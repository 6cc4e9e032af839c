"""API records as typed chunks whose columns and types the first chunk fixes.

Every chunk of an export must have the same columns and types, and the encoders
learn them from the first. So the first chunk's records decide (or `columns`
does): a later record with a key they lack, or a value of another type, fails
the run rather than be dropped or bent. A column NULL throughout the first chunk
takes its type from the first values that are not. Nested objects and arrays become JSON
text (`fields: [{name: ..., json: true}]` nests an object of text again).
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pyarrow as pa

from exportctl.errors import SourceError

TIMESTAMP = pa.timestamp("us", tz="UTC")


class Framer:
    def __init__(self, columns: tuple[str, ...] | None, timestamps: tuple[str, ...]):
        self.columns = list(columns) if columns is not None else None
        self.declared = columns is not None
        self.timestamps = set(timestamps)
        self.types: dict[str, pa.DataType] = {}
        #: Columns whose first values were of mixed kinds: kept as JSON text.
        self.mixed: set[str] = set()

    def frame(self, records: list[dict[str, Any]], where: str) -> pd.DataFrame:
        if self.columns is None:
            self.columns = list(dict.fromkeys(k for r in records for k in r))
        elif not self.declared:
            for record in records:
                extra = record.keys() - set(self.columns)
                if extra:
                    raise SourceError(
                        f"{where}: a record has `{sorted(extra)[0]}`, which the first records "
                        f"did not; list every field in the source's `columns`"
                    )
        arrays = {c: self._column(c, [r.get(c) for r in records], where) for c in self.columns}
        return pa.table(arrays).to_pandas(types_mapper=pd.ArrowDtype)

    def _column(self, name: str, values: list[Any], where: str) -> pa.Array:
        if name in self.timestamps:
            return pa.array([_timestamp(v, name, where) for v in values], TIMESTAMP)
        values = [_flat(v) for v in values]
        if name in self.mixed:
            return pa.array([_text(v) for v in values], pa.string())
        known = self.types.get(name)
        if known is None:  # the first values that are not all NULL decide the type
            try:
                array = pa.array(values)
            except (pa.ArrowException, TypeError, OverflowError):  # mixed kinds: JSON text
                self.mixed.add(name)
                return pa.array([_text(v) for v in values], pa.string())
            if not pa.types.is_null(array.type):
                self.types[name] = array.type
            return array
        try:
            return pa.array(values, known)
        except (pa.ArrowException, TypeError, OverflowError):
            odd = next(v for v in values if v is not None and not _fits(v, known))
            raise SourceError(
                f"{where}: field `{name}` holds {known} values in the first records, "
                f"but here {json.dumps(odd)[:80]}; list it in `timestamps`, or fix the API"
            ) from None


def _flat(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value


def _text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _fits(value: Any, kind: pa.DataType) -> bool:
    try:
        pa.array([value], kind)
        return True
    except (pa.ArrowException, TypeError, OverflowError):
        return False


def _timestamp(value: Any, name: str, where: str) -> pd.Timestamp | None:
    """ISO-8601 text (UTC unless it says otherwise) or epoch seconds, to the microsecond."""
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int | float):
            return pd.Timestamp(round(value * 1_000_000), unit="us", tz="UTC")
        stamp = pd.Timestamp(str(value))
    except (ValueError, TypeError, OverflowError):
        raise SourceError(f"{where}: field `{name}` has {value!r}, not a time") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
