"""A configuration file's text holding given values, in the layout the file already has.

When the file exists, its own style-preserving parser loads it (tomlkit, ruamel.yaml's
round trip, configupdater, lines for `.env`), the values that differ are set, keys the
values lack are removed and the missing ones inserted after the key they follow; comments,
quoting, key order and blank lines stay. A missing file is written fresh. JSON has no
comments: it is written whole, in the indentation the existing file used.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, MutableMapping, MutableSequence
from typing import Any

import tomlkit
import tomlkit.container
import tomlkit.items
import yaml as pyyaml
from configupdater import ConfigUpdater
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from exportctl.sources.config import files
from exportctl.sources.config.typed import same


def render(fmt: str, old: str | None, value: Any) -> str:
    """The text of a `fmt` file holding `value`, edited from `old` where there is one."""
    if old is None:
        return _WRITERS[fmt](None, value)
    if _holds(old, fmt, value):
        return old  # already right: not even a re-indented list
    # An edit the format cannot hold in the file's layout (a key after a TOML table, a table
    # in an inline one) gives way to a fresh file: the values matter more than the layout.
    try:
        edited = _WRITERS[fmt](old, value)
    except Exception:  # the style-preserving parser's own refusal, whatever its kind
        return _WRITERS[fmt](None, value)
    return edited if _holds(edited, fmt, value) else _WRITERS[fmt](None, value)


def _holds(old: str, fmt: str, value: Any) -> bool:
    try:
        return same(files.parse(old.encode("utf-8"), fmt), value)
    except ValueError:
        return False


# --- TOML -------------------------------------------------------------------------------


def _toml(old: str | None, value: Any) -> str:
    document = tomlkit.parse(old) if old is not None else tomlkit.document()
    _merge(document, _toml_items(value), _toml_plain, _toml_insert)
    return tomlkit.dumps(document)


def _toml_items(value: dict[str, Any], inline: bool = False) -> dict[str, Any]:
    """Values as tomlkit items that keep their order when read back: a table followed by
    plain keys is written inline (`{ ... }`), as TOML puts a `[table]` after its keys."""
    out: dict[str, Any] = {}
    keys = list(value)
    for index, key in enumerate(keys):
        item = value[key]
        later_plain = any(not _table_like(value[k]) for k in keys[index + 1 :])
        inner = inline or later_plain
        if isinstance(item, dict):
            made = _toml_items(item, inner)
            table = tomlkit.inline_table() if inner else tomlkit.table()
            table.update(made)
            out[key] = table
        elif _table_like(item) and inner:
            array = tomlkit.array()
            array.extend(_toml_items(i, True) for i in item)
            out[key] = array
        elif _table_like(item):
            tables = tomlkit.aot()
            for element in item:
                table = tomlkit.table()
                table.update(_toml_items(element))
                tables.append(table)
            out[key] = tables
        else:
            out[key] = item
    return out


def _table_like(item: Any) -> bool:
    """A table, or an array of tables: what TOML writes as `[name]` or `[[name]]`."""
    return isinstance(item, dict) or (
        isinstance(item, list) and bool(item) and all(isinstance(i, dict) for i in item)
    )


def _toml_plain(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item


def _toml_insert(container: Any, after: str | None, key: str, value: Any) -> None:
    inner = container.value if isinstance(container, tomlkit.items.Table) else container
    if isinstance(inner, tomlkit.container.Container) and len(inner):
        if after is None:
            inner._insert_at(0, key, value)
        else:
            inner._insert_after(after, key, value)
    else:  # an inline table keeps its own order
        container[key] = value


# --- YAML -------------------------------------------------------------------------------


def _yaml_io() -> YAML:
    yaml = YAML()  # round trip: comments, quotes, flow style and key order are kept
    # YAML 1.1, as the export read the file (`yaml.safe_load`): `yes`, `on`, `1:20` are not
    # text there, so text holding them must be quoted.
    yaml.version = (1, 1)
    yaml.preserve_quotes = True
    yaml.width = 1 << 16
    # ruamel writes None as nothing (`key:`); `null` is what configuration files say.
    yaml.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml


def _yaml(old: str | None, value: Any) -> str:
    if old is None or not old.strip():
        # Fresh: PyYAML's own dumper, the pair of the `safe_load` the export read it with.
        text = pyyaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=1 << 16)
        if same(pyyaml.safe_load(text), value):
            return text
        # PyYAML writes some line breaks (U+0085) raw, and reads them back as spaces.
        return pyyaml.safe_dump(value, sort_keys=False, allow_unicode=False, width=1 << 16)
    yaml = _yaml_io()
    _indent(yaml, old)
    document = yaml.load(old)
    if isinstance(document, CommentedMap) and isinstance(value, dict):
        _merge(document, value, _yaml_plain, _yaml_insert)
    else:
        document = value
    out = io.StringIO()
    yaml.dump(document, out)
    text = out.getvalue()
    had_directive = old.lstrip().startswith("%YAML")
    return text if had_directive else text.removeprefix("%YAML 1.1\n---\n")


def _indent(yaml: YAML, text: str) -> None:
    """Keep the file's indentation of mappings and of `- ` list items."""
    item = re.search(r"^( *)- ", text, re.MULTILINE)
    nested = re.search(r"^( +)\S", text, re.MULTILINE)
    mapping = len(nested[1]) if nested else 2
    offset = len(item[1]) if item else 0
    yaml.indent(mapping=mapping, sequence=max(mapping, offset + 2), offset=offset)


def _yaml_plain(node: Any) -> Any:
    if isinstance(node, CommentedMap):
        return {k: _yaml_plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq):
        return [_yaml_plain(v) for v in node]
    for kind in (bool, int, float, str):  # ruamel's scalar subclasses, as plain values
        if isinstance(node, kind):
            return kind(node)
    return node


def _yaml_insert(container: Any, after: str | None, key: str, value: Any) -> None:
    keys = list(container)
    container.insert(0 if after is None else keys.index(after) + 1, key, value)


# --- shared by TOML and YAML ------------------------------------------------------------


def _merge(
    container: MutableMapping[str, Any],
    value: MutableMapping[str, Any],
    plain: Callable[[Any], Any],
    insert: Callable[[Any, str | None, str, Any], None],
) -> None:
    """Make `container` hold `value`: set what differs, drop what is gone, add what is new."""
    for key in [k for k in container if k not in value]:
        del container[key]
    after: str | None = None
    for key, item in value.items():
        if key not in container:
            insert(container, after, key, item)
        else:
            container[key] = _merged(container[key], item, plain, insert)
        after = key


def _merged(
    old: Any,
    new: Any,
    plain: Callable[[Any], Any],
    insert: Callable[[Any, str | None, str, Any], None],
) -> Any:
    """`old` edited in place to hold `new` where their shapes agree; else `new` itself."""
    if isinstance(new, MutableMapping) and isinstance(old, MutableMapping):
        _merge(old, dict(new), plain, insert)
        return old
    if same(plain(old), plain(new)):
        return old
    if isinstance(new, list) and isinstance(old, MutableSequence) and len(new) == len(old):
        for index, item in enumerate(new):  # items keep their own style and comments
            old[index] = _merged(old[index], item, plain, insert)
        return old
    return new


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
                updater[previous].add_after.section(name)
        _ini_section(updater[name], options, before.get(name, {}))
        previous = name
    return str(updater)


def _ini_section(
    section: Any, options: dict[str, str | None], before: dict[str, str | None]
) -> None:
    for key in [k for k in section.options() if k not in options]:
        section.remove_option(key)
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
    """Lines of other keys, comments and blank lines kept; a changed value's line rewritten,
    a new key's line inserted after the key it follows."""
    lines: list[tuple[str | None, str]] = []
    for line in files.env_lines(old or ""):
        entry = files.env_entry(line)
        if entry is None:
            lines.append((None, line))
        elif entry[0] in value and entry[0] not in {k for k, _ in lines}:
            key, text = entry
            if text != value[key]:
                prefix = "export " if line.lstrip().startswith("export ") else ""
                line = prefix + files.env_line(key, value[key])
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


_WRITERS: dict[str, Callable[[str | None, Any], str]] = {
    "toml": _toml,
    "yaml": _yaml,
    "json": _json,
    "ini": _ini,
    "env": _env,
}
