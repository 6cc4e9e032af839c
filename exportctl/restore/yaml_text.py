"""YAML files edited in their own text: changed values replaced where they stand, keys
removed and inserted as whole lines (see `splice`).

PyYAML's composer gives each node's marks, the same reader (`SafeLoader`) the export read
the file with; ruamel.yaml's round trip re-indents lists and respaces what it writes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml

from exportctl.restore.splice import Entries, Reshaped, applied, edits
from exportctl.sources.config.typed import same


def yaml_spans(text: str, value: Any) -> Any:
    """The positions of the values `yaml.safe_load` read from `text` (`value`), shaped like
    it: (start, end, style) at each leaf. None where the text's shape is not plainly its
    value's: aliases (one node in two places), merge keys, repeated keys."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        return None if node is None else _yaml_node(node, value, set(), text)
    except (yaml.YAMLError, Reshaped):
        return None


def _yaml_node(node: yaml.Node, value: Any, seen: set[int], text: str) -> Any:
    if id(node) in seen:  # an alias: a change here would also change its other places
        raise Reshaped
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        # The reader builds the mapping pair by pair, in order: with no key repeated and
        # no merge key, its keys are the nodes' keys, one for one.
        merged = any(key.tag == "tag:yaml.org,2002:merge" for key, _ in node.value)
        if merged or not isinstance(value, dict) or len(value) != len(node.value):
            raise Reshaped
        pairs = list(zip(value.items(), node.value, strict=True))
        children = {k: _yaml_node(n, v, seen, text) for (k, v), (_, n) in pairs}
        if node.flow_style or not pairs:
            return children
        return _yaml_entries(children, pairs, text)
    if isinstance(node, yaml.SequenceNode):
        if not isinstance(value, list) or len(value) != len(node.value):
            raise Reshaped
        return [_yaml_node(n, v, seen, text) for n, v in zip(node.value, value, strict=True)]
    assert isinstance(node, yaml.ScalarNode)
    return (node.start_mark.index, node.end_mark.index, node.style)


def _yaml_entries(
    children: dict[Any, Any], pairs: list[tuple[Any, tuple[yaml.Node, yaml.Node]]], text: str
) -> Entries:
    lines: dict[Any, tuple[int | None, int]] = {}
    for (key, _), (key_node, value_node) in pairs:
        mark = key_node.start_mark
        start = mark.index - mark.column
        alone = not text[start : mark.index].strip()  # not `- key:` of a list item
        lines[key] = (start if alone else None, _line_end(text, _last(value_node).end_mark.index))
    entries = Entries(children, lines)
    if not text.endswith("\n"):
        entries.unended.add(len(text))
    entries.indent = " " * pairs[0][1][0].start_mark.column
    entries.entry = _yaml_entry
    return entries


def _last(node: yaml.Node) -> yaml.Node:
    """The node whose text comes last under `node` (its last item's, all the way down)."""
    while isinstance(node, yaml.CollectionNode) and node.value and not node.flow_style:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    return node


def _line_end(text: str, at: int) -> int:
    """Past the line end at or after `at` (a block scalar already ends past its own)."""
    if at > 0 and text[at - 1] == "\n":
        return at
    found = text.find("\n", at)
    return len(text) if found < 0 else found + 1


def _yaml_entry(key: Any, value: Any, indent: str) -> str:
    """`key: value` as block YAML lines at `indent`, as `yaml.safe_load` reads them back."""
    for unicode in (True, False):  # PyYAML writes NEL raw, then reads it as a space
        text = yaml.safe_dump({key: value}, sort_keys=False, allow_unicode=unicode, width=1 << 16)
        if same(yaml.safe_load(text), {key: value}):
            break
    return "".join(indent + line if line.strip() else line for line in text.splitlines(True))


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
