"""Sandboxed Jinja2 for destination paths, query parameters and computed values."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment


def _strftime(value: date | datetime | str, fmt: str) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime(fmt)


@cache
def environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        finalize=lambda value: "" if value is None else value,  # NULL renders as nothing
    )
    env.filters["strftime"] = _strftime
    return env


@cache
def compile_template(source: str) -> jinja2.Template:
    """Parse once; raises jinja2.TemplateError on bad syntax."""
    return environment().from_string(source)


def variables(source: str) -> set[str]:
    """The top-level names a template reads."""
    return meta.find_undeclared_variables(environment().parse(source))


def render(source: str, context: dict[str, Any]) -> str:
    return compile_template(source).render(context)


def check_syntax(source: str, what: str) -> None:
    """Raise ValueError, for the spec loader, if `source` is not a valid template."""
    try:
        compile_template(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"{what} is not a valid Jinja2 template: {exc.message}") from None
