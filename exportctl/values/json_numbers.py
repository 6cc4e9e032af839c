"""JSON numbers read to the value their text names, `-0` included.

Python's `json` (and orjson) read `-0` as the integer 0, which has no sign: a float column
then holds 0.0. JSON's number grammar has one kind of number, and `-0` names negative zero
(as JavaScript reads it), so these readers return -0.0 for it; every other integer stays an
int and floats are read by the standard module, correctly rounded.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: An integer zero with a minus sign in JSON text, not followed by a fraction or exponent.
_MINUS_ZERO = re.compile(r"-0(?![0-9.eE])")
_MINUS_ZERO_BYTES = re.compile(rb"-0(?![0-9.eE])")


def json_integer(text: str) -> int | float:
    """A JSON integer's value; `-0` as -0.0."""
    value = int(text)
    return -0.0 if value == 0 and text.startswith("-") else value


#: A decoder like `json.JSONDecoder()`, with `-0` kept as -0.0.
DECODER = json.JSONDecoder(parse_int=json_integer)


def loads(text: str | bytes) -> Any:
    """`json.loads`, with `-0` kept as -0.0."""
    if isinstance(text, bytes):  # as json.loads decodes bytes: UTF-8, -16 or -32, BOM or not
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    return DECODER.decode(text)


def may_hold_minus_zero(text: str | bytes) -> bool:
    """Whether the text (or its UTF-8 bytes) may hold a `-0` (a string containing it is a
    false alarm, no harm)."""
    if isinstance(text, bytes):
        return _MINUS_ZERO_BYTES.search(text) is not None
    return _MINUS_ZERO.search(text) is not None
