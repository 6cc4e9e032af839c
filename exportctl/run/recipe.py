"""A run's plan as another machine rebuilds it, without its secrets.

A compiled plan holds the spec as loaded: its `${VAR}`s resolved, its keys read from the
environment. What a Dask task carries is instead the recipe: the spec file's path and
digest (the worker reads the same file, with its own environment), what the command line
changed in the spec, and what the run fixed (its clock reading, its id, its window).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from exportctl.errors import RunError, SpecError
from exportctl.model import Engine, TimeRange
from exportctl.plan.compiler import ExportPlan, compile_plan, narrowed
from exportctl.plan.incremental import Window
from exportctl.spec.load import load_spec


@dataclass(frozen=True)
class PlanRecipe:
    """What `rebuilt` needs, none of it secret."""

    spec_path: str
    spec_sha256: str
    #: The spec's as the command line left them (`--from/--to`, `--engine/--address`).
    time_range: TimeRange | None
    engine: Engine
    run_id: str
    now: datetime
    window: Window | None
    #: The destination, only where it is not the spec's own for this run (a retry of an
    #: unfinished run goes on in that run's destination).
    destination: str | None


def recipe_of(plan: ExportPlan) -> PlanRecipe:
    """The recipe that `rebuilt` turns back into `plan`."""
    spec = plan.spec
    own = compile_plan(spec, now=plan.now, run_id=plan.run_id).destination
    return PlanRecipe(
        spec_path=str(spec.path),
        spec_sha256=spec.digest,
        time_range=spec.time_range,
        engine=spec.engine,
        run_id=plan.run_id,
        now=plan.now,
        window=plan.window,
        destination=None if plan.destination == own else plan.destination,
    )


def rebuilt(recipe: PlanRecipe) -> ExportPlan:
    """The plan again, from the spec file as this machine has it and its environment."""
    path = Path(recipe.spec_path)
    try:
        spec = load_spec(path)
    except SpecError as exc:
        raise RunError(f"this worker cannot load the spec {path}: {exc}") from None
    if spec.digest != recipe.spec_sha256:
        raise RunError(
            f"this worker's copy of {path} differs from the one the run was started with: "
            "deploy the same spec files to every worker"
        )
    spec = replace(spec, time_range=recipe.time_range, engine=recipe.engine)
    plan = compile_plan(spec, now=recipe.now, run_id=recipe.run_id)
    if recipe.window is None and recipe.destination is None:
        return plan
    return narrowed(plan, window=recipe.window, destination=recipe.destination)
