"""The spec schema for editors: the published draft 2020-12 schema restated in draft-07.

The YAML language server (VS Code, Neovim, JetBrains) validates with draft-07, which has no
`unevaluatedProperties`; the published schema uses it to refuse unknown keys of a source or
format whose keys depend on its `type`. There, a typo like `chunksize` raised nothing. This
module rewrites each such object so that every `type` branch lists the keys it allows with
`additionalProperties: false`, which draft-07 understands, and keeps everything else as it
is. The result is generated, checked in as `schemas/export-spec.draft-07.schema.json`, and a
test keeps the file equal to this function's output.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from exportctl.spec.schema import export_spec_schema

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
FILE_NAME = "export-spec.draft-07.schema.json"


def draft7_schema() -> dict[str, Any]:
    """The spec schema in draft-07 terms, refusing the same unknown keys."""
    schema = copy.deepcopy(export_spec_schema())
    definitions = schema.pop("$defs")
    _close_typed_objects(schema, definitions)
    _close_typed_objects(definitions, definitions)
    schema = _renamed_refs(schema)
    schema["definitions"] = _renamed_refs(definitions)
    schema["$schema"] = DRAFT_07
    schema["$id"] = schema["$id"].replace("export-spec.schema.json", FILE_NAME)
    return schema


def text() -> str:
    """The draft-07 schema as the checked-in file holds it."""
    return json.dumps(draft7_schema(), indent=2, ensure_ascii=False) + "\n"


def _close_typed_objects(node: Any, definitions: dict[str, Any]) -> None:
    """Replace `unevaluatedProperties: false` by closed `then` branches, everywhere below."""
    if isinstance(node, list):
        for item in node:
            _close_typed_objects(item, definitions)
        return
    if not isinstance(node, dict):
        return
    if node.get("unevaluatedProperties") is False:
        own = node.get("properties", {})
        for branch in node.get("allOf", []):
            target = definitions[branch["then"]["$ref"].removeprefix("#/$defs/")]
            keys = [*own, *target.get("properties", {})]
            branch["then"] = {
                "allOf": [branch["then"]],
                "properties": {key: {} for key in keys},
                "additionalProperties": False,
            }
        del node["unevaluatedProperties"]
    for value in node.values():
        _close_typed_objects(value, definitions)


def _renamed_refs(node: Any) -> Any:
    """`#/$defs/x` → `#/definitions/x`, draft-07's name for the same thing."""
    if isinstance(node, dict):
        return {
            key: value.replace("#/$defs/", "#/definitions/")
            if key == "$ref" and isinstance(value, str)
            else _renamed_refs(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_renamed_refs(item) for item in node]
    return node
