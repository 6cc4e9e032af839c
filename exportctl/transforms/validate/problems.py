"""Rows a format cannot write (its optional `problems(chunk[, options])` hook), as
reasons per row, joined with any other per-row reasons (text that is not UTF-8)."""

from __future__ import annotations

from typing import Any

import pandas as pd


def from_format(hook: Any, chunk: pd.DataFrame, options: Any) -> pd.Series | None:
    """The format's reason per row, None where it has none; None when no row has one."""
    if hook is None:
        return None
    # Hooks of formats that take no options may accept the chunk alone.
    problems = hook(chunk) if options is None else hook(chunk, options)
    if problems is None or not problems.notna().any():
        return None
    return problems


def joined(first: pd.Series | None, second: pd.Series | None) -> pd.Series | None:
    """Two rows-to-reasons series as one (None: no reasons)."""
    if first is None or second is None:
        return first if second is None else second
    pairs = zip(first.to_numpy(dtype=object), second.to_numpy(dtype=object), strict=True)
    joined = ["; ".join(p for p in pair if isinstance(p, str)) or None for pair in pairs]
    return pd.Series(joined, index=first.index, dtype=object)
