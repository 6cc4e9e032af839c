"""Build typed spec objects from a document that passed the schema, collecting problems.

Each section has its module (`query`, `fields`, `destination`, `modes`, `privacy`,
`sections`); `rules` then checks the sections together against what the registry says
each component can do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exportctl import model as m
from exportctl import registry
from exportctl.errors import SpecProblem
from exportctl.spec import destination, fields, modes, privacy, query, rules, sections
from exportctl.spec.problems import Problems, option_path, typed
from exportctl.spec.schema import Locator, Path_


def parse(
    doc: Mapping[str, Any], where: Locator, **file_facts: Any
) -> tuple[m.ExportSpec, list[SpecProblem]]:
    """The spec `doc` describes, and every problem found in it (the spec is void if any)."""
    p = Problems(where)
    codec = typed(doc["compression"])["type"] if "compression" in doc else None
    spec = m.ExportSpec(
        version=doc["version"],
        name=doc["name"],
        description=doc.get("description", ""),
        source=component(p, doc["source"], registry.SOURCES, ("source",)),
        query=query.query(p, doc.get("query", {})),
        fields=fields.fields(p, doc.get("fields")),
        format=component(p, typed(doc["format"]), registry.FORMATS, ("format",)),
        compression=codec,
        compression_level=typed(doc.get("compression", {"type": ""})).get("level"),
        destination=destination.destination(p, doc["destination"], codec),
        retention=m.Retention(**doc["retention"]) if "retention" in doc else None,
        schedule=sections.schedule(p, doc.get("schedule")),
        incremental=modes.incremental(p, doc),
        validation=sections.validation(p, doc.get("validation", {})),
        retry=sections.retry(p, doc.get("retry", {})),
        alerts=sections.alerts(doc.get("alerts")),
        time_range=modes.time_range(p, doc),
        reshape=modes.reshape(p, doc),
        redact=privacy.redact(p, doc),
        credentials=privacy.credentials(doc),
        engine=sections.engine(doc.get("engine")),
        **file_facts,
    )
    rules.check(p, doc, spec)
    spec = privacy.file_mode(p, spec)
    return spec, sorted(p.found, key=lambda problem: problem.line or 0)  # in the file's order


def component(
    p: Problems, doc: Mapping[str, Any], kinds: registry.Registry[Any, Any], path: Path_
) -> m.Component:
    """A source or format: its `type` and its typed options (not the component itself)."""
    options = {k: v for k, v in doc.items() if k != "type"}
    kinds.check_installed(doc["type"])
    make = kinds.options(doc["type"])
    if make is None:  # it takes no options (the schema refuses any key but `type`)
        return m.Component(doc["type"], None)
    try:
        return m.Component(doc["type"], make(**options))
    except ValueError as exc:  # an option's value the schema cannot rule out
        p.fail(option_path(path, exc, options), str(exc))
        # Defaults may not be valid options on their own; the spec is refused anyway.
        return m.Component(doc["type"], None)
