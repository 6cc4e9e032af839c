"""JSON Lines read as the format defines them: records separated by `\\n` alone.

`str.splitlines()` also breaks at U+0085, U+2028 and U+2029, which a JSON string holds
unescaped; a reader that splits there cuts a record in two.
"""

from __future__ import annotations

import json
from typing import Any


def json_lines(text: str | bytes) -> list[Any]:
    """Each line's value (bytes are UTF-8); the text ends with a newline unless empty."""
    lines = (text.decode() if isinstance(text, bytes) else text).split("\n")
    assert lines[-1] == "", "JSON Lines end with a newline"
    return [json.loads(line) for line in lines[:-1]]
