"""Changed values written into a file's own text: every other byte stays as it was.

When a file already has the shape the document wants (the same keys in the same order, the
same list lengths) and only values differ, each differing value's text is replaced where it
stands, found by the positions its format's reader reports (PyYAML's node marks in
`yaml_text`, JSON's `raw_decode` ends here). Lines that hold no changed value stay
byte-identical, comments, indentation, trailing spaces and quoting included. In a YAML block
mapping (`Entries`) keys may also be removed and inserted, as whole lines. Any other change
of shape returns None: the style-preserving writers handle those.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from exportctl.sources.config.typed import same

#: Where a value's text stands (start, end offsets) and what to put there.
Edit = tuple[int, int, str]
#: How a changed leaf is written, given its new value and its span.
Render = Callable[[Any, Any], str]


class Reshaped(Exception):
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
    except Reshaped:
        return None
    return found


def _walk(
    old: Any, new: Any, spans: Any, render: Callable[[Any, Any], str], out: list[Edit]
) -> None:
    if isinstance(old, dict):
        if isinstance(new, dict) and list(old) != list(new) and isinstance(spans, Entries):
            spans.rekeyed(old, new, render, out)
            return
        if not isinstance(new, dict) or list(old) != list(new):
            raise Reshaped
        for key, value in old.items():
            _walk(value, new[key], spans[key], render, out)
    elif isinstance(old, list):
        if not isinstance(new, list) or len(old) != len(new):
            raise Reshaped
        for index, value in enumerate(old):
            _walk(value, new[index], spans[index], render, out)
    elif isinstance(new, dict | list):
        raise Reshaped
    elif not same(old, new):
        out.append((spans[0], spans[1], render(new, spans)))


class Entries(dict[Any, Any]):
    """A block mapping's children's spans, and the lines each entry takes (from the start
    of its key's line to the end of its last value's line), so that a key can be removed
    or inserted as whole lines; `start` is None for a key that does not begin its line."""

    def __init__(self, children: dict[Any, Any], lines: dict[Any, tuple[int | None, int]]):
        super().__init__(children)
        self.lines = lines
        #: The end of a file whose last line has no line end: a line inserted there needs one.
        self.unended: set[int] = set()
        self.indent = ""
        self.entry: Callable[[Any, Any, str], str] = lambda key, value, indent: ""

    def rekeyed(
        self, old: dict[Any, Any], new: dict[Any, Any], render: Render, out: list[Edit]
    ) -> None:
        _rekeyed(old, new, self, render, out)


def _kept(old: dict[Any, Any], new: dict[Any, Any]) -> list[Any]:
    """The keys both hold, which must be in the same order in both."""
    kept = [k for k in old if k in new]
    if not kept or kept != [k for k in new if k in old]:
        raise Reshaped
    return kept


def _rekeyed(
    old: dict[Any, Any],
    new: dict[Any, Any],
    spans: Entries,
    render: Callable[[Any, Any], str],
    out: list[Edit],
) -> None:
    """Keys removed and inserted as whole lines, the kept keys' values walked as usual; the
    kept keys must keep their order."""
    kept = _kept(old, new)
    for key in old:
        if key not in new:
            start, end = spans.lines[key]
            if start is None:
                raise Reshaped
            out.append((start, end, ""))
        else:
            _walk(old[key], new[key], spans[key], render, out)
    anchor: Any = None
    pending: list[Any] = []
    for key in [*new, None]:  # None: past the end, to place the last new keys
        if key is not None and key not in old:
            pending.append(key)
            continue
        if pending:
            at = spans.lines[kept[0]][0] if anchor is None else spans.lines[anchor][1]
            if at is None:
                raise Reshaped
            text = "".join(spans.entry(k, new[k], spans.indent) for k in pending)
            out.append((at, at, "\n" + text if at in spans.unended else text))
            pending = []
        anchor = key


# --- JSON -------------------------------------------------------------------------------

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def json_spans(text: str) -> Any:
    """Each value's (start, end) in a JSON text, shaped like `json.loads`'s value; None
    when an object repeats a key (the reader keeps the last; a splice would not know)."""
    try:
        spans, _ = _json_value(text, _SPACE.match(text, 0).end())  # type: ignore[union-attr]
    except (Reshaped, ValueError, IndexError):
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


class Members(Entries):
    """A JSON object's members: where each one starts (its line, when each member has its
    own line; else its key), where its value ends and its comma is, so members can be
    removed and inserted with their commas right."""

    def __init__(self, children: dict[Any, Any], places: dict[Any, tuple[Any, ...]]):
        super().__init__(children, {})
        self.places = places  # key → (start, key start, value end, comma | None)
        self.separator = ": "
        self.comma = ",\n"
        self.ascii_only = False

    def member(self, key: Any, value: Any) -> str:
        text = json.dumps(key, ensure_ascii=self.ascii_only) + self.separator
        return self.indent + text + json.dumps(value, ensure_ascii=self.ascii_only)

    def rekeyed(
        self, old: dict[Any, Any], new: dict[Any, Any], render: Render, out: list[Edit]
    ) -> None:
        kept, names = _kept(old, new), list(old)
        last = names.index(kept[-1])
        for index, key in enumerate(names[:last]):
            if key not in new:  # its line, comma and all, up to the next member's line
                out.append((self.places[key][0], self.places[names[index + 1]][0], ""))
        for key in kept:
            _walk(old[key], new[key], self[key], render, out)
        if last < len(names) - 1:  # the last members go: from the last kept one's comma
            out.append((self.places[kept[-1]][3], self.places[names[-1]][2], ""))
        self.inserted(names, kept, new, out)

    def inserted(
        self, names: list[Any], kept: list[Any], new: dict[Any, Any], out: list[Edit]
    ) -> None:
        anchor: Any = None
        pending: list[Any] = []
        for key in [*new, None]:
            if key is not None and key not in kept:
                pending.append(key)
                continue
            if pending and anchor == kept[-1]:  # after the last member: a comma before each
                at = self.places[anchor][2]
                text = "".join(self.comma + self.member(k, new[k]) for k in pending)
                out.append((at, at, text))
            elif pending:  # before the member that followed the anchor: a comma after each
                following = names[0] if anchor is None else names[names.index(anchor) + 1]
                at = self.places[following][0]
                text = "".join(self.member(k, new[k]) + self.comma for k in pending)
                out.append((at, at, text))
            pending, anchor = [], key


def _json_members(text: str, at: int) -> tuple[Any, int]:
    members: dict[str, Any] = {}
    places: dict[str, tuple[Any, ...]] = {}
    separator = ": "
    at = _skip(text, at + 1)
    while text[at] != "}":
        key_start = at
        key, at = _DECODER.raw_decode(text, at)
        if key in members:
            raise Reshaped
        colon = _skip(text, at)
        value_start = _skip(text, colon + 1)
        separator = text[at:value_start] if not places else separator
        members[key], at = _json_value(text, value_start)
        value_end, at = at, _skip(text, at)
        comma = at if text[at] == "," else None
        at = _skip(text, at + 1) if comma is not None else at
        line_start = text.rfind("\n", 0, key_start) + 1
        places[key] = (line_start, key_start, value_end, comma)
    if not places:
        return members, at + 1
    # One member a line: members come and go as lines; else (`{"a": 1, "b": 2}`) in line.
    block = all(not text[p[0] : p[1]].strip() for p in places.values())
    found = Members(members, {k: (p[0] if block else p[1], *p[1:]) for k, p in places.items()})
    first = next(iter(places.values()))
    found.indent, found.comma = (text[first[0] : first[1]], ",\n") if block else ("", ", ")
    found.separator = separator
    return found, at + 1


def _skip(text: str, at: int) -> int:
    return _SPACE.match(text, at).end()  # type: ignore[union-attr]


def json_text(old: str, value: Any) -> str | None:
    """`old` with the values that differ from `value` replaced in place, or None."""
    spans = json_spans(old)
    if spans is None:
        return None
    ascii_only = "\\u" in old
    _set_ascii(spans, ascii_only)

    def render(new: Any, _: Any) -> str:
        return json.dumps(new, ensure_ascii=ascii_only)

    found = edits(json.loads(old), value, spans, render)
    return None if found is None else applied(old, found)


def _set_ascii(spans: Any, ascii_only: bool) -> None:
    """New members are written as the file writes text: `\\u` escapes or not."""
    if isinstance(spans, Members):
        spans.ascii_only = ascii_only
    for child in spans.values() if isinstance(spans, dict) else spans:
        if isinstance(child, dict | list):
            _set_ascii(child, ascii_only)
