"""`exportctl daemon`: every spec with a `schedule`, on time, until stopped."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from exportctl.cli.common import fail_usage, located, paths_argument, state_option
from exportctl.errors import ExportctlError, SpecError
from exportctl.lang import units

DAEMON_EXIT_CODES = """\b
Exit codes:
  2    an invalid spec, no scheduled spec, --lease under 5s, or the --listen address
       taken (nothing ran)
  130  stopped by SIGINT; 143 by SIGTERM (running exports finished, or were
       interrupted after --grace and recorded so)
"""


_lease_option = click.option(
    "--lease",
    default="60s",
    show_default=True,
    metavar="DURATION",
    callback=lambda _ctx, _param, value: _lease(value),
    help="For several daemons on one ledger: how long this daemon's claim on a tick lasts"
    " without renewal (renewed every quarter of it while the tick runs). A daemon that dies"
    " has its ticks taken over by another once this has passed: shorter takes over sooner,"
    " but a daemon cut off from the ledger for longer (a network partition, a stalled VM)"
    " loses its claim while its run goes on, and the tick may then run twice. At least 5s.",
)


@click.command(epilog=DAEMON_EXIT_CODES)
@paths_argument
@state_option
@click.option(
    "--listen",
    default="127.0.0.1:9464",
    show_default=True,
    metavar="HOST:PORT",
    help="Serve the status page (/), the run API (/api/v1), /healthz and Prometheus /metrics"
    " here (loopback by default); `off` for none. Beyond loopback, $EXPORTCTL_API_TOKEN must"
    " hold the bearer token that starting runs through the API needs.",
)
@click.option(
    "--max-parallel",
    type=click.IntRange(1),
    default=4,
    show_default=True,
    help="Worker processes: exports running at once.",
)
@click.option(
    "--grace",
    type=click.FloatRange(0),
    default=30,
    show_default=True,
    metavar="SECONDS",
    help="On SIGTERM/SIGINT, how long running exports may take to finish before they are "
    "interrupted (files discarded, runs recorded as interrupted).",
)
@_lease_option
def daemon(
    paths: tuple[Path, ...],
    state: str,
    listen: str,
    max_parallel: int,
    grace: float,
    lease: timedelta,
) -> None:
    """Run every spec that has a `schedule`, on time, until SIGTERM or SIGINT.

    A run still going at its next tick is not started twice (the tick is recorded as
    skipped); ticks missed while the daemon was down follow each spec's
    `schedule.catch_up`. SIGHUP, or a change to the spec files, reloads them; an
    invalid spec is logged and its previous version keeps running. Logs are JSON
    lines on stderr. Several daemons may share one ledger (PostgreSQL, or a SQLite file
    on one host): each tick is claimed in it, and runs once, by one of them.
    """
    from exportctl.daemon.service import parse_listen, run_daemon

    try:
        url = located(state, paths[0]).url
        code = run_daemon(paths, url, parse_listen(listen), max_parallel, grace, lease)
    except SpecError as exc:
        fail_usage(exc.problems)
    except ExportctlError as exc:  # no scheduled spec, the address taken
        click.echo(f"exportctl: {exc}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(code)


def _lease(value: Any) -> timedelta:
    """`--lease 60s` as a length of time."""
    if isinstance(value, timedelta):
        return value
    try:
        return units.duration(str(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
