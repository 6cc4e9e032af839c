"""Field selection: choose, order, rename and compute the output columns."""

from __future__ import annotations

import difflib

import pandas as pd
import pyarrow as pa

from exportctl import templating
from exportctl.errors import SourceError
from exportctl.spec.model import Field


def needed_columns(fields: tuple[Field, ...] | None) -> tuple[str, ...] | None:
    """The source columns the fields read, in first-use order; None means all."""
    if fields is None:
        return None
    names: dict[str, None] = {}
    for field in fields:
        if field.source is not None:
            names[field.source] = None
        elif field.template is not None:
            names.update(dict.fromkeys(sorted(templating.variables(field.template))))
    return tuple(names)


def select_fields(chunk: pd.DataFrame, fields: tuple[Field, ...] | None) -> pd.DataFrame:
    """A new frame holding exactly `fields`, in their order, under their output names."""
    if fields is None:
        return chunk
    columns = {}
    for field in fields:
        if field.template is not None:
            columns[field.name] = _computed(chunk, field.template)
        else:
            columns[field.name] = _column(chunk, field.source or field.name)
    return pd.DataFrame(columns, index=chunk.index)


def _column(chunk: pd.DataFrame, name: str) -> pd.Series:
    if name not in chunk.columns:
        known = [str(c) for c in chunk.columns]
        guess = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean `{guess[0]}`?" if guess else f"; it has {', '.join(known)}"
        raise SourceError(f"field `{name}` is not in the source{hint}")
    return chunk[name]


def _computed(chunk: pd.DataFrame, source: str) -> pd.Series:
    template = templating.compile_template(source)
    used = sorted(templating.variables(source))
    for name in used:
        _column(chunk, name)
    rows = chunk[used].astype(object).where(chunk[used].notna(), None).to_dict("records")
    values = [template.render(row) for row in rows]
    return pd.Series(values, index=chunk.index, dtype=pd.ArrowDtype(pa.string()))
