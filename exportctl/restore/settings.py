"""A settings document for an HTTP API, read from an export and checked before it is sent.

The export is an `http_json` source's one record (`record: data`), such as proxywhirl's
`GET /api/v1/config`, written as JSON, JSON Lines or YAML (`.gz`, `.zst`, `.zip` too).
Its settings are checked against what the target answers now (each one known there, of the
type it holds there; an object or a list the export wrote as JSON text is read back) and
against the PUT's body schema in the target's OpenAPI document, where it publishes one.
Messages name settings and rules, never values: a value may be a secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import best_match

from exportctl.errors import UsageError
from exportctl.restore.document import unpacked


def load(path: Path) -> dict[str, Any]:
    """The export's one record; a UsageError if it holds anything else."""
    data, name = unpacked(path)
    try:
        text = data.decode("utf-8")
        if name.endswith((".jsonl", ".ndjson")):
            found: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
        elif name.endswith(".json"):
            found = json.loads(text)
        else:
            found = yaml.safe_load(text)
    except (UnicodeDecodeError, ValueError, yaml.YAMLError):
        raise UsageError(f"{path} is not a JSON, JSON Lines or YAML document") from None
    if isinstance(found, list) and len(found) == 1:
        found = found[0]
    if not isinstance(found, dict) or not found:
        count = f"{len(found)} records" if isinstance(found, list) else "no settings object"
        raise UsageError(
            f"{path} holds {count}; restoring to an API takes one settings object "
            "(an `http_json` export with `record:`)"
        )
    return {str(k): v for k, v in found.items()}


def settings_of(body: Any, where: str) -> dict[str, Any]:
    """The settings in a GET's answer: its `data` object (proxywhirl's envelope), or itself."""
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        body = body["data"]
    if not isinstance(body, dict):
        raise UsageError(f"{where} did not answer with a settings object")
    return body


def nested_read_back(document: dict[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """Settings the target holds as an object or a list, which an `http_json` export writes as
    JSON text, read back into that shape; every other value as it is."""
    found = dict(document)
    for key, value in document.items():
        if isinstance(value, str) and isinstance(current.get(key), dict | list):
            try:
                found[key] = json.loads(value)
            except ValueError:
                raise UsageError(
                    f"setting `{key}` holds a {kind(current[key])} at the target, and in the "
                    "export text that is not JSON"
                ) from None
    return found


def check_against(document: Mapping[str, Any], current: Mapping[str, Any], where: str) -> None:
    """Refuse a setting the target does not have, or one of another type than it holds."""
    unknown = [k for k in document if k not in current]
    if unknown:
        raise UsageError(f"{where} has no setting {', '.join(f'`{k}`' for k in unknown)}")
    for key, value in document.items():
        if current[key] is not None and value is not None and kind(value) != kind(current[key]):
            raise UsageError(
                f"setting `{key}` is a {kind(value)} in the export and a "
                f"{kind(current[key])} at {where}"
            )


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {str: "text", dict: "object", list: "list"}
    return names.get(type(value), type(value).__name__)


def put_schema(openapi: Any, path: str, where: str) -> dict[str, Any] | None:
    """The JSON schema of a PUT's body at `path`, its `$ref`s resolvable; None if the OpenAPI
    document does not describe one. A path it lists without PUT is refused."""
    if not isinstance(openapi, dict) or not isinstance(openapi.get("paths"), dict):
        return None
    operations = openapi["paths"].get(path)
    if not isinstance(operations, dict):
        return None
    if "put" not in operations:
        raise UsageError(f"{where} takes no PUT, by its OpenAPI document")
    try:
        schema = operations["put"]["requestBody"]["content"]["application/json"]["schema"]
    except (KeyError, TypeError):
        return None
    return {**schema, "components": openapi.get("components", {})}


def settable(schema: Mapping[str, Any]) -> set[str] | None:
    """The properties a PUT body may set, as its schema lists them; None if it lists none."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        schema = schema["components"].get("schemas", {}).get(ref.rsplit("/", 1)[1], {})
    properties = schema.get("properties")
    return set(properties) if isinstance(properties, dict) else None


def check_body(body: Mapping[str, Any], schema: Mapping[str, Any], where: str) -> None:
    """Refuse a body the PUT's schema refuses, naming each setting and rule, not the value."""
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in validator.iter_errors(body):
        deepest = best_match([error])
        at = ".".join(str(p) for p in deepest.absolute_path) or "the body"
        problems.append(f"`{at}` breaks its `{deepest.validator}` rule ({deepest.validator_value})")
    if problems:
        raise UsageError(
            f"{where} would refuse the settings, by its OpenAPI schema, so nothing was sent: "
            + "; ".join(sorted(problems))
        )
