"""What `plan` and `apply` show: plans as described, and a progress bar per running export.

Only printing: the descriptions come from exportctl.cli.describe, the runs from
exportctl.jobs; a bar is an Observer the runs report to.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

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

from exportctl.cli.render import stderr, stdout
from exportctl.model import ExportSpec
from exportctl.run.result import Observer

#: What a run reports to, one per spec.
Observers = Callable[[ExportSpec], Observer]


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


def _bound_values(params: dict[str, Any]) -> None:
    """The SQL's bound values as a table, name → value, each value as JSON writes it."""
    if not params:
        return
    stdout.print("    bound values:")
    width = max(len(name) for name in params)
    for name, value in params.items():
        text = json.dumps(value, default=str, ensure_ascii=False)
        stdout.print(f"      :{name.ljust(width)}  {text}", markup=False, emoji=False)


class _Bar(Observer):
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


@contextmanager
def bars(show: bool) -> Iterator[Observers]:
    """A progress bar for each spec run inside, on a terminal and if `show`; else silence."""
    if not (show and stderr.is_terminal):
        yield lambda _: Observer()
        return
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
        yield lambda spec: _Bar(progress, progress.add_task(spec.name, total=None))
