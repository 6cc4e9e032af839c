"""Sandboxed Jinja2 for destination paths, query parameters and computed values.

Templates are checked on their syntax tree when the spec loads (`template_check`), and
every render is bounded (`template_limits`): value and output sizes, integer sizes, loop
iterations and time. A template that breaks a limit raises jinja2.TemplateError, which the
callers report as a spec error or a run failure; it never exhausts memory or hangs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import pass_context

from exportctl.lang import template_check, template_limits
from exportctl.lang.template_limits import TemplateLimitError

__all__ = ["TemplateLimitError", "check", "check_syntax", "compile_template", "render"]


def _strftime(value: date | datetime | str, fmt: str) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime(fmt)


class BoundedTemplate(jinja2.Template):
    """Renders within the limits of `template_limits`, whatever the template says."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        with template_limits.budget() as spent:
            try:
                return spent.joined(self.generate(*args, **kwargs))
            except jinja2.TemplateError:
                raise
            except Exception as exc:  # the template's own arithmetic or types: its author's
                text = str(exc)[:200]
                # Chained, so --debug shows where in the library it failed.
                raise jinja2.TemplateRuntimeError(f"{type(exc).__name__}: {text}") from exc


class BoundedEnvironment(SandboxedEnvironment):
    """The sandbox, with every operator, call and filter result measured against the budget.

    Intercepting the operators also stops Jinja folding constants while compiling
    (`{{ 'x' * 10**9 }}` was built by `validate`), and the filters take the context for
    the same reason: an intercepted operation is never evaluated at compile time.
    """

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    template_class = BoundedTemplate

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        template_limits.check_binop(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        return template_limits.measured(result)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        refused = template_check.FORBIDDEN_ATTRIBUTES
        return super().is_safe_attribute(obj, attr, value) and attr not in refused

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        name = getattr(__obj, "__name__", None)
        if name not in template_check.METHODS | template_check.CALLABLE_NAMES:
            raise SecurityError(f"calling {name or 'this'} is not allowed")
        return template_limits.measured(super().call(__context, __obj, *args, **kwargs))


def _guarded(raw: SandboxedEnvironment, name: str) -> Callable[..., Any]:
    """Filter `name`, run by `raw`, its cost checked first and its result measured."""

    @pass_context
    def run(context: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        template_limits.check_filter(name, value, args)
        return template_limits.measured(raw.call_filter(name, value, args, kwargs, context))

    return run


@pass_context
def _loop_items(context: Any, items: Any) -> Any:
    return template_limits.counted(items)


@pass_context
def _concat(context: Any, parts: list[Any]) -> str:
    return template_limits.concatenated(parts)


@cache
def environment() -> BoundedEnvironment:
    env = BoundedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        finalize=lambda value: "" if value is None else value,  # NULL renders as nothing
    )
    raw = SandboxedEnvironment(autoescape=False)
    raw.filters["strftime"] = _strftime
    env.filters = {name: _guarded(raw, name) for name in template_check.FILTERS}
    env.filters.update({"_loop_items": _loop_items, "_concat": _concat})
    env.globals = {"range": template_limits.bounded_range, "dict": dict}
    return env


def parse(source: str) -> nodes.Template:
    """The syntax tree; jinja2.TemplateSyntaxError if it is not a template or nests too deep."""
    if len(source) > template_limits.MAX_SOURCE:
        message = f"a template is at most {template_limits.MAX_SOURCE:,} characters"
        raise jinja2.TemplateSyntaxError(message, 1)
    try:
        return environment().parse(source)
    except RecursionError:
        raise jinja2.TemplateSyntaxError("the template nests too deeply", 1) from None


def check(source: str) -> list[str]:
    """Every problem with `source` as a spec template; an empty list if it is fine."""
    try:
        problems = template_check.problems(parse(source), frozenset(environment().tests))
        if not problems:
            _compiled(source)  # Python's compiler has limits of its own (nesting)
    except jinja2.TemplateSyntaxError as exc:
        return [f"line {exc.lineno}: {exc.message}"]
    return problems


def compile_template(source: str) -> jinja2.Template:
    """Parse, check and compile once; raises jinja2.TemplateError when `check` complains."""
    complaints = check(source)
    if complaints:
        raise jinja2.TemplateSyntaxError("; ".join(complaints), 1)
    return _compiled(source)


@cache
def _compiled(source: str) -> jinja2.Template:
    tree = parse(source)
    _bound_loops_and_joins(tree)
    try:
        return environment().from_string(tree)
    except (RecursionError, SyntaxError):  # SyntaxError: Python's "too many nested ..."
        raise jinja2.TemplateSyntaxError("the template nests too deeply", 1) from None


def _bound_loops_and_joins(tree: nodes.Template) -> None:
    """Route every loop's items and every `~` through the budget (neither has a sandbox hook)."""
    for node in template_check.walk(tree):
        if isinstance(node, nodes.For):
            node.iter = nodes.Filter(node.iter, "_loop_items", [], [], None, None)
        for field, value in node.iter_fields():
            if isinstance(value, nodes.Concat):
                setattr(node, field, _joined(value))
            elif isinstance(value, list):
                value[:] = [_joined(v) if isinstance(v, nodes.Concat) else v for v in value]


def _joined(concat: nodes.Concat) -> nodes.Filter:
    """`a ~ b` as `[a, b]|_concat`, the same text, measured."""
    joined = nodes.Filter(nodes.List(concat.nodes), "_concat", [], [], None, None)
    joined.set_lineno(concat.lineno)
    return joined


def variables(source: str) -> set[str]:
    """The top-level names a template reads."""
    return meta.find_undeclared_variables(parse(source))


def render(source: str, context: dict[str, Any]) -> str:
    return compile_template(source).render(context)


def check_syntax(source: str, what: str) -> None:
    """Raise ValueError, for the spec loader, if `source` is not a valid spec template."""
    complaints = check(source)
    if complaints:
        listed = "; ".join(complaints)
        raise ValueError(f"{what} is not a valid Jinja2 template for a spec: {listed}")
