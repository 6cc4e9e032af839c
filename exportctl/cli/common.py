"""What every command shares: its options, exit codes, JSON printing and finding the ledger.

Light on purpose (click and rich only): `--help`, `history` and `validate` import it, and
pandas, pyarrow or SQLAlchemy here would cost each of them a second (tests/cli/test_startup.py).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from exportctl.cli import render
from exportctl.clock import utc_now
from exportctl.errors import SpecProblem, UsageError
from exportctl.lang import timerange
from exportctl.values import jsontext

if TYPE_CHECKING:
    from exportctl.ledger.history import History
    from exportctl.ledger.locate import Located
    from exportctl.ledger.store import Ledger

EXIT_CODES = """\b
Exit codes:
  0    every export succeeded
  1    an export failed or was skipped (the others still ran)
  2    an invalid spec or invalid usage (nothing ran)
  130  interrupted by Ctrl-C (SIGINT); 143 by SIGTERM; 129 by SIGHUP
"""

paths_argument = click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


class StateParam(click.ParamType):
    """`--state`: a SQLAlchemy URL or a SQLite file's path, as the ledger's URL."""

    name = "state"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from exportctl.ledger.url import ledger_url

        try:
            return ledger_url(str(value))
        except UsageError as exc:
            self.fail(str(exc).removeprefix("--state: "), param, ctx)


state_option = click.option(
    "--state",
    type=StateParam(),
    default=None,
    metavar="URL|PATH",
    help="The ledger: a SQLAlchemy URL (sqlite:///path or postgresql+psycopg://...), or the "
    "path of a SQLite file. Default: $EXPORTCTL_STATE, else the nearest .exportctl/ folder "
    "from the specs' folder (or this folder) upwards, else ~/.local/state/exportctl/state.db.",
)
only_option = click.option(
    "--only", multiple=True, metavar="NAME", help="Only the spec with this name (repeatable)."
)
from_option = click.option(
    "--from",
    "start",
    metavar="WHEN",
    help="Replace the start of each spec's `time_range` (inclusive): `now-7d`, an ISO-8601 "
    "date or instant. Every spec selected must have a `time_range`.",
)
to_option = click.option(
    "--to",
    "end",
    metavar="WHEN",
    help="Replace the end of each spec's `time_range` (exclusive), as --from.",
)


def engine_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--engine` and `--address`: the engine a run uses, over the spec's `engine`."""
    address = click.option(
        "--address",
        metavar="ADDRESS",
        help="The Dask scheduler to run on (`tcp://host:8786`), in place of `engine.address`; "
        "without either, `dask` starts a cluster on this machine for the run.",
    )
    engine = click.option(
        "--engine",
        "engine_type",
        type=click.Choice(["local", "dask"]),
        help="Run the specs on this engine, whatever their `engine.type` says (`dask` "
        "needs the spec's `engine.partitions`).",
    )
    return engine(address(command))


def print_json(document: Any) -> None:
    click.echo(jsontext.dumps(document))


def fail_usage(problems: list[SpecProblem]) -> NoReturn:
    """Name each problem on stderr and exit 2: nothing ran."""
    render.validation([], problems)
    sys.exit(2)


def located(state: str | None, start: Path | None = None) -> Located:
    from exportctl.ledger.locate import locate

    try:
        return locate(state, start or Path.cwd(), os.environ)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None


def ledger_for(state: str | None, start: Path | None = None) -> Ledger:
    """The ledger a command records in: created if there is none yet."""
    from exportctl.ledger.store import Ledger

    where = located(state, start)
    return Ledger(where.url, located=where.describe())


def existing_ledger(state: str | None, *, quiet: bool = False) -> Ledger | None:
    """The ledger a command tends but never creates; None if there is none.

    Says which ledger it is on stderr, unless `quiet` (--json: stdout is one document)."""
    from exportctl.ledger.store import Ledger

    where = _existing(state, quiet)
    return Ledger(where.url, located=where.describe()) if where else None


def ledger_to_read(state: str | None, *, quiet: bool = False) -> History | None:
    """The ledger a read-only command reads (see ledger/readonly.py), as `existing_ledger`."""
    from exportctl.ledger.readonly import open_to_read

    where = _existing(state, quiet)
    return open_to_read(where.url, located=where.describe()) if where else None


def _existing(state: str | None, quiet: bool) -> Located | None:
    """Where the ledger is, said on stderr unless `quiet`; None for a SQLite file not there."""
    from exportctl.ledger.locate import sqlite_file

    where = located(state)
    file = sqlite_file(where.url)
    if file is not None and not file.exists():
        if not quiet:
            click.echo(f"ledger: {where.describe()}: none there yet, nothing recorded", err=True)
        return None
    if not quiet:
        click.echo(f"ledger: {where.describe()}", err=True)
    return where


def known_run(ledger: History, run_id: str) -> dict[str, Any]:
    run = ledger.run(run_id)
    if run is None:
        raise click.UsageError(f"no run {run_id} in the ledger {ledger.url}")
    return run


def parse_since(text: str | None) -> datetime | None:
    """`--since`: an ISO date or a span back from now (`7d`, `12h`)."""
    if text is None:
        return None
    try:
        return timerange.since(text, utc_now())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
