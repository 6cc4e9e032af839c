"""Every spec template renders within bounds or fails with a template error, never a crash."""

from __future__ import annotations

import itertools
import re
import time
from datetime import UTC, datetime

import jinja2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportctl.lang import template_limits, templating

CONTEXT = {
    "now": datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
    "run": {"id": "r1"},
    "spec": {"name": "proxies", "description": ""},
}

ATOMS = st.sampled_from(
    ["1", "7", "10", "1000", "100000", "10**6", "'x'", "'ab'", "spec.name", "range(50)", "[1, 2]"]
)
BINARY = st.sampled_from(["*", "**", "+", "-", "~", "//", "%"])
FILTERS = st.sampled_from(
    ["|string", "|list", "|join", "|length", "|replace('x', 'xxxx')", "|upper", "|sum", "|first"]
)


def expressions() -> st.SearchStrategy[str]:
    return st.recursive(
        ATOMS,
        lambda inner: st.one_of(
            st.builds(lambda a, op, b: f"({a} {op} {b})", inner, BINARY, inner),
            st.builds(lambda a, f: f"({a}{f})", inner, FILTERS),
        ),
        max_leaves=8,
    )


@st.composite
def templates(draw: st.DrawFn) -> str:
    body = "{{ " + draw(expressions()) + " }}"
    for _ in range(draw(st.integers(0, 3))):
        loop = draw(st.sampled_from(["i", "j", "k"]))
        body = f"{{% for {loop} in {draw(expressions())} %}}{body}{{% endfor %}}"
    return body


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(templates())
def test_any_template_renders_within_bounds_or_says_why(source: str) -> None:
    started = time.monotonic()
    try:
        output = templating.render(source, dict(CONTEXT))
    except jinja2.TemplateError:
        output = ""
    assert len(output) <= template_limits.MAX_OUTPUT
    assert time.monotonic() - started < template_limits.MAX_SECONDS + 1


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("{{ 'x' * 10**9 }}", "`*` would make"),
        ("{{ 10 ** (10 ** 8) }}", "`**` would make"),
        ("{{ range(10**18) }}", "`range` gives at most"),
        ("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}", "steps"),
        ("{{ ['x' * 60000] * 10000 }}", "grows over"),
        ("{{ ('x' * 1000000)|replace('x', 'xx') }}", "`replace` would make"),
        ("{{ '%0999999999d' % 1 }}", "`%` formatting"),
    ],
)
def test_costly_templates_are_refused_before_they_build(source: str, fragment: str) -> None:
    with pytest.raises(template_limits.TemplateLimitError, match=re.escape(fragment)):
        templating.render(source, dict(CONTEXT))


def test_nothing_is_computed_while_compiling() -> None:
    started = time.monotonic()

    assert templating.check("{{ 'x' * 10**9 }}{{ 'y'|replace('y', 'z') }}") == []
    assert time.monotonic() - started < 1


def test_a_render_that_runs_out_of_time_stops() -> None:
    ticks = itertools.count(0, 10.0)  # every reading of the clock is ten seconds later
    spent = template_limits.Budget(clock=lambda: next(ticks))

    with pytest.raises(template_limits.TemplateLimitError, match="to render"):
        for _ in range(1000):
            spent.step()


@pytest.mark.parametrize(
    "source",
    [
        "{{ spec.name }}-{{ run.id }}.csv",
        "{{ now | strftime('%Y%m%dT%H%M%SZ') }}",
        "{{ now.strftime('%Y') }}/{{ spec.name | upper }}-{{ range(3) | join('') }}",
        "{% for i in range(3) %}{{ loop.index }}{% endfor %}{% set a = 'b' %}{{ a ~ 'c' }}",
        "{{ spec.get('name') or 'unknown' }}{{ 'x' if spec.name is string else 'y' }}",
    ],
)
def test_ordinary_templates_still_work(source: str) -> None:
    assert templating.check(source) == []
    assert templating.render(source, dict(CONTEXT))
