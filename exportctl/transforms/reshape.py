"""Long to wide: one row per index value, one column per declared name.

`widen` is pure: it spreads the rows of one chunk. A source streams in chunks, so the rows
of one index value may straddle two; `WideRows` holds back the last index value's rows until
the next chunk (or the end) shows they are complete. The source is ordered by the index
(the spec requires it), so an index value's rows are contiguous.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from exportctl.errors import RunError
from exportctl.model import Wide


def widen(chunk: pd.DataFrame, wide: Wide) -> pd.DataFrame:
    """The index column, then one column per name (in the declared order), NULL where the
    index value has no row for that name. Duplicates and undeclared names are refused."""
    _require(chunk, wide)
    codes, _ = pd.factorize(chunk[wide.index], use_na_sentinel=False)
    names = np.array([None if pd.isna(n) else n for n in chunk[wide.columns]], dtype=object)
    _refuse_unknown(names, wide)
    _refuse_duplicates(chunk, codes, names, wide)
    _, first = np.unique(codes, return_index=True)  # codes number values by first appearance
    columns = {wide.index: chunk[wide.index].iloc[first].reset_index(drop=True)}
    values = _arrow(chunk[wide.values])
    for name in wide.names:
        rows = np.flatnonzero(names == name)
        take = np.full(len(first), -1, dtype=np.int64)
        take[codes[rows]] = rows
        picked = values.take(pa.array(take, mask=take < 0))
        columns[name] = pd.Series(pd.arrays.ArrowExtensionArray(picked))
    return pd.DataFrame(columns)


class WideRows:
    """Spreads a stream of chunks, carrying the last index value's rows to the next chunk."""

    def __init__(self, wide: Wide):
        self.wide = wide
        self.pending: pd.DataFrame | None = None

    def feed(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """The wide rows of every index value known to be complete."""
        if self.pending is not None and not self.pending.empty:
            chunk = pd.concat([self.pending, chunk], ignore_index=True)
        if chunk.empty:
            self.pending = chunk
            return widen(chunk, self.wide)
        _require(chunk, self.wide)
        index = chunk[self.wide.index]
        last = index.isna() if pd.isna(index.iloc[-1]) else index == index.iloc[-1]
        earlier = np.flatnonzero(~last.to_numpy(dtype=bool, na_value=False))
        tail = int(earlier[-1]) + 1 if len(earlier) else 0
        self.pending = chunk.iloc[tail:].reset_index(drop=True)
        return widen(chunk.iloc[:tail], self.wide)

    def finish(self) -> pd.DataFrame | None:
        """The rows held back, once the source has no more; None if there are none."""
        pending, self.pending = self.pending, None
        if pending is None or pending.empty:
            return None
        return widen(pending, self.wide)


def _require(chunk: pd.DataFrame, wide: Wide) -> None:
    for key, name in (("index", wide.index), ("columns", wide.columns), ("values", wide.values)):
        if name not in chunk.columns:
            known = ", ".join(str(c) for c in chunk.columns)
            raise RunError(f"`reshape.wide.{key}` names `{name}`, which is not a field ({known})")


def _refuse_unknown(names: np.ndarray, wide: Wide) -> None:
    unknown = sorted({str(n) for n in names} - set(wide.names))
    if unknown:
        shown = ", ".join(f"`{n}`" for n in unknown[:5])
        raise RunError(
            f"`{wide.columns}` holds {shown}, not in `reshape.wide.names`; list it there, or "
            f"leave its rows out with `where: {{field: {wide.columns}, in: [...]}}`"
        )


def _refuse_duplicates(
    chunk: pd.DataFrame, codes: np.ndarray, names: np.ndarray, wide: Wide
) -> None:
    pairs = pd.DataFrame({"index": codes, "name": names})
    twice = pairs.duplicated()
    if twice.any():
        position = int(np.flatnonzero(twice.to_numpy())[0])
        raise RunError(
            f"two rows have `{wide.columns}` {names[position]!r} at `{wide.index}` "
            f"{chunk[wide.index].iloc[position]}: a wide row holds one value per name; "
            "narrow the rows with `where`"
        )


def _arrow(column: pd.Series) -> pa.Array:
    """The values as Arrow, NaN kept apart from NULL where the column tells them apart."""
    if isinstance(column.dtype, pd.ArrowDtype):
        table = pa.Table.from_pandas(column.to_frame(), preserve_index=False)
        return table.column(0).combine_chunks()
    return pa.array(column.to_numpy(), from_pandas=column.dtype == object)
