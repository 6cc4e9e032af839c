"""What the spec parser collects: each problem found, located by its key path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exportctl.errors import OptionError, SpecProblem
from exportctl.lang import templating
from exportctl.spec.schema import Locator, Path_

#: The names `plan.template_context` gives destination and parameter templates.
PLAN_NAMES = frozenset({"now", "today", "run", "spec"})


class Problems:
    """Every semantic problem of one document, each at the line its key path was written on."""

    def __init__(self, where: Locator):
        self.where = where
        self.found: list[SpecProblem] = []

    def fail(self, path: Path_, message: str) -> None:
        self.found.append(self.where.problem(path, message))

    def template(self, source: str, path: Path_, *, names: frozenset[str] | None = None) -> None:
        """Report bad Jinja2 syntax, and names outside `names` when those are known."""
        try:
            templating.check_syntax(source, "this value")
        except ValueError as exc:
            self.fail(path, str(exc))
            return
        if names is None:
            return
        unknown = templating.variables(source) - names - set(templating.environment().globals)
        if unknown:
            known = listed(names)
            self.fail(path, f"undefined {listed(unknown)} in the template; it knows {known}")


def option_path(section: Path_, error: ValueError, given: Mapping[str, Any]) -> Path_:
    """Where an options class's error belongs: at the key it names when the spec gave it."""
    if isinstance(error, OptionError) and error.key in given:
        return (*section, error.key)
    return section


def typed(doc: str | Mapping[str, Any]) -> Mapping[str, Any]:
    """`csv` is shorthand for `{type: csv}`."""
    return {"type": doc} if isinstance(doc, str) else doc


def listed(names: set[str] | frozenset[str]) -> str:
    return ", ".join(f"`{n}`" for n in sorted(names))
