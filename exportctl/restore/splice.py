"""Changed values written into a file's own text: every other byte stays as it was.

When a file already has the shape the document wants (the same keys in the same order, the
same list lengths) and only values differ, each differing value's text is replaced where it
stands, found by the positions its format's reader reports (PyYAML's node marks, JSON's
`raw_decode` ends). Lines that hold no changed value stay byte-identical, comments,
indentation, trailing spaces and quoting included. A change of shape returns None: the
style-preserving writers handle those.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import yaml

from exportctl.sources.config.typed import same

#: Where a value's text stands (start, end offsets) and what to put there.
Edit = tuple[int, int, str]


class _Reshaped(Exception):
    """The new values differ in shape, not only in values: not a splice."""


def applied(text: str, edits: list[Edit]) -> str:
    """`text` with each span replaced; spans do not overlap."""
    out: list[str] = []
    position = 0
    for start, end, new in sorted(edits):
        out += (text[position:start], new)
        position = end
    return "".join(out) + text[position:]


def edits(old: Any, new: Any, spans: Any, render: Callable[[Any, Any], str]) -> list[Edit] | None:
    """The edits that make a file holding `old` (its leaves at `spans`) hold `new`; None if
    a key, a list's length or a value's kind (scalar or container) changes."""
    found: list[Edit] = []
    try:
        _walk(old, new, spans, render, found)
    except _Reshaped:
        return None
    return found


def _walk(
    old: Any, new: Any, spans: Any, render: Callable[[Any, Any], str], out: list[Edit]
) -> None:
    if isinstance(old, dict):
        if not isinstance(new, dict) or list(old) != list(new):
            raise _Reshaped
        for key, value in old.items():
            _walk(value, new[key], spans[key], render, out)
    elif isinstance(old, list):
        if not isinstance(new, list) or len(old) != len(new):
            raise _Reshaped
        for index, value in enumerate(old):
            _walk(value, new[index], spans[index], render, out)
    elif isinstance(new, dict | list):
        raise _Reshaped
    elif not same(old, new):
        out.append((spans[0], spans[1], render(new, spans)))


# --- YAML -------------------------------------------------------------------------------


def yaml_spans(text: str, value: Any) -> Any:
    """The positions of the values `yaml.safe_load` read from `text` (`value`), shaped like
    it: (start, end, style) at each leaf. None where the text's shape is not plainly its
    value's: aliases (one node in two places), merge keys, repeated keys."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        return None if node is None else _yaml_node(node, value, set())
    except (yaml.YAMLError, _Reshaped):
        return None


def _yaml_node(node: yaml.Node, value: Any, seen: set[int]) -> Any:
    if id(node) in seen:  # an alias: a change here would also change its other places
        raise _Reshaped
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        # The reader builds the mapping pair by pair, in order: with no key repeated and
        # no merge key, its keys are the nodes' keys, one for one.
        merged = any(key.tag == "tag:yaml.org,2002:merge" for key, _ in node.value)
        if merged or not isinstance(value, dict) or len(value) != len(node.value):
            raise _Reshaped
        pairs = zip(value.items(), node.value, strict=True)
        return {k: _yaml_node(n, v, seen) for (k, v), (_, n) in pairs}
    if isinstance(node, yaml.SequenceNode):
        if not isinstance(value, list) or len(value) != len(node.value):
            raise _Reshaped
        return [_yaml_node(n, v, seen) for n, v in zip(node.value, value, strict=True)]
    assert isinstance(node, yaml.ScalarNode)
    return (node.start_mark.index, node.end_mark.index, node.style)


def yaml_scalar(value: Any, quoted: bool) -> str:
    """`value` as YAML text `yaml.safe_load` reads back, fit for any place a scalar stands
    (block or flow): text plain where that reads back as itself, else double-quoted."""
    if isinstance(value, str):
        plain = (
            not quoted
            and value == value.strip()
            and re.fullmatch(r"[A-Za-z0-9_./][A-Za-z0-9_./@+=%~^$ -]*", value) is not None
            and _reads_as(value) == value
        )
        return value if plain else _double_quoted(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 16)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _reads_as(text: str) -> Any:
    """What `yaml.safe_load` makes of `text` alone; None when it refuses it."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def _double_quoted(value: str) -> str:
    """A double-quoted YAML string: printable ASCII as is, everything else escaped (YAML
    folds raw line breaks, NEL and U+2028 among them)."""
    out = []
    for char in value:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def yaml_render(text: str, quoted: bool) -> Callable[[Any, Any], str]:
    """How a changed leaf is written over its old text (its span's style known)."""

    def render(value: Any, span: Any) -> str:
        start, end, kind = span
        scalar = yaml_scalar(value, quoted or kind in ("'", '"'))
        if start == end:  # `key:` with nothing after the colon
            return " " + scalar
        old = text[start:end]
        return scalar + old[len(old.rstrip()) :] if kind in ("|", ">") else scalar

    return render


def yaml_text(old: str, value: Any) -> str | None:
    """`old` with the values that differ from `value` replaced in place, or None."""
    before = yaml.safe_load(old)
    spans = yaml_spans(old, before)
    if spans is None:
        return None
    for quoted in (False, True):  # plain text first; quoted if plain reads back otherwise
        found = edits(before, value, spans, yaml_render(old, quoted))
        if found is None:
            return None
        text = applied(old, found)
        try:
            if same(yaml.safe_load(text), value):
                return text
        except yaml.YAMLError:
            continue
    return None


# --- JSON -------------------------------------------------------------------------------

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def json_spans(text: str) -> Any:
    """Each value's (start, end) in a JSON text, shaped like `json.loads`'s value; None
    when an object repeats a key (the reader keeps the last; a splice would not know)."""
    try:
        spans, _ = _json_value(text, _SPACE.match(text, 0).end())  # type: ignore[union-attr]
    except (_Reshaped, ValueError, IndexError):
        return None
    return spans


def _json_value(text: str, at: int) -> tuple[Any, int]:
    if text[at] == "{":
        return _json_members(text, at)
    if text[at] == "[":
        items, at = [], _skip(text, at + 1)
        while text[at] != "]":
            item, at = _json_value(text, at)
            items.append(item)
            at = _skip(text, at)
            at = _skip(text, at + 1) if text[at] == "," else at
        return items, at + 1
    _, end = _DECODER.raw_decode(text, at)  # one scalar: its end is where it stops
    return (at, end, None), end


def _json_members(text: str, at: int) -> tuple[Any, int]:
    members: dict[str, Any] = {}
    at = _skip(text, at + 1)
    while text[at] != "}":
        key, at = _DECODER.raw_decode(text, at)
        if key in members:
            raise _Reshaped
        at = _skip(text, _skip(text, at) + 1)  # past the colon
        members[key], at = _json_value(text, at)
        at = _skip(text, at)
        at = _skip(text, at + 1) if text[at] == "," else at
    return members, at + 1


def _skip(text: str, at: int) -> int:
    return _SPACE.match(text, at).end()  # type: ignore[union-attr]


def json_text(old: str, value: Any) -> str | None:
    """`old` with the values that differ from `value` replaced in place, or None."""
    spans = json_spans(old)
    if spans is None:
        return None
    ascii_only = "\\u" in old

    def render(new: Any, _: Any) -> str:
        return json.dumps(new, ensure_ascii=ascii_only)

    found = edits(json.loads(old), value, spans, render)
    return None if found is None else applied(old, found)
