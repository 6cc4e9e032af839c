"""What the CLI shows people: problems, plans, progress and summaries (rich, stderr-aware).

Only printing, of what the commands hand it: no pandas, pyarrow or SQLAlchemy here, so
`history`, `status` and `--help` start at once (the types it prints are imported only for
the type checker). Plans and progress bars are printed by exportctl.cli.progress.
"""

from __future__ import annotations

import json
import os
import shlex
from typing import TYPE_CHECKING, Any

from rich import filesize
from rich.console import Console
from rich.table import Table

from exportctl.cli import tables
from exportctl.cli.tables import Cell, Column
from exportctl.errors import SpecProblem, scrub

if TYPE_CHECKING:
    from exportctl.demo.build import DemoSummary
    from exportctl.jobs.prune import Pruned
    from exportctl.model import ExportSpec
    from exportctl.run.result import RunResult

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)  # one problem, one line


def validation(specs: list[ExportSpec], problems: list[SpecProblem]) -> None:
    for spec in specs:
        stdout.print(f"[green]✓[/] {spec.name}  [dim]{spec.path}[/]")
        if spec.env_names:
            unset = f" (unset now: {', '.join(spec.env_unset)})" if spec.env_unset else ""
            needs = f"    needs at apply: {', '.join(spec.env_names)}{unset}"
            stdout.print(needs, markup=False, soft_wrap=True)
    for problem in problems:
        stderr.print("[red]error:[/] ", end="")
        stderr.print(str(problem), markup=False)
    if problems:
        stderr.print(f"{len(problems)} problem(s) found; nothing was run.")


def summary(results: list[RunResult]) -> None:
    columns = [
        Column("run", "id"),
        Column("spec"),
        Column("status"),
        *(Column(name, "number") for name in ("rows", "size", "time")),
        Column("destination", "path"),
    ]
    rows: list[list[tables.Value]] = [
        [
            r.run_id,
            r.spec,
            _status(r.status),
            f"{r.rows:,}",
            filesize.decimal(r.bytes),
            f"{r.seconds:.1f}s",
            _short(r.uri),
        ]
        for r in results
    ]
    tables.show(stdout, "exportctl apply", columns, rows)
    for r in results:
        for warning in r.warnings:
            stderr.print(f"[yellow]{r.spec}:[/] ", end="")
            stderr.print(warning, markup=False)
        if r.error:
            stderr.print(f"[red]{r.spec} {r.status}:[/] ", end="")
            stderr.print(r.error, markup=False)


def _short(uri: str) -> str:
    """A local path relative to where the user stands, when that is shorter."""
    if not uri or "://" in uri:
        return scrub(uri)
    relative = os.path.relpath(uri)
    return relative if len(relative) < len(uri) else uri


def demo_summary(summary: DemoSummary) -> None:
    table = Table(title=f"demo system in {summary.target}", show_header=False)
    table.add_row(
        "database",
        f"{summary.database.name}: {summary.proxies:,} proxies, "
        f"{summary.validation_results:,} validation results",
    )
    table.add_row(
        "cache",
        f"{summary.cache_entries:,} entries in L2 (cache/proxies) and L3 (cache/db), "
        f"{summary.health_checks:,} health checks",
    )
    table.add_row(
        "warehouse.db",
        f"not proxywhirl's: {summary.metric_samples:,} metric samples, "
        f"{summary.request_logs:,} request log rows",
    )
    table.add_row(
        "logs",
        f"{summary.log_lines:,} records in {len(summary.log_files)} loguru JSON files "
        "and in logs/logfmt/",
    )
    table.add_row("config", ", ".join(p.name for p in summary.config_files))
    table.add_row("specs", ", ".join(p.name for p in summary.spec_files))
    stdout.print(table)
    # The specs read the demo's keys from its .env: the hint loads them, so it works as
    # printed (one line, never wrapped, the paths quoted for a POSIX shell).
    env_file = shlex.quote(str(summary.target / "config" / ".env"))
    specs = shlex.quote(str(summary.target / "specs"))
    next_step = f"Next: set -a; . {env_file}; set +a; exportctl apply {specs}"
    stdout.print(next_step, markup=False, soft_wrap=True)


_STATUS_STYLE = {"succeeded": "green", "running": "cyan", "skipped": "yellow"}


def _status(status: str) -> Cell:
    return Cell(status, _STATUS_STYLE.get(status, "red"))


def history(runs: list[dict[str, Any]]) -> None:
    columns = [
        Column("run", "id"),
        Column("spec"),
        Column("status"),
        Column("trigger"),
        Column("started (UTC)"),
        *(Column(name, "number") for name in ("time", "rows", "size")),
        Column("error", "free"),
    ]
    rows: list[list[tables.Value]] = []
    for run in runs:
        took = run["finished_at"] - run["started_at"] if run["finished_at"] else None
        rows.append(
            [
                run["id"],
                run["spec"],
                _status(run["status"]),
                run["trigger"] + (f" #{run['attempt']}" if run["attempt"] > 1 else ""),
                f"{run['started_at']:%Y-%m-%d %H:%M:%S}",
                f"{took.total_seconds():.1f}s" if took else "",
                f"{run['rows']:,}",
                filesize.decimal(run["bytes"]),
                run["error"] or "",
            ]
        )
    tables.show(stdout, "exportctl history", columns, rows)


def audit(events: list[dict[str, Any]]) -> None:
    table = Table(title="exportctl audit")
    for name in ("at (UTC)", "event", "spec", "run", "by"):
        table.add_column(name, overflow="fold")
    table.add_column("detail", overflow="fold", ratio=1)
    for event in events:
        table.add_row(
            f"{event['at']:%Y-%m-%d %H:%M:%S}",
            event["event"],
            event["spec"] or "",
            event["run_id"] or "",
            f"{event['user']}@{event['host']}",
            json.dumps(event["detail"], separators=(",", ":"), default=str),
        )
    stdout.print(table)


def progress(described: list[dict[str, Any]]) -> None:
    if not described:
        stdout.print("No export is running.")
        return
    columns = [
        Column("run", "id"),
        Column("spec"),
        Column("status"),
        *(Column(name, "number") for name in ("rows", "of", "%", "rows/s", "ETA")),
        Column("updated"),
    ]
    rows: list[list[tables.Value]] = [
        [
            d["run_id"],
            d["spec"],
            _status(d["status"]),
            f"{d['rows']:,}",
            f"{d['total_rows']:,}" if d["total_rows"] else "?",
            f"{d['percent']}" if d["percent"] is not None else "",
            f"{d['rows_per_second']:,}" if d["rows_per_second"] else "",
            f"{d['eta_seconds']}s" if d["eta_seconds"] is not None else "",
            d["updated_at"][11:19],
        ]
        for d in described
    ]
    tables.show(stdout, "exportctl status", columns, rows)


def pruned(files: list[Pruned], dry_run: bool) -> None:
    """What retention deleted (or, dry, would delete), and what it could not: a line a file."""
    for p in files:
        done = "would delete" if dry_run else "deleted" if p.deleted else "not deleted"
        stdout.print(f"{done:>12}  ", style=None if dry_run or p.deleted else "red", end="")
        where = f"{_short(p.uri)}  ({p.spec}, run {p.run_id}, {p.role}: {p.reason})"
        stdout.print(where, markup=False)
        if p.error:
            stderr.print(f"[red]{p.spec}:[/] ", end="")
            stderr.print(f"cannot delete {_short(p.uri)}: {p.error}", markup=False)
    count = sum(1 for p in files if dry_run or p.deleted)
    verb = "would be deleted" if dry_run else "deleted"
    tail = " by retention" if files else "; retention lets nothing go"
    stdout.print(f"{count} file(s) {verb}{tail}")


def verification(run_id: str, checks: list[dict[str, Any]]) -> None:
    if not checks:
        stderr.print(f"run {run_id} recorded no file to verify")
        return
    for check in checks:
        mark = "[green]ok[/]" if check["ok"] else f"[red]{check['problem']}[/]"
        stdout.print(f"{check['role']:>8}  ", end="")
        stdout.print(check["uri"], markup=False, end="")
        stdout.print(f"  {mark}")
