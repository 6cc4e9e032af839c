"""The status page: server-rendered HTML from the views' documents, no script, no build step.

It refreshes itself (a meta refresh every few seconds), works offline, and its templates ship
in the wheel. Jinja2 escapes every value, so a spec's description or a run's error cannot
inject markup.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

import jinja2

from exportctl.daemon.web import views
from exportctl.values import jsontext

REFRESH_SECONDS = 3


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("exportctl.daemon.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters.update(
        instant=lambda v: jsontext.instant(v).replace("T", " ")[:19] if v else "—",
        size=_size,
        seconds=lambda v: "—" if v is None else f"{v:.1f} s",
        count=lambda v: "—" if v is None else f"{v:,}",
        sparkline=views.sparkline,
    )
    return environment


def index(specs: list[dict[str, Any]], running: list[dict[str, Any]], now: datetime) -> str:
    """Every spec with its last run, next runs and recent trend; the running exports."""
    return _render("index.html", now, specs=specs, running=running)


def spec(spec: dict[str, Any], audit: list[dict[str, Any]], now: datetime) -> str:
    """One spec: its recent runs and its audit events, newest first."""
    return _render("spec.html", now, spec=spec, audit=audit[::-1])


def not_found(name: str, now: datetime) -> str:
    return _render("not_found.html", now, name=name)


def _render(template: str, now: datetime, **context: Any) -> str:
    page = _environment().get_template(template)
    return page.render(refresh=REFRESH_SECONDS, rendered_at=now, **context)


def _size(value: int | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
