"""Check a spec document against the published JSON Schema; every problem, located."""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Iterator, Mapping
from datetime import date
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jsonschema_rs
import yaml

from exportctl import registry
from exportctl.errors import SpecProblem
from exportctl.spec import yamlload

if TYPE_CHECKING:
    import jsonschema

Path_ = tuple[str | int, ...]


def export_spec_schema_text() -> str:
    """The published schema's file, as shipped in the package."""
    return resources.files("exportctl").joinpath("schemas/export-spec.schema.json").read_text()


@cache
def export_spec_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(export_spec_schema_text())
    return schema


def spec_schema() -> dict[str, Any]:
    """The schema specs are checked against: the published one, plus the sources and
    formats registered at run time with a schema of their options (`registry.Entry`)."""
    added = [
        (section, name, kinds.entry(name).schema)
        for section, kinds in (("source", registry.SOURCES), ("format", registry.FORMATS))
        for name in kinds
        if kinds.entry(name).schema is not None
    ]
    if not added:
        return export_spec_schema()
    schema = copy.deepcopy(export_spec_schema())
    for section, name, options in added:
        _add_component(schema, section, name, options or {})
    return schema


def _add_component(schema: dict[str, Any], section: str, name: str, options: Any) -> None:
    """`name` as one more `type` of `section`, taking the keys `options` describes."""
    definition = f"registered_{section}_{name}"
    schema["$defs"][definition] = options
    node = schema["properties"][section]
    if section == "format":  # a name, or an object with `type`: the names are shared
        schema["$defs"]["formatName"]["enum"].append(name)
        node = node["else"]
    else:
        node["properties"]["type"]["enum"].append(name)
    branch = {"properties": {"type": {"const": name}}}
    node["allOf"].append({"if": branch, "then": {"$ref": f"#/$defs/{definition}"}})


class Locator:
    """Maps a key path in a YAML document to the line it was written on."""

    def __init__(self, file: str, document: str | yaml.Node | None):
        """`document`: YAML text, or its nodes as `yamlload.compose` checked them."""
        self.file = file
        self._lines: dict[Path_, int] = {}
        #: Keys written twice in one mapping; YAML would silently keep the last.
        self.duplicates: list[SpecProblem] = []
        root = _composed(document) if isinstance(document, str) else document
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: Path_) -> None:
        self._lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, str(key.value))
                if child in self._lines:
                    message = f"key `{key.value}` is given twice in this mapping"
                    line = key.start_mark.line + 1
                    self.duplicates.append(SpecProblem(self.file, line, json_path(child), message))
                self._walk(value, child)
                # A key's own line is where the user typed it, which beats its value's.
                self._lines[child] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*path, index))

    def line(self, path: Path_) -> int | None:
        while path not in self._lines and path:
            path = path[:-1]
        return self._lines.get(path)

    def problem(self, path: Path_, message: str) -> SpecProblem:
        return SpecProblem(self.file, self.line(path), json_path(path), message)


def _composed(text: str) -> yaml.Node | None:
    try:
        return yamlload.compose(text)
    except yaml.YAMLError:
        return None


def json_path(path: Path_) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def check_schema(document: Any, where: Locator) -> list[SpecProblem]:
    """Every problem of `document`, located.

    Two validators of the same schema share the work. jsonschema-rs (native, imported in a
    few milliseconds) answers whether the spec is valid, which is every spec in a CI lint
    step; jsonschema, whose errors carry what the messages below need (the failing
    keyword, its subschema, a oneOf's branches), is imported only to explain an invalid
    one. The fast answer is only trusted when it is "valid": jsonschema-rs reads `pattern`
    as ECMA regex where jsonschema uses Python's `re`, and it refuses YAML's dates, so
    anything else goes to jsonschema, which decides. tests/spec/test_schema_fast_path.py
    checks that the two agree on every valid spec.
    """
    schema = spec_schema()
    if _quick_check(schema, document):
        return []
    import jsonschema  # noqa: PLC0415 (60 ms: only for a spec with problems)

    validator = jsonschema.Draft202012Validator(schema)
    problems: list[SpecProblem] = []
    for error in validator.iter_errors(document):
        problems.extend(_explain(error, where, schema))
    unique = {(p.line, p.path, p.message): p for p in problems}
    return sorted(unique.values(), key=lambda p: (p.line or 0, p.path))


def _quick_check(schema: dict[str, Any], document: Any) -> bool:
    """Whether jsonschema-rs finds `document` valid (False when it cannot tell)."""
    published = schema is export_spec_schema()  # else components registered at run time
    validator = _published_validator() if published else jsonschema_rs.Draft202012Validator(schema)
    try:
        return bool(validator.is_valid(document))
    except ValueError:  # a value JSON has no type for (a YAML date, a non-text key)
        return False


@cache
def _published_validator() -> jsonschema_rs.Draft202012Validator:
    return jsonschema_rs.Draft202012Validator(export_spec_schema())


def _explain(
    error: jsonschema.ValidationError, where: Locator, spec: Mapping[str, Any]
) -> Iterator[SpecProblem]:
    path: Path_ = tuple(error.absolute_path)
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        if not _type_is_known(error.schema, error.instance):
            return  # the unknown `type` is reported on its own; its options are moot
        known = _allowed_keys(error.schema, error.instance, spec["$defs"])
        for key in _unexpected_keys(error.instance, known):
            yield where.problem((*path, key), _unknown_key_message(key, known))
        return
    if error.validator in ("oneOf", "anyOf") and error.context:
        # Report the branch that got furthest rather than "is not valid under any".
        from jsonschema.exceptions import best_match  # noqa: PLC0415 (see check_schema)

        best = best_match(error.context)
        yield from _explain(best, where, spec)
        return
    if error.validator == "required":
        yield where.problem(path, error.message.replace("'", "`", 2))
        return
    if error.validator == "minProperties" and error.schema.get("properties"):
        keys = ", ".join(f"`{key}`" for key in error.schema["properties"])
        yield where.problem(path, f"{_short(error.instance)} is empty: give at least one of {keys}")
        return
    if error.validator == "type" and isinstance(error.instance, date):
        text = _short(error.instance)
        yield where.problem(path, f"YAML reads an unquoted {text} as a date, not text: quote it")
        return
    described = error.schema.get("description") if isinstance(error.schema, dict) else None
    message = f"{_short(error.instance)} is not allowed here: {error.message}"
    if error.validator == "pattern" and described:
        # The description says what is allowed; the regular expression would only bury it.
        message = f"{_short(error.instance)} is not allowed here. {described}"
    elif error.validator == "enum":
        message = _unknown_value_message(error.instance, error.validator_value, described)
    elif error.validator == "const" and described:
        message += f" ({described})"
    yield where.problem(path, message)


def _unknown_value_message(value: Any, allowed: list[Any], described: str | None) -> str:
    """`"cvs"` is not allowed here; did you mean `csv`? (or the options, described)."""
    options = ", ".join(f"`{option}`" for option in allowed)
    message = f"{_short(value)} is not allowed here; allowed: {options}"
    by_case = {option.lower(): option for option in allowed if isinstance(option, str)}
    guess = difflib.get_close_matches(str(value).lower(), list(by_case), n=1, cutoff=0.6)
    if isinstance(value, str) and guess:
        message = f"{_short(value)} is not allowed here; did you mean `{by_case[guess[0]]}`?"
    return f"{message} ({described})" if described else message


def _allowed_keys(
    schema: Mapping[str, Any], instance: Any, definitions: Mapping[str, Any]
) -> list[str]:
    keys = set(schema.get("properties", {}))
    for sub in schema.get("allOf", []):
        then = sub.get("then", {})
        ref = then.get("$ref", "")
        if ref.startswith("#/$defs/") and _branch_applies(sub.get("if", {}), instance):
            keys |= set(definitions[ref.removeprefix("#/$defs/")].get("properties", {}))
    return sorted(keys)


def _type_is_known(schema: Mapping[str, Any], instance: Any) -> bool:
    branches = schema.get("allOf", [])
    return not branches or any(_branch_applies(b.get("if", {}), instance) for b in branches)


def _branch_applies(condition: Mapping[str, Any], instance: Any) -> bool:
    import jsonschema  # noqa: PLC0415 (see check_schema)

    return jsonschema.Draft202012Validator(condition).is_valid(instance)


def _unexpected_keys(instance: Any, known: list[str]) -> list[str]:
    if not isinstance(instance, dict):
        return []
    return [k for k in instance if k not in known]


def _unknown_key_message(key: object, known: list[str]) -> str:
    if not isinstance(key, str):
        # YAML 1.1 reads unquoted on/off/yes/no as booleans, even as keys.
        return f"a key must be text, and `{key}` is not (quote it if you meant the word)"
    message = f"unknown key `{key}`"
    guess = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if guess:
        return f"{message}; did you mean `{guess[0]}`?"
    return f"{message}; allowed here: {', '.join(f'`{k}`' for k in known)}"


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
