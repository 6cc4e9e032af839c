"""Field selection: choose, order, rename and compute the output columns."""

from __future__ import annotations

import difflib
import json
from typing import Any

import jinja2
import pandas as pd
import pyarrow as pa

from exportctl.errors import RunError, SourceError
from exportctl.lang import templating
from exportctl.model import ExportSpec, Field
from exportctl.secrecy import hidden
from exportctl.values.json_values import is_json

#: What a `json: true` field holds: a JSON object of text values (a label set), in Arrow.
JSON_OBJECT = pa.map_(pa.string(), pa.string())


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


def declared_types(spec: ExportSpec) -> tuple[tuple[str, str], ...]:
    """(source column, type) for each field that takes a column and declares its type."""
    return tuple(
        (field.source, field.check.type)
        for field in spec.fields or ()
        if field.source is not None and field.check is not None and field.check.type is not None
    )


#: The Arrow type of a declared type whose values a source may hand over as Python objects
#: (a SQLite column the database cannot type, holding values of several kinds).
_DECLARED_ARROW = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64()}


def typed_as_declared(chunk: pd.DataFrame, fields: tuple[Field, ...] | None) -> pd.DataFrame:
    """Valid rows with each declared column a source left as Python objects in its declared
    type: its rows of another kind are gone (validation), and every chunk must have the
    one type, whatever rows it happens to hold."""
    for field in fields or ():
        kind = field.check.type if field.check is not None else None
        if kind in _DECLARED_ARROW and field.name in chunk and chunk[field.name].dtype == object:
            values = pa.array(chunk[field.name].tolist(), _DECLARED_ARROW[kind])
            chunk = chunk.assign(
                **{field.name: pd.Series(pd.arrays.ArrowExtensionArray(values), index=chunk.index)}
            )
    return chunk


def select_fields(chunk: pd.DataFrame, fields: tuple[Field, ...] | None) -> pd.DataFrame:
    """A new frame holding exactly `fields`, in their order, under their output names."""
    if fields is None:
        return chunk
    columns = {}
    for field in fields:
        if field.template is not None:
            columns[field.name] = _computed(chunk, field.template, field.name)
        else:
            columns[field.name] = _column(chunk, field.source or field.name)
        if field.json:
            columns[field.name] = parsed_json(columns[field.name], field.name)
    return pd.DataFrame(columns, index=chunk.index)


def parsed_json(column: pd.Series, name: str) -> pd.Series:
    """JSON text holding objects of text values, as an Arrow map column (NULL stays NULL).

    A map keeps any set of keys in their order, so chunks with different label sets share
    one type: Parquet's MAP, a nested object in JSON and YAML, JSON text again in CSV.
    """
    if isinstance(column.dtype, pd.ArrowDtype) and is_json(column.dtype.pyarrow_dtype):
        return column  # JSON from the source (PostgreSQL json/jsonb): nested as it is
    texts = column.to_numpy(dtype=object)
    entries = [None if pd.isna(text) else _entries(text, name) for text in texts]
    array = pd.arrays.ArrowExtensionArray(pa.array(entries, JSON_OBJECT))
    return pd.Series(array, index=column.index)


def _entries(text: Any, name: str) -> list[tuple[str, str | None]] | None:
    if text is None:
        return None
    # The value is not shown: the column may hold secrets.
    why = f"field `{name}` has `json: true`, but {hidden(text)} is not"
    if not isinstance(text, str):
        raise RunError(f"{why} JSON text")
    try:
        value = json.loads(text)
    except ValueError:
        raise RunError(f"{why} valid JSON") from None
    if not isinstance(value, dict) or not all(
        v is None or isinstance(v, str) for v in value.values()
    ):
        raise RunError(f"{why} a JSON object of text values (a label set)")
    return list(value.items())


def _column(chunk: pd.DataFrame, name: str) -> pd.Series:
    if name not in chunk.columns:
        known = [str(c) for c in chunk.columns]
        guess = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean `{guess[0]}`?" if guess else f"; it has {', '.join(known)}"
        raise SourceError(f"field `{name}` is not in the source{hint}")
    return chunk[name]


def _computed(chunk: pd.DataFrame, source: str, name: str) -> pd.Series:
    template = templating.compile_template(source)
    used = sorted(templating.variables(source))
    for column in used:
        _column(chunk, column)
    rows = chunk[used].astype(object).where(chunk[used].notna(), None).to_dict("records")
    try:
        values = [template.render(row) for row in rows]
    except jinja2.TemplateError as exc:  # a row's values break the template's limits or types
        # Chained, so --debug shows where inside the template it failed.
        raise RunError(f"the template of field `{name}`: {exc}") from exc
    return pd.Series(values, index=chunk.index, dtype=pd.ArrowDtype(pa.string()))
