"""Prometheus results (and parsed exposition samples) flattened to typed rows.

A row is one sample: its `timestamp` (UTC, to the millisecond), the metric `name`,
its labels (one JSON object in `labels`, or one column per label), its `value` (a
float, NaN and infinities included) and `series`, the series' canonical name
(`name{label="value",...}`, labels sorted), which tells samples of one time apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

from exportctl.errors import SourceError

#: Microseconds, as other sources use (time bounds carry them); values are whole milliseconds.
TIMESTAMP = pa.timestamp("us", tz="UTC")
FIXED = ("timestamp", "name", "value", "series")


def series_name(name: str | None, labels: Mapping[str, str]) -> str:
    """`name{a="1",b="2"}`, label values escaped as the exposition format does."""
    inner = ",".join(f'{k}="{_escaped(v)}"' for k, v in sorted(labels.items()))
    return f"{name or ''}{{{inner}}}"


def parse_value(text: str) -> float:
    """The API's value text (`"1.5"`, `"NaN"`, `"+Inf"`), exactly: Go writes the shortest
    text that reads back to the same float, and Python reads it the same way."""
    return float(text)


def to_ms(seconds: float) -> int:
    """The API's float seconds, which carry milliseconds, as integer milliseconds."""
    return round(seconds * 1000)


@dataclass
class Rows:
    """Samples gathered column by column, then framed in one go."""

    labels_mode: str
    extra: tuple[str, ...] = ()
    #: A `type` column (counter, gauge, histogram, ...), for samples read from a scrape.
    with_type: bool = False
    #: The label columns, fixed by the first frame (`labels: columns`).
    label_names: list[str] | None = None
    _columns: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._reset()

    def add(
        self,
        name: str | None,
        labels: Mapping[str, str],
        points: Iterable[tuple[int | None, float]],
        kind: str | None = None,
    ) -> None:
        series = series_name(name, labels)
        text = json.dumps(dict(sorted(labels.items())), ensure_ascii=False) if labels else "{}"
        for ms, value in points:
            self._columns["timestamp"].append(None if ms is None else ms * 1000)
            self._columns["name"].append(name)
            self._columns["type"].append(kind)
            self._columns["value"].append(value)
            self._columns["series"].append(series)
            self._columns["labels"].append(labels if self.labels_mode == "columns" else text)

    def __len__(self) -> int:
        return len(self._columns["timestamp"])

    def frame(self, sort: bool = True) -> pd.DataFrame:
        """The gathered rows, by (timestamp, series) unless told not to sort; then empty again."""
        columns = self._columns
        self._reset()
        arrays: dict[str, pa.Array] = {
            "timestamp": pa.array(columns["timestamp"], TIMESTAMP),
            "name": pa.array(columns["name"], pa.string()),
        }
        if self.with_type:
            arrays["type"] = pa.array(columns["type"], pa.string())
        if self.labels_mode == "columns":
            arrays |= self._label_arrays(columns["labels"])
        else:
            arrays["labels"] = pa.array(columns["labels"], pa.string())
        arrays["value"] = pa.array(columns["value"], pa.float64())
        arrays["series"] = pa.array(columns["series"], pa.string())
        table = pa.table(arrays)
        if sort and len(table):
            table = table.sort_by([("timestamp", "ascending"), ("series", "ascending")])
        return table.to_pandas(types_mapper=pd.ArrowDtype)

    def _label_arrays(self, label_sets: list[Mapping[str, str]]) -> dict[str, pa.Array]:
        if self.label_names is None and not label_sets:  # no rows yet: nothing to fix them by
            return {n: pa.array([], pa.string()) for n in self.extra}
        seen = dict.fromkeys(self.extra)
        for labels in label_sets:
            seen.update(dict.fromkeys(sorted(labels)))
        if self.label_names is None:
            self.label_names = list(seen)
            clash = sorted(set(self.label_names) & {*FIXED, *(("type",) if self.with_type else ())})
            if clash:
                raise SourceError(
                    f"label `{clash[0]}` has the name of a column of its own; "
                    "use `labels: object` to keep the labels together in `labels`"
                )
        new = [n for n in seen if n not in self.label_names]
        if new:
            raise SourceError(
                f"label `{new[0]}` appears only after the first rows fixed the columns "
                f"({', '.join(self.label_names) or 'no labels'}); list it in `label_columns`"
            )
        return {n: pa.array([s.get(n) for s in label_sets], pa.string()) for n in self.label_names}

    def _reset(self) -> None:
        self._columns = {k: [] for k in (*FIXED, "type", "labels")}


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
