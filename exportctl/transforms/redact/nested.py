"""Secrets inside nested values (dicts, lists, Arrow maps, structs and lists): a secret
key's value hidden or dropped, every other value walked for secret text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from exportctl.transforms.redact.text import TextRedactor


class NestedRedactor(TextRedactor):
    """Walks values, redacting their keys by name and their text by value."""

    def walk(self, value: Any, weight: int = 1) -> Any:
        """A value with secret text replaced and, nested, secret keys hidden or dropped."""
        if isinstance(value, str):
            text = self.text(value, weight)
            return value if text is None else text
        if isinstance(value, bytes):  # kept byte for byte where nothing is secret
            text = self.text(value.decode("utf-8", "surrogateescape"), weight)
            return value if text is None else text.encode("utf-8", "surrogateescape")
        if isinstance(value, dict):
            pairs = self.pairs(list(value.items()), weight)
            return value if pairs is None else dict(pairs)
        if isinstance(value, list | tuple):
            items = [self.walk(v, weight) for v in value]
            changed = any(a is not b for a, b in zip(items, value, strict=True))
            return type(value)(items) if changed else value
        return value

    def typed(self, value: Any, arrow: pa.DataType) -> Any:
        """`walk`, led by the Arrow type: a map's pairs are keyed like a dict's."""
        if value is None:
            return None
        if pa.types.is_dictionary(arrow):
            return self.typed(value, arrow.value_type)
        if pa.types.is_map(arrow):
            pairs = self.pairs(value, 1, lambda _key, v: self.typed(v, arrow.item_type))
            return value if pairs is None else pairs
        if pa.types.is_struct(arrow):
            kinds = {field.name: field.type for field in arrow}
            pairs = self.pairs(list(value.items()), 1, lambda k, v: self.typed(v, kinds[k]))
            return value if pairs is None else dict(pairs)
        if _is_list(arrow):
            items = [self.typed(v, arrow.value_type) for v in value]
            changed = any(a is not b for a, b in zip(items, value, strict=True))
            return items if changed else value
        return self.walk(value)

    def pairs(
        self,
        pairs: list[tuple[Any, Any]],
        weight: int,
        inner: Callable[[Any, Any], Any] | None = None,
    ) -> list[tuple[Any, Any]] | None:
        """Key-value pairs redacted by key, then by value; None when nothing changed."""
        out: list[tuple[Any, Any]] = []
        changed = False
        for key, value in pairs:
            secret = self.secret_key(str(key))
            if secret is not None and value is not None:
                self.counts[f"key:{secret}"] += weight
                changed = True
                if self.rules.mode != "drop":
                    out.append((key, self.hidden(value)))
                continue
            walked = inner(key, value) if inner else self.walk(value, weight)
            name = self.text(key, weight) or key  # a URL can be a key too
            changed |= walked is not value or name is not key
            out.append((name, walked))
        return out if changed else None


def _is_list(arrow: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(arrow)
        or pa.types.is_large_list(arrow)
        or pa.types.is_fixed_size_list(arrow)
    )
