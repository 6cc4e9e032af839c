"""INI and `.env` files edited value by value, in their own text.

configupdater rewrites a changed option's line (`key=v` becomes `key = new`); here only
the value's characters change. Lines are found as the formats' readers find them; the
result is read back by those readers before it is used (see `writers.render`).
"""

from __future__ import annotations

import re
from typing import Any

from exportctl.restore.splice import Edit, applied
from exportctl.sources.config import files

# --- INI --------------------------------------------------------------------------------

#: configparser's option line (`key = value`, `key: value`, `key` alone), as it reads it.
_INI_OPTION = re.compile(r"(?P<key>.*?)(?:\s*(?P<sep>[=:])\s*(?P<value>.*?))?\s*$")


def ini_spans(text: str) -> dict[str, dict[str, Any]]:
    """Each one-line option's spans: its key's end and its value's (start, end). An option
    followed by an indented line (a value of many lines) gets none."""
    spans: dict[str, dict[str, Any]] = {}
    section: dict[str, Any] | None = None
    last: tuple[dict[str, Any], str] | None = None
    offset = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        stripped = body.strip()
        at, offset = offset, offset + len(line)
        if not stripped or stripped.startswith(("#", ";")):
            continue
        if body[0].isspace():  # a continuation: the option's value has many lines
            if last is not None:
                last[0][last[1]] = None
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            section = spans.setdefault(stripped[1:-1], {})
            last = None
            continue
        found = _INI_OPTION.match(body)
        if section is None or found is None:
            continue
        end = at + found.end("key")
        value = (end, end) if found["sep"] is None else found.span("value")
        section[found["key"]] = (end, at + value[0], at + value[1], found["sep"])
        last = (section, found["key"])
    return spans


def ini_text(old: str, value: dict[str, dict[str, str | None]]) -> str | None:
    """`old` with the one-line values that differ from `value` replaced in place; None when
    sections or keys differ, or a changed value has many lines."""
    before = files.parse(old.encode("utf-8"), "ini")
    if list(before) != list(value) or any(list(before[n]) != list(o) for n, o in value.items()):
        return None
    found = _ini_edits(old, before, value)
    return None if found is None else applied(old, found)


def ini_values(old: str, value: dict[str, dict[str, str | None]]) -> str:
    """`old` with the values of the options it shares with `value` replaced in place where
    each is one line: what is left for configupdater is then only keys to add or remove."""
    before = files.parse(old.encode("utf-8"), "ini")
    shared = {
        name: {k: v for k, v in options.items() if k in before[name]}
        for name, options in value.items()
        if name in before
    }
    return applied(old, _ini_edits(old, before, shared, skip=True) or [])


def _ini_edits(
    old: str,
    before: dict[str, dict[str, str | None]],
    value: dict[str, dict[str, str | None]],
    skip: bool = False,
) -> list[Edit] | None:
    """The edits of the values that differ; None if one cannot be made (unless `skip`)."""
    spans = ini_spans(old)
    found: list[Edit] = []
    for name, options in value.items():
        for key, text in options.items():
            if before[name][key] == text:
                continue
            span = spans.get(name, {}).get(key)
            if span is None or (text is not None and "\n" in text):
                if skip:
                    continue
                return None
            found.append(_ini_edit(old, span, text))
    return found


def _ini_edit(old: str, span: tuple[int, int, int, str | None], text: str | None) -> Edit:
    key_end, start, end, sep = span
    if text is None:
        return key_end, end, ""
    if sep is None:
        return key_end, key_end, f" = {text}"
    space = " " if start == end and old[start - 1 : start] in "=:" else ""
    return start, end, space + text


# --- .env -------------------------------------------------------------------------------


def env_text(old: str, value: dict[str, str]) -> str | None:
    """`old` with the values that differ from `value` replaced in place (quoted as the old
    value was where the new one allows), or None."""
    before = files.parse_env(old)
    if list(before) != list(value) or len(before) != _env_assignments(old):
        return None  # a key set twice: which line the reader keeps is not ours to guess
    found: list[Edit] = []
    offset = 0
    for line in old.split("\n"):
        match = files.ENV_LINE.match(line.removesuffix("\r")) if line.strip() else None
        if match is not None and not line.lstrip().startswith("#"):
            key = match["key"]
            if before[key] != value[key]:
                found.append(_env_edit(match, value[key], offset))
        offset += len(line) + 1
    return applied(old, found)


def env_line_with(line: str, new: str) -> str:
    """A `.env` line (`KEY=value`, as `files.env_entry` reads it) holding `new` instead."""
    match = files.ENV_LINE.match(line)
    assert match is not None, "a line env_entry read"
    return applied(line, [_env_edit(match, new, 0)])


def _env_assignments(text: str) -> int:
    return sum(files.env_entry(line) is not None for line in files.env_lines(text))


def _env_edit(match: re.Match[str], new: str, offset: int) -> Edit:
    # Bare when it can be, else double-quoted; empty is `""`, as `KEY=  # note` reads "# note".
    quoted = files.env_line("k", new)[2:] or '""'
    if match["single"] is not None and "'" not in new and "\n" not in new:
        start, end = match.span("single")
        return offset + start, offset + end, new
    if match["double"] is not None:
        start, end = match.span("double")
        inner = quoted[1:-1] if quoted.startswith('"') else quoted
        return offset + start, offset + end, inner
    group = "single" if match["single"] is not None else "bare"
    start, end = match.span(group)
    quotes = 1 if group == "single" else 0
    return offset + start - quotes, offset + end + quotes, quoted
