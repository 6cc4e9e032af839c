"""The published schema is valid Draft 2020-12 and documents every property it defines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from exportctl.spec.schema import export_spec_schema
from tests.paths import REPO

SCHEMA_FILE = REPO / "schemas" / "export-spec.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())

#: Keywords whose subschemas test a value rather than describe one.
CONDITIONS = {"if", "not"}


def definition(reference: str) -> dict[str, Any]:
    assert reference.startswith("#/$defs/"), reference
    found: dict[str, Any] = SCHEMA["$defs"][reference.removeprefix("#/$defs/")]
    return found


def properties(node: Any, pointer: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every named property below `node`, with its JSON pointer, outside conditions."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from properties(item, f"{pointer}/{index}")
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in CONDITIONS:
            continue
        if key == "properties":
            for name, sub in value.items():
                yield f"{pointer}/properties/{name}", sub
        yield from properties(value, f"{pointer}/{key}")


def description(schema: dict[str, Any]) -> str:
    """The schema's own description, or that of the definition it refers to."""
    if "description" in schema:
        return str(schema["description"])
    if "$ref" in schema:
        return description(definition(schema["$ref"]))
    return ""


ALL_PROPERTIES = sorted(properties(SCHEMA))


def test_the_walk_reaches_every_level() -> None:
    pointers = [pointer for pointer, _ in ALL_PROPERTIES]

    assert "#/properties/name" in pointers
    assert "#/properties/query/properties/limit" in pointers
    assert "#/properties/compression/else/properties/level" in pointers
    assert "#/$defs/filter/properties/between" in pointers
    assert "#/$defs/csvFormat/properties/delimiter" in pointers
    assert not any("/if/" in pointer for pointer in pointers)


@pytest.mark.parametrize(
    "schema", [schema for _, schema in ALL_PROPERTIES], ids=[p for p, _ in ALL_PROPERTIES]
)
def test_every_property_has_a_description(schema: dict[str, Any]) -> None:
    assert description(schema).strip()


@pytest.mark.parametrize("name", sorted(SCHEMA["$defs"]))
def test_every_definition_has_a_description(name: str) -> None:
    assert SCHEMA["$defs"][name].get("description", "").strip()


def test_root_has_a_title_and_description() -> None:
    assert SCHEMA["title"]
    assert SCHEMA["description"]


def test_schema_is_valid_draft_2020_12() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(SCHEMA)


def test_every_reference_resolves_and_every_definition_is_used() -> None:
    text = SCHEMA_FILE.read_text()
    referenced = {ref.split('"')[0] for ref in text.split('"$ref": "#/$defs/')[1:]}

    for name in referenced:
        definition(f"#/$defs/{name}")
    assert referenced == set(SCHEMA["$defs"])


def test_the_package_checks_specs_against_the_published_schema() -> None:
    assert export_spec_schema() == SCHEMA
