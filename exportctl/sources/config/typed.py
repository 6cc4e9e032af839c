"""Configuration values as the export document holds them, and back.

The document is YAML or JSON, and its rows pass through Arrow on their way to the
encoder, so a value takes a form both hold exactly. Most values are themselves: text,
booleans, finite floats, integers that fit 64 bits, null, lists and mappings with text
keys. The rest is tagged, a mapping of one key:

- `{$date: "2024-03-01"}`, `{$datetime: "2024-03-01T07:32:00+02:00"}` (no offset: local
  time), `{$time: "07:32:00.5"}`: JSON has no dates, and YAML no times;
- `{$float: "nan" | "inf" | "-inf"}`; `{$int: "123456789012345678901234"}`;
- `{$list: {"0": item, "1": item, ...}}`: a list Arrow cannot carry as it is (values of
  several types, mappings with different keys), its items keyed by position, each then
  typed on its own;
- `{$dict: {...}}`: a mapping of one key that would read as a tag.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import date, datetime, time
from typing import Any

import pyarrow as pa

TAGS = ("$date", "$datetime", "$time", "$float", "$int", "$list", "$dict")
_INT64 = range(-(2**63), 2**63)


class Untypable(ValueError):
    """A value the document cannot hold (a mapping key that is not text)."""


def encode(value: Any, where: str = "") -> Any:
    """A parsed configuration value in the document's form."""
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int):
        return value if value in _INT64 else {"$int": str(value)}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, datetime):  # before date: a datetime is a date
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise Untypable(f"key {key!r} at {where or '$'} is not text")
            out[key] = encode(item, f"{where}.{key}")
        return {"$dict": out} if len(out) == 1 and next(iter(out)) in TAGS else out
    if isinstance(value, list | tuple):
        items = [encode(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return items if carried(items) else {"$list": {str(i): v for i, v in enumerate(items)}}
    raise Untypable(f"a {type(value).__name__} at {where or '$'} has no place in the document")


def decode(value: Any) -> Any:
    """A document value as the configuration's own value (native YAML dates accepted)."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in TAGS:
            ((tag, text),) = value.items()
            return _untag(tag, text)
        return {key: decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode(item) for item in value]
    return value


def _untag(tag: str, text: Any) -> Any:
    if tag == "$dict":
        return {key: decode(item) for key, item in text.items()}
    if tag == "$list":
        return [decode(text[key]) for key in sorted(text, key=int)]
    if tag == "$float":
        return float(text)
    if tag == "$int":
        return int(text)
    parse = {"$date": date.fromisoformat, "$datetime": datetime.fromisoformat}
    return parse.get(tag, time.fromisoformat)(text)


def tagged(value: Any) -> Any:
    """A document read from YAML with its native dates and times turned into tags."""
    if isinstance(value, datetime | date | time):
        return encode(value)
    if isinstance(value, dict):
        return {key: tagged(item) for key, item in value.items()}
    if isinstance(value, list):
        return [tagged(item) for item in value]
    return value


def carried(value: Any) -> bool:
    """Whether Arrow carries the value through an encoder exactly (one row, no merging)."""
    try:
        return same(pa.array([value]).to_pylist()[0], value)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        return False


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (`1`, `1.0` and `True` differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, datetime):
        return a == b and a.utcoffset() == b.utcoffset()
    return bool(a == b)


def digest(content: Any) -> str:
    """The sha256 of a row's content as the document holds it: canonical JSON (keys sorted,
    UTF-8), masks and all. Never of a file's bytes, which may hold what the export hid."""
    text = json.dumps(
        content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
