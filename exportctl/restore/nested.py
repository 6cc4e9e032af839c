"""TOML and YAML files edited in place, by their style-preserving parsers.

tomlkit and ruamel.yaml's round trip load the file with its comments, quoting and layout;
`merge` sets the values that differ, drops the keys that are gone and inserts new ones after
the key they follow, so everything else stays as it was.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, MutableMapping, MutableSequence
from typing import Any

import tomlkit
import tomlkit.container
import tomlkit.items
import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from tomlkit.container import Container

from exportctl.sources.config.typed import same

# --- TOML -------------------------------------------------------------------------------


def toml(old: str | None, value: Any) -> str:
    document = tomlkit.parse(old) if old is not None else tomlkit.document()
    document = _merge(document, _toml_items(value), _toml_plain, _toml_insert)
    return tomlkit.dumps(document)


def _toml_items(value: dict[str, Any], inline: bool = False) -> dict[str, Any]:
    """Values as tomlkit items that keep their order when read back: a table followed by
    plain keys is written inline (`{ ... }`), as TOML puts a `[table]` after its keys.

    Every table and array is built here, never by `tomlkit.item`: some tomlkit releases
    move a table's dict-valued keys last when they convert a dict themselves."""
    out: dict[str, Any] = {}
    keys = list(value)
    for index, key in enumerate(keys):
        item = value[key]
        later_plain = any(not _table_like(value[k]) for k in keys[index + 1 :])
        inner = inline or later_plain
        if isinstance(item, dict):
            table = tomlkit.inline_table() if inner else tomlkit.table()
            table.update(_toml_items(item, inner))
            out[key] = table
        elif _table_like(item) and not inner:
            tables = tomlkit.aot()
            for element in item:
                table = tomlkit.table()
                table.update(_toml_items(element))
                tables.append(table)
            out[key] = tables
        elif isinstance(item, list):
            out[key] = _toml_array(item)
        else:
            out[key] = item
    return out


def _toml_array(values: list[Any]) -> Any:
    """An inline array whose tables (`{ ... }`) and arrays keep their keys' order."""
    array = tomlkit.array()
    for element in values:
        if isinstance(element, dict):
            table = tomlkit.inline_table()
            table.update(_toml_items(element, True))
            array.append(table)
        elif isinstance(element, list):
            array.append(_toml_array(element))
        else:
            array.append(element)
    return array


def _table_like(item: Any) -> bool:
    """A table, or an array of tables: what TOML writes as `[name]` or `[[name]]`."""
    return isinstance(item, dict) or (
        isinstance(item, list) and bool(item) and all(isinstance(i, dict) for i in item)
    )


def _toml_plain(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item


def _toml_insert(container: Any, after: str | None, key: str, value: Any) -> Any:
    """`container` with `key` placed right after `after` (first when None).

    tomlkit has no public way to insert at a place (0.15 dropped the private
    `_insert_after`), so the container is rebuilt from its public `body`: every entry,
    comments and blank lines too, appended again in order with the new key among them."""
    fresh = tomlkit.container.Container(True)  # parsing: entries are taken as they are
    placed = after is None
    if placed:
        fresh.append(key, value)
    for name, item in container.body if isinstance(container, Container) else container.value.body:
        fresh.append(name, item)
        if not placed and name is not None and name.key == after:
            fresh.append(key, value)
            placed = True
    fresh.parsing(False)
    if isinstance(container, tomlkit.TOMLDocument):
        document = tomlkit.TOMLDocument(True)
        for name, item in fresh.body:
            document.append(name, item)
        document.parsing(False)
        return document
    if isinstance(container, tomlkit.items.InlineTable):
        return tomlkit.items.InlineTable(fresh, container.trivia)
    return tomlkit.items.Table(
        fresh,
        container.trivia,
        container.is_aot_element(),
        container.is_super_table(),
        container.name,
        container.display_name,
    )


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


def yaml(old: str | None, value: Any) -> str:
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
        document = _merge(document, value, _yaml_plain, _yaml_insert)
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


def _yaml_insert(container: Any, after: str | None, key: str, value: Any) -> Any:
    keys = list(container)
    container.insert(0 if after is None else keys.index(after) + 1, key, value)
    return container


# --- shared by TOML and YAML ------------------------------------------------------------


def _merge(
    container: MutableMapping[str, Any],
    value: MutableMapping[str, Any],
    plain: Callable[[Any], Any],
    insert: Callable[[Any, str | None, str, Any], Any],
) -> Any:
    """Make `container` hold `value`: set what differs, drop what is gone, add what is new.
    The container, or the one `insert` made in its place."""
    for key in [k for k in container if k not in value]:
        del container[key]
    after: str | None = None
    for key, item in value.items():
        if key not in container:
            container = insert(container, after, key, item)
        else:
            container[key] = _merged(container[key], item, plain, insert)
        after = key
    return container


def _merged(
    old: Any,
    new: Any,
    plain: Callable[[Any], Any],
    insert: Callable[[Any, str | None, str, Any], Any],
) -> Any:
    """`old` edited in place to hold `new` where their shapes agree; else `new` itself."""
    if isinstance(new, MutableMapping) and isinstance(old, MutableMapping):
        return _merge(old, dict(new), plain, insert)
    if same(plain(old), plain(new)):
        return old
    if isinstance(new, list) and isinstance(old, MutableSequence) and len(new) == len(old):
        for index, item in enumerate(new):  # items keep their own style and comments
            old[index] = _merged(old[index], item, plain, insert)
        return old
    return new
