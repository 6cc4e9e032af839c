"""A configuration file's text holding given values, in the layout the file already has.

When the file exists, its own style-preserving parser loads it (tomlkit, ruamel.yaml's
round trip, configupdater, lines for `.env`), the values that differ are set, keys the
values lack are removed and the missing ones inserted after the key they follow; comments,
quoting, key order and blank lines stay. Where only values differ, each is replaced in the
file's own text (see `splice`, `linewise`): every other byte stays. A missing file is
written fresh. A text file is its lines, joined.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from configupdater import ConfigUpdater

from exportctl.restore import linewise, nested, splice, yaml_text
from exportctl.sources.config import files
from exportctl.sources.config.typed import same


def render(fmt: str, old: str | None, value: Any) -> str:
    """The text of a `fmt` file holding `value`, edited from `old` where there is one."""
    if old is None:
        return _WRITERS[fmt](None, value)
    if _holds(old, fmt, value):
        return old  # already right: not even a re-indented list
    if fmt in _SPLICERS:  # only values differ: each replaced where it stands, nothing else
        spliced = _spliced(fmt, old, value)
        if spliced is not None and _holds(spliced, fmt, value):
            return spliced
    # An edit the format cannot hold in the file's layout (a key after a TOML table, a table
    # in an inline one) gives way to a fresh file: the values matter more than the layout.
    try:
        edited = _WRITERS[fmt](old, value)
    except Exception:  # the style-preserving parser's own refusal, whatever its kind
        return _WRITERS[fmt](None, value)
    return edited if _holds(edited, fmt, value) else _WRITERS[fmt](None, value)


def _spliced(fmt: str, old: str, value: Any) -> str | None:
    """The file with only its changed values' text replaced, or None when that cannot be
    (a key or a list's length changed, or a value whose place the reader did not show)."""
    try:
        return _SPLICERS[fmt](old, value)
    except Exception:  # e.g. `old` no longer reads as `fmt`: the writers below take it
        return None


def _holds(old: str, fmt: str, value: Any) -> bool:
    try:
        return same(files.parse(old.encode("utf-8"), fmt), value)
    except ValueError:
        return False


# --- JSON -------------------------------------------------------------------------------


def _json(old: str | None, value: Any) -> str:
    indent: int | str | None = 2
    separators = (",", ": ")
    ascii_only = False
    if old is not None:
        found = re.search(r"^([ \t]+)\S", old, re.MULTILINE)
        indent = (len(found[1]) if found[1].strip(" ") == "" else found[1]) if found else None
        if indent is None:
            compact = re.search(r'"\s*:(\s*)', old)
            separators = (",", ":") if compact and not compact[1] else (", ", ": ")
        ascii_only = "\\u" in old
    text = json.dumps(value, indent=indent, separators=separators, ensure_ascii=ascii_only)
    return text + "\n" if old is None or old.endswith("\n") else text


# --- INI --------------------------------------------------------------------------------


def _ini(old: str | None, value: dict[str, dict[str, str | None]]) -> str:
    # Values of the options the file keeps are replaced in its text first: configupdater
    # rewrites an option it sets (`key=v` → `key = new`), so it only adds and removes.
    old = linewise.ini_values(old, value) if old else old
    updater = ConfigUpdater(allow_no_value=True, strict=True)
    updater.optionxform = str  # type: ignore[assignment,method-assign]
    updater.read_string(old or "")
    for name in [s for s in updater.sections() if s not in value]:
        updater.remove_section(name)
    previous: str | None = None
    before = files.parse((old or "").encode(), "ini")
    for name, options in value.items():
        if not updater.has_section(name):
            if previous is None and updater.sections():
                updater[updater.sections()[0]].add_before.section(name)
            elif previous is None:
                updater.add_section(name)
            else:
                updater[previous].add_after.space().section(name)
        _ini_section(updater[name], options, before.get(name, {}))
        previous = name
    return str(updater)


def _ini_section(
    section: Any, options: dict[str, str | None], before: dict[str, str | None]
) -> None:
    for key in [k for k in section.options() if k not in options]:
        del section[key]  # configupdater 4 has no Section.remove_option
    after: str | None = None
    for key, text in options.items():
        lines = None if text is None else text.split("\n")
        if key in section:
            if before.get(key) != text:
                _ini_set(section[key], lines)
        elif after is None and section.options():
            section[section.options()[0]].add_before.option(key, None)
            _ini_set(section[key], lines)
        elif after is None:
            section.set(key, None)
            _ini_set(section[key], lines)
        else:
            section[after].add_after.option(key, None)
            _ini_set(section[key], lines)
        after = key


def _ini_set(option: Any, lines: list[str] | None) -> None:
    if lines is None or len(lines) == 1:
        option.value = None if lines is None else lines[0]
    else:
        option.set_values(lines, separator="\n    ", indent="")


# --- .env -------------------------------------------------------------------------------


def _env(old: str | None, value: dict[str, str]) -> str:
    """Lines of other keys, comments and blank lines kept; a changed value replaced in its
    line, a new key's line inserted after the key it follows."""
    lines: list[tuple[str | None, str]] = []
    for line in files.env_lines(old or ""):
        entry = files.env_entry(line)
        if entry is None:
            lines.append((None, line))
        elif entry[0] in value and entry[0] not in {k for k, _ in lines}:
            key, text = entry
            if text != value[key]:  # only the value's text changes, its quotes if it can
                line = linewise.env_line_with(line, value[key])
            lines.append((key, line))
    previous: str | None = None
    for key in value:
        keys = [k for k, _ in lines]
        if key not in keys:
            if previous is not None:
                at = keys.index(previous) + 1
            else:
                at = next((i for i, k in enumerate(keys) if k is not None), len(lines))
            lines.insert(at, (key, files.env_line(key, value[key])))
        previous = key
    return "".join(line + "\n" for _, line in lines)


def _text(old: str | None, lines: list[str]) -> str:
    """A text file is its lines: unchanged ones are the old file's, byte for byte."""
    return "".join(lines)


_SPLICERS: dict[str, Callable[[str, Any], str | None]] = {
    "yaml": yaml_text.yaml_text,
    "json": splice.json_text,
    "ini": linewise.ini_text,
    "env": linewise.env_text,
}
_WRITERS: dict[str, Callable[[str | None, Any], str]] = {
    "toml": nested.toml,
    "yaml": nested.yaml,
    "json": _json,
    "ini": _ini,
    "env": _env,
    "text": _text,
}
