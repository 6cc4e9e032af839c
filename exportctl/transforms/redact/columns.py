"""The redactor a run applies to each chunk: a column named for a secret (or made from
one) hidden or dropped whole, every other column scanned for secrets by value."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from exportctl.errors import RunError
from exportctl.lang import templating
from exportctl.model import Field, Redaction
from exportctl.transforms.redact.nested import NestedRedactor
from exportctl.values.json_values import is_json


class Redactor(NestedRedactor):
    """Redacts chunks as a spec's `redact` says, counting what each rule changed."""

    def __init__(self, rules: Redaction, fields: tuple[Field, ...] | None = None):
        super().__init__(rules)
        self.origins = _origins(fields)

    def apply(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """The chunk with secret columns hidden or dropped and secret text replaced."""
        columns: dict[str, pd.Series] = {}
        for name, column in chunk.items():
            name = str(name)
            try:
                key = self.column_key(name)
                if key is not None and self.rules.mode == "drop":
                    self.count(f"key:{key}", int(column.notna().sum()))
                    continue
                columns[name] = self.whole(column, key) if key else self.scanned(column)
            except RunError:
                raise
            except Exception as exc:  # the message may quote the value: name only the type
                raise RunError(
                    f"redaction failed on field `{name}` ({type(exc).__name__}); "
                    "nothing was written"
                ) from None
        return pd.DataFrame(columns, index=chunk.index)

    def column_key(self, name: str) -> str | None:
        """The secret key an output column's name, or a source column it takes, holds."""
        for origin in (name, *self.origins.get(name, ())):
            key = self.secret_key(origin)
            if key is not None:
                return key
        return None

    def whole(self, column: pd.Series, key: str) -> pd.Series:
        present = column.notna().to_numpy(dtype=bool)
        values = column.to_numpy(dtype=object)
        out = [self.hidden(_plain(v)) if p else None for v, p in zip(values, present, strict=True)]
        self.count(f"key:{key}", int(present.sum()))
        return pd.Series(out, index=column.index, dtype=pd.ArrowDtype(pa.string()))

    def scanned(self, column: pd.Series) -> pd.Series:
        dtype = column.dtype
        if isinstance(dtype, pd.CategoricalDtype):  # categories are text like any other
            return self.scanned(column.astype(dtype.categories.dtype))
        if isinstance(dtype, pd.ArrowDtype):
            arrow = dtype.pyarrow_dtype
            if pa.types.is_dictionary(arrow):
                return self.scanned(column.astype(pd.ArrowDtype(arrow.value_type)))
            if is_json(arrow):  # a source's JSON values: their text, walked as documents
                text = column.astype(pd.ArrowDtype(pa.string()))
                scanned = self.distinct(text)
                return column if scanned is text else scanned.astype(dtype)
            if _is_text(arrow):
                return self.distinct(column)
            if pa.types.is_nested(arrow) or _is_binary(arrow):
                return self.typed_column(column, arrow)
            return column
        if isinstance(dtype, pd.StringDtype) or pd.api.types.is_object_dtype(dtype):
            return self.distinct(column)
        return column

    def distinct(self, column: pd.Series) -> pd.Series:
        """A text or object column, each distinct value looked at once."""
        try:
            codes, uniques = pd.factorize(column)
        except TypeError:  # unhashable values (dicts, lists): each one
            return self.each(column)
        table = np.asarray(uniques, dtype=object)
        weights = np.bincount(codes[codes >= 0], minlength=len(table))
        out = table.copy()
        for index, value in enumerate(table):
            out[index] = self.walk(value, int(weights[index]))
        if all(a is b for a, b in zip(out, table, strict=True)):
            return column
        values = column.to_numpy(dtype=object).copy()
        present = codes >= 0
        values[present] = out[codes[present]]
        return pd.Series(values, index=column.index, dtype=column.dtype)

    def each(self, column: pd.Series) -> pd.Series:
        values = column.to_numpy(dtype=object)
        out = [self.walk(v) for v in values]
        if all(a is b for a, b in zip(out, values, strict=True)):
            return column
        return pd.Series(out, index=column.index, dtype=column.dtype)

    def typed_column(self, column: pd.Series, arrow: pa.DataType) -> pd.Series:
        """Arrow maps, lists, structs and bytes, as Python values and back to the same type."""
        values = pa.array(column.array).to_pylist()
        out = [self.typed(v, arrow) for v in values]
        if all(a is b for a, b in zip(out, values, strict=True)):
            return column
        try:
            array = pa.array(out, type=arrow)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # a hidden number is text now
            return pd.Series(out, index=column.index, dtype=object)
        return pd.Series(pd.arrays.ArrowExtensionArray(array), index=column.index)


def _is_text(arrow: pa.DataType) -> bool:
    return bool(pa.types.is_string(arrow) or pa.types.is_large_string(arrow))


def _is_binary(arrow: pa.DataType) -> bool:
    return bool(pa.types.is_binary(arrow) or pa.types.is_large_binary(arrow))


def _origins(fields: tuple[Field, ...] | None) -> dict[str, tuple[str, ...]]:
    """Output name → the source columns it is made from (a rename's, a template's)."""
    origins: dict[str, tuple[str, ...]] = {}
    for field in fields or ():
        if field.source is not None:
            origins[field.name] = (field.source,)
        elif field.template is not None:
            origins[field.name] = tuple(sorted(templating.variables(field.template)))
    return origins


def _plain(value: Any) -> Any:
    """NumPy and Arrow scalars as Python values, so a hash sees `5`, not `np.int64(5)`."""
    return value.item() if hasattr(value, "item") and not isinstance(value, str) else value
