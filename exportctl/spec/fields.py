"""`fields`: the output columns, each a source column or a template, with its checks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from exportctl import model as m
from exportctl.lang import templating
from exportctl.spec.problems import Problems
from exportctl.spec.schema import Path_

_CHECK_KEYS = ("type", "nullable", "allowed", "pattern", "min", "max")


def fields(p: Problems, docs: list[Any] | None) -> tuple[m.Field, ...] | None:
    if docs is None:
        return None
    parsed = tuple(field(p, d, ("fields", i)) for i, d in enumerate(docs))
    seen: set[str] = set()
    for index, f in enumerate(parsed):
        if f.name in seen:
            p.fail(("fields", index), f"output field `{f.name}` appears twice")
        seen.add(f.name)
        if f.template is not None:
            p.template(f.template, ("fields", index, "template"))
    return parsed


def field(p: Problems, doc: str | Mapping[str, Any], path: Path_) -> m.Field:
    if isinstance(doc, str):
        return m.Field(doc, doc)
    declared = check(p, doc, path)
    if "template" in doc:
        if "name" in doc:
            p.fail(path, "a field takes a source column `name` or a `template`, not both")
        if "as" not in doc:
            p.fail(path, "a computed field needs `as`, the name of its output column")
        if doc.get("json"):
            p.fail((*path, "json"), "`json` parses a source column; a template makes text")
        return m.Field(doc.get("as", ""), None, doc["template"], declared)
    if "name" not in doc:
        p.fail(path, "a field needs `name`, the source column it takes")
        return m.Field(doc.get("as", ""), None)
    json = doc.get("json", False)
    return m.Field(doc.get("as", doc["name"]), doc["name"], check=declared, json=json)


def check(p: Problems, doc: Mapping[str, Any], path: Path_) -> m.Check | None:
    """A field's declared shape (`type`, `nullable`, `allowed`, ...), None when it has none."""
    declared = {k: doc[k] for k in _CHECK_KEYS if k in doc}
    if not declared:
        return None
    if "pattern" in declared:
        try:
            re.compile(declared["pattern"])
        except re.error as exc:
            p.fail((*path, "pattern"), f"not a valid regular expression: {exc}")
            del declared["pattern"]
    if declared.get("type") == "float":  # a synonym: the SQL word for `number`
        declared["type"] = "number"
    if "allowed" in declared:
        declared["allowed"] = tuple(declared["allowed"])
    if "min" in declared and "max" in declared and declared["min"] > declared["max"]:
        p.fail((*path, "min"), "`min` is greater than `max`: no value could pass")
    return m.Check(**declared)


def output_sources(docs: list[Any] | None) -> dict[str, str | None]:
    """Each output field's name → the source column it takes (None: computed)."""
    found: dict[str, str | None] = {}
    for doc in docs or ():
        if isinstance(doc, str):
            found[doc] = doc
        else:
            found[doc.get("as", doc.get("name", ""))] = doc.get("name")
    return found


def field_names(doc: str | Mapping[str, Any]) -> tuple[str, ...]:
    """A field's output name, then the source columns it reads."""
    if isinstance(doc, str):
        return (doc,)
    try:
        used = tuple(templating.variables(doc["template"])) if "template" in doc else ()
    except Exception:  # bad syntax, reported where the field is parsed
        used = ()
    names = (doc.get("as", doc.get("name", "")), doc.get("name", ""), *used)
    return tuple(n for n in names if n)
