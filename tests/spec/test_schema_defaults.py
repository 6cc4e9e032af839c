"""Every `default` in the published schema is what the parser fills in when the key is omitted.

The list is the schema's own: a default added there is checked here with no change, as long
as its section has a minimal document in `MINIMAL` (the test says which one is missing).
A spec giving the key its schema default must parse to the same spec as one leaving it out.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exportctl.spec.load import load_spec
from exportctl.spec.schema import export_spec_schema

Where = tuple[str | int, ...]

BASE: dict[str, Any] = {
    "version": 1,
    "name": "defaults",
    "source": {"type": "sql", "url": "sqlite:///s.db"},
    "query": {"table": "t"},
    "format": "csv",
    "destination": "out.csv",
}

#: For each object holding a default (its path, a source's or format's `type` after it):
#: the top-level keys of the smallest spec that has that object.
MINIMAL: dict[Where, dict[str, Any]] = {
    ("source", "sql"): {},
    ("source", "logs"): {"source": {"type": "logs", "path": "app.log"}},
    ("source", "config"): {"source": {"type": "config"}},
    ("source", "prometheus"): {
        "source": {"type": "prometheus", "url": "http://127.0.0.1:9090", "query": "up"}
    },
    ("source", "prometheus_text"): {"source": {"type": "prometheus_text", "path": "scrape.txt"}},
    ("source", "http_json"): {"source": {"type": "http_json", "url": "http://127.0.0.1/x"}},
    ("source", "files"): {"source": {"type": "files", "path": "rows.jsonl"}},
    **{
        ("format", kind): {"format": {"type": kind}}
        for kind in ("csv", "json", "jsonl", "parquet", "text", "yaml")
    },
    ("fields", 0): {"fields": [{"name": "a"}]},
    ("destination",): {"destination": {"uri": "out.csv"}},
    ("destination", "s3"): {"destination": {"uri": "s3://b/k.csv", "s3": {}}},
    ("destination", "sftp"): {"destination": {"uri": "sftp://h/k.csv", "sftp": {}}},
    ("destination", "http"): {"destination": {"uri": "http://h/k.csv", "http": {}}},
    ("schedule",): {"schedule": {"every": "every day at 02:00"}},
    ("time_range",): {"time_range": {"field": "ts", "window": "today"}},
    ("incremental",): {"incremental": {"cursor": "ts"}},
    ("retry",): {"retry": {}},
    ("engine",): {"engine": {}},
    ("alerts",): {"alerts": {"command": ["true"]}},
    ("alerts", "webhook"): {"alerts": {"webhook": {"url": "http://h/hook"}}},
    ("alerts", "email"): {"alerts": {"email": {"host": "h", "from": "a@h", "to": ["b@h"]}}},
    ("credentials",): {"credentials": {}},
    ("credentials", "columns"): {"credentials": {"columns": {}}},
    ("redact",): {"redact": {}},
    ("validation",): {"validation": {}},
}


def defaults(node: Any, where: Where = (), seen: frozenset[str] = frozenset()) -> Iterator[Any]:
    """(the object's path with its `type`, its path in a document, key, default)."""
    if not isinstance(node, dict):
        return
    ref = node.get("$ref", "").removeprefix("#/$defs/")
    if ref and ref not in seen:
        yield from defaults(export_spec_schema()["$defs"][ref], where, seen | {ref})
    for key, value in node.get("properties", {}).items():
        if isinstance(value, dict) and "default" in value:
            yield where, key, value["default"]
        yield from defaults(value, (*where, key), seen)
    for branch in node.get("allOf", []):
        kind = branch.get("if", {}).get("properties", {}).get("type", {}).get("const")
        yield from defaults(branch.get("then"), (*where, kind) if kind else where, seen)
    for key in ("then", "else"):
        yield from defaults(node.get(key), where, seen)
    for key in ("anyOf", "oneOf"):
        for branch in node.get(key, []):
            yield from defaults(branch, where, seen)
    if "items" in node:
        yield from defaults(node["items"], (*where, 0), seen)


DEFAULTS = sorted(
    {(where, key, json.dumps(value)) for where, key, value in defaults(export_spec_schema())},
    key=str,
)


def test_every_default_of_the_schema_is_checked() -> None:
    def count(node: Any) -> int:
        if isinstance(node, list):
            return sum(map(count, node))
        if not isinstance(node, dict):
            return 0
        own = "default" in node and not isinstance(node["default"], dict)
        return own + sum(count(v) for k, v in node.items() if k != "default")

    assert len(DEFAULTS) == count(export_spec_schema()) > 60


@pytest.mark.parametrize(("where", "key", "value"), DEFAULTS, ids=lambda x: str(x))
def test_a_schema_default_is_what_the_parser_fills_in(
    tmp_path: Path, where: Where, key: str, value: str
) -> None:
    assert where in MINIMAL, f"add a minimal document for {where} to MINIMAL"
    omitted = {**BASE, **MINIMAL[where]}
    if omitted["source"]["type"] != "sql":
        del omitted["query"]  # `table` is a key of SQL sources only
    given = copy.deepcopy(omitted)
    target: Any = given
    for index, step in enumerate(where):
        if index == 0 or where[index - 1] not in ("source", "format"):  # else a `type`
            target = target[step]
    assert key not in target
    target[key] = json.loads(value)

    parsed = [parse(tmp_path / f"{name}.yaml", doc) for name, doc in (("o", omitted), ("g", given))]

    assert parsed[0] == parsed[1]


def parse(path: Path, document: dict[str, Any]) -> Any:
    """The spec, apart from what tells the files apart (their digest and path)."""
    path.write_text(json.dumps(document))  # JSON is YAML
    spec = load_spec(path, env={})
    return dataclasses.replace(spec, digest="", path=Path())
