"""Specs as the commands take them: loaded, chosen with --only, ranged with --from/--to, compiled.

A problem in any spec stops the command before anything runs (exit 2, each one named).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from exportctl.cli.common import fail_usage
from exportctl.clock import utc_now
from exportctl.errors import SpecError, SpecProblem
from exportctl.lang import timerange

#: What --engine and --address ask for (None: as the spec says).
EngineChoice = tuple[str | None, str | None]

if TYPE_CHECKING:
    from exportctl.model import ExportSpec
    from exportctl.plan.compiler import ExportPlan


def load(
    paths: tuple[Path, ...], *, strict_env: bool = True
) -> tuple[list[ExportSpec], list[SpecProblem]]:
    from exportctl.spec.load import load_specs

    try:
        return load_specs(paths, strict_env=strict_env)
    except SpecError as exc:
        return [], exc.problems


def compiled(
    paths: tuple[Path, ...],
    only: tuple[str, ...],
    *,
    start: str | None = None,
    end: str | None = None,
    strict_env: bool = True,
    engine: EngineChoice = (None, None),
) -> list[ExportPlan]:
    """The plans of the specs chosen, all compiled at one `now`, on the `engine` (type,
    address) the command line chose, if any; exits 2 on any problem."""
    from exportctl.plan.compiler import compile_plan, new_run_id

    specs, problems = load(paths, strict_env=strict_env)
    unknown = set(only) - {s.name for s in specs}
    if problems:
        fail_usage(problems)
    if unknown:
        raise click.UsageError(f"no spec named {', '.join(sorted(unknown))}")
    now = utc_now()
    plans, problems = [], []
    for spec in specs:
        if only and spec.name not in only:
            continue
        if start is not None or end is not None:
            spec = with_range(spec, start, end)
        if engine != (None, None):
            spec = with_engine(spec, *engine)
        try:
            plans.append(compile_plan(spec, now=now, run_id=new_run_id(now)))
        except SpecError as exc:
            problems += exc.problems
    if problems:
        fail_usage(problems)
    return plans


def with_range(spec: ExportSpec, start: str | None, end: str | None) -> ExportSpec:
    """The spec with --from/--to in place of its range's bounds (a window's too)."""
    if spec.time_range is None:
        raise click.UsageError(
            f"--from/--to replace a spec's `time_range`, and `{spec.name}` has none "
            "(give it `time_range: {field: ...}`, or leave it out with --only)"
        )
    overridden = replace(
        spec.time_range,
        start=spec.time_range.start if start is None else start,
        end=spec.time_range.end if end is None else end,
    )
    for option, key in (("--from", "from"), ("--to", "to")):
        complaint = timerange.problems(overridden).get(key)
        if complaint:
            raise click.BadParameter(complaint, param_hint=option)
    return replace(spec, time_range=overridden)


def with_engine(spec: ExportSpec, kind: str | None, address: str | None) -> ExportSpec:
    """The spec on the engine of --engine and --address, refused where it cannot run."""
    from exportctl.spec.rules import engine_problems

    kind = kind or spec.engine.type
    if address is not None and kind != "dask":
        raise click.BadParameter(
            f"names a Dask scheduler, and `{spec.name}` runs on the `{kind}` engine: "
            "add --engine dask",
            param_hint="--address",
        )
    if kind != "dask":
        address = None
    elif address is None:
        address = spec.engine.address
    spec = replace(spec, engine=replace(spec.engine, type=kind, address=address))
    for path, message in engine_problems(spec):
        key = ".".join(path)
        raise click.UsageError(f"--engine {kind}: `{spec.name}` at `{key}`: {message}")
    return spec


def warn_unset(specs: Iterable[ExportSpec]) -> None:
    """`plan` renders without the secrets, and says which ones `apply` will need."""
    for spec in specs:
        for problem in spec.unset_env:
            click.echo(f"warning: {problem} (needed by apply)", err=True)
