"""The commands that read specs to act on them: `validate`, `plan` and `apply`."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import click

from exportctl.cli import loading, render
from exportctl.cli.common import (
    EXIT_CODES,
    engine_options,
    fail_usage,
    from_option,
    json_option,
    located,
    only_option,
    paths_argument,
    print_json,
    state_option,
    to_option,
)
from exportctl.errors import Interrupted, SpecProblem

if TYPE_CHECKING:
    from exportctl.jobs.options import Options
    from exportctl.ledger.locate import Located
    from exportctl.model import ExportSpec
    from exportctl.plan.compiler import ExportPlan
    from exportctl.run.estimate import Estimate

# pandas, pyarrow and SQLAlchemy come with what `plan` and `apply` import inside: at the
# top they would cost `validate` and `--help` too (tests/cli/test_startup.py).


@click.command(epilog=EXIT_CODES)
@paths_argument
@json_option
@click.option(
    "--strict-env",
    is_flag=True,
    help="Also fail when an environment variable a spec needs (`${VAR}`, keys) is unset.",
)
def validate(paths: tuple[Path, ...], as_json: bool, strict_env: bool) -> None:
    """Check specs' structure and references; touch nothing else.

    Lists the environment variables each spec needs at `apply`; their values are
    checked only with --strict-env (so CI needs no production secrets)."""
    specs, problems = loading.load(paths, strict_env=strict_env)
    if as_json:
        print_json(
            {
                "valid": [s.name for s in specs],
                "specs": [_spec_env_json(s) for s in specs],
                "problems": [_problem_json(p) for p in problems],
            }
        )
    else:
        render.validation(specs, problems)
    sys.exit(2 if problems else 0)


@click.command(epilog=EXIT_CODES)
@paths_argument
@only_option
@from_option
@to_option
@json_option
@click.option(
    "--count/--no-count",
    default=False,
    show_default=True,
    help="Ask each source how many rows the export would hold (a query against it; "
    "without it, plan opens no source).",
)
def plan(
    paths: tuple[Path, ...],
    only: tuple[str, ...],
    start: str | None,
    end: str | None,
    as_json: bool,
    count: bool,
) -> None:
    """Show what each spec would do, without writing anything."""
    from exportctl.run.estimate import estimate_rows

    plans = loading.compiled(paths, only, start=start, end=end, strict_env=False)
    loading.warn_unset(p.spec for p in plans)
    _show_plans(plans, [estimate_rows(p) if count else None for p in plans], as_json)


def _show_plans(plans: list[ExportPlan], estimates: list[Estimate | None], as_json: bool) -> None:
    from exportctl.cli import progress
    from exportctl.cli.describe import describe_plan

    described = [describe_plan(p, e) for p, e in zip(plans, estimates, strict=True)]
    print_json(described) if as_json else progress.plans(described)


@click.command(epilog=EXIT_CODES)
@paths_argument
@only_option
@from_option
@to_option
@json_option
@state_option
@click.option("--dry-run", is_flag=True, help="Plan and show, but write nothing.")
@click.option(
    "--full",
    is_flag=True,
    help="Export every row of incremental specs, ignoring their watermark (which then advances).",
)
@click.option(
    "--wait",
    type=click.FloatRange(0),
    default=0,
    metavar="SECONDS",
    help="When another run holds a spec, wait this long for it instead of skipping the spec.",
)
@click.option(
    "--jobs", "-j", type=click.IntRange(1), default=1, show_default=True, help="Specs run at once."
)
@engine_options
def apply(
    paths: tuple[Path, ...],
    only: tuple[str, ...],
    start: str | None,
    end: str | None,
    as_json: bool,
    state: str,
    dry_run: bool,
    full: bool,
    wait: float,
    jobs: int,
    engine_type: str | None,
    address: str | None,
) -> None:
    """Run the exports the specs describe, recording each run in the ledger.

    Refuses to start (exit 2), naming each, when a variable a spec needs is unset."""
    from exportctl.jobs.options import Options

    strict, engine = not dry_run, (engine_type, address)
    plans = loading.compiled(paths, only, start=start, end=end, strict_env=strict, engine=engine)
    if dry_run:
        loading.warn_unset(p.spec for p in plans)
        _show_plans(plans, [None for _ in plans], as_json)
        return
    _run(plans, located(state, paths[0]), Options(full=full, wait=wait), jobs, as_json)


def _run(
    plans: list[ExportPlan], ledger_at: Located, options: Options, jobs: int, as_json: bool
) -> NoReturn:
    """Run the plans, `jobs` at once, recorded in the ledger; exit 1 if any failed."""
    from exportctl.cli import progress
    from exportctl.jobs.job import run_plans
    from exportctl.ledger.store import Ledger

    _refuse_writing_the_ledger(plans, ledger_at.url)
    ledger = Ledger(ledger_at.url, located=ledger_at.describe())
    with _signals_interrupt(), progress.bars(show=not as_json) as observers:
        # The plans compiled above, at the `now` whose names `plan` and --dry-run showed.
        results = run_plans(plans, ledger, options, observers, jobs)
    if as_json:
        print_json([r.to_json() for r in results])
    else:
        render.summary(results)
    sys.exit(1 if any(r.status != "succeeded" for r in results) else 0)


def _spec_env_json(spec: ExportSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "file": str(spec.path),
        "env_needed": list(spec.env_names),
        "env_unset": list(spec.env_unset),
    }


def _problem_json(problem: SpecProblem) -> dict[str, Any]:
    return {
        "file": problem.file,
        "line": problem.line,
        "path": problem.path,
        "message": problem.message,
    }


def _refuse_writing_the_ledger(plans: list[ExportPlan], url: str) -> None:
    """A destination must not be the SQLite ledger (or its journal) either."""
    from exportctl.plan import inputs
    from exportctl.plan.compiler import spec_error

    ledger = [(path, "the ledger") for path in inputs.sqlite_files(url, Path.cwd())]
    problems = []
    for plan in plans:
        what = inputs.overwritten(plan.spec, plan.destination, ledger)
        if what is not None:
            message = f"the destination {plan.destination} is {what}: an export never overwrites it"
            problems += spec_error(plan.spec, "$.destination.uri", message).problems
    if problems:
        fail_usage(problems)


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so every open destination discards its temp
    file and the ledger records the run as interrupted."""

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(signum)

    # SIGHUP too: a closed terminal or ssh session must not kill the run without cleanup.
    stopping = (signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, interrupt) for signum in stopping}
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(signal.SIGINT) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
