"""What `plan` and `apply` show: a plan described, and a progress bar per running export."""

from __future__ import annotations

import json
from contextlib import closing
from datetime import datetime
from typing import Any, cast

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from exportctl import inputs, jobs, registry, runner, scheduler
from exportctl.errors import scrub
from exportctl.ledger import Ledger
from exportctl.output import stderr, stdout
from exportctl.plan import ExportPlan
from exportctl.spec.model import ExportSpec, Incremental, Schedule


def describe_plan(plan: ExportPlan, *, count: bool) -> dict[str, Any]:
    spec = plan.spec
    description: dict[str, Any] = {
        "name": spec.name,
        "file": str(spec.path),
        "source": {"type": spec.source.type},
        "fields": [f.name for f in spec.fields] if spec.fields else "all",
        "format": spec.format.type,
        "compression": plan.compression,
        "destination": scrub(plan.destination),
        "env_needed": list(spec.env_names),
        "env_unset": list(spec.env_unset),  # rendered as empty here; apply refuses them
    }
    if "://" not in plan.destination and inputs.real(plan.destination) != plan.destination:
        # Where the file really lands, through symlinks: it may be outside the specs' folder.
        description["destination_resolved"] = inputs.real(plan.destination)
    if plan.time_range is not None:
        description["time_range"] = plan.time_range.to_json()
    if spec.incremental is not None:
        description["incremental"] = _incremental(spec.incremental)
    description["credentials"] = spec.credentials.mode
    mode = getattr(spec.destination.options, "mode", None)
    if mode is not None:  # a local export's permissions, 0600 where it may hold secrets
        description["file_mode"] = f"{mode:04o}"
    try:
        source = registry.SOURCES[spec.source.type](spec.source.options, spec.base_dir)
        with closing(source):
            description["source"].update(source.describe(plan.request))
            if count:
                description["estimated_rows"] = source.count(plan.request)
            else:
                description |= {"estimated_rows": None, "estimated_rows_note": "not counted"}
    except Exception as exc:  # a plan shows what it can; the run will say it properly
        description |= {"estimated_rows": None, "estimated_rows_note": f"unknown: {exc}"}
    if spec.schedule:
        description["schedule"] = f"{spec.schedule.every} ({spec.schedule.timezone})"
        description |= _upcoming(spec.schedule, plan.now)
    if spec.retention:
        description["retention"] = {k: v for k, v in vars(spec.retention).items() if v}
    # Whatever a source says about itself may hold a URI with credentials.
    return cast(dict[str, Any], json.loads(scrub(json.dumps(description, default=str))))


def _incremental(given: Incremental) -> dict[str, Any]:
    """The mode and its columns, as the spec states them."""
    if given.mode == "changes":
        return {"mode": "changes", "key": list(given.keys), "adds column": "_op"}
    shown: dict[str, Any] = {"mode": given.mode, "cursor": given.cursor}
    if given.key:
        shown["key"] = given.key
    if given.settle:
        shown["settle"] = given.settle
    return shown


def _upcoming(schedule: Schedule, now: datetime) -> dict[str, list[str]]:
    """The next three runs after `now` (the plan's clock reading), in UTC and local time."""
    runs = scheduler.next_runs(scheduler.parse(schedule.every), schedule.timezone, now, 3)
    local = scheduler.zone(schedule.timezone)
    return {
        "next_runs": [f"{run:%Y-%m-%dT%H:%M:%S}Z" for run in runs],
        "next_runs_local": [run.astimezone(local).isoformat() for run in runs],
    }


def plans(described: list[dict[str, Any]]) -> None:
    for item in described:
        stdout.rule(f"[bold]{item['name']}[/]", align="left")
        for key, value in item.items():
            if key in ("name", "next_runs_local"):
                continue
            if key == "next_runs":
                stdout.print("  [cyan]next runs[/]:")
                for utc_time, local_time in zip(value, item["next_runs_local"], strict=True):
                    stdout.print(f"    {utc_time}  ({local_time} local)")
            elif isinstance(value, dict):
                stdout.print(f"  [cyan]{key}[/]:")
                for sub, text in value.items():
                    if sub == "params" and isinstance(text, dict):
                        _bound_values(text)
                        continue
                    stdout.print(f"    {sub}: ", end="")
                    stdout.print(str(text), markup=False)
            else:
                stdout.print(f"  [cyan]{key}[/]: ", end="")
                stdout.print(str(value), markup=False)


class _Bar(runner.Observer):
    wants_total = True

    def __init__(self, progress: Progress, task: TaskID):
        self.progress, self.task = progress, task

    def restart(self) -> None:
        self.progress.reset(self.task, total=None)

    def total(self, rows: int | None) -> None:
        self.progress.update(self.task, total=rows)

    def advance(self, rows: int) -> None:
        self.progress.advance(self.task, rows)


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        elapsed = task.finished_time or task.elapsed or 0
        speed = task.completed / elapsed if elapsed else 0
        return Text(f"{speed:,.0f} rows/s", style="progress.data.speed")


def run_all(
    specs: list[ExportSpec],
    ledger: Ledger,
    options: jobs.Options,
    *,
    parallel: int,
    show_progress: bool,
    now: datetime | None = None,
) -> list[runner.RunResult]:
    """Run every spec, a progress bar each on a terminal; one failing does not stop the rest."""
    if not (show_progress and stderr.is_terminal):
        return jobs.run_specs(
            specs, ledger, options, lambda _: runner.Observer(), parallel, now=now
        )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),  # from the rows/s so far, once the source's count is known
    )
    with Progress(*columns, console=stderr, transient=False) as progress:

        def bar(spec: ExportSpec) -> runner.Observer:
            return _Bar(progress, progress.add_task(spec.name, total=None))

        return jobs.run_specs(specs, ledger, options, bar, parallel, now=now)


def _bound_values(params: dict[str, Any]) -> None:
    """The SQL's bound values as a table, name → value, each value as JSON writes it."""
    if not params:
        return
    stdout.print("    bound values:")
    width = max(len(name) for name in params)
    for name, value in params.items():
        text = json.dumps(value, default=str, ensure_ascii=False)
        stdout.print(f"      :{name.ljust(width)}  {text}", markup=False, emoji=False)
