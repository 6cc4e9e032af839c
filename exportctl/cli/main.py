"""The command line: the `exportctl` group, its commands, and the console entry point.

Each command lives in the module of its area (apply, ledger, daemon, restore, schema,
demo); what they share is in exportctl.cli.common.

Exit codes: 0 every export succeeded; 1 an export failed; 2 an invalid spec or
usage; 130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP.
"""

from __future__ import annotations

import os
import sys

import click

from exportctl import __version__
from exportctl.cli import apply, daemon, demo, ledger, quick_exit, restore, schema
from exportctl.cli.common import EXIT_CODES
from exportctl.errors import ExportctlError, Interrupted


@click.group(epilog=EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="exportctl")
@click.option(
    "--debug",
    is_flag=True,
    help="Print each failure's traceback to stderr (secrets scrubbed); as EXPORTCTL_DEBUG=1.",
)
def main(debug: bool) -> None:
    """Declarative exports of a proxy-rotation system's data.

    Specs are YAML files (one export each) validated against
    schemas/export-spec.schema.json. PATH arguments are spec files or folders
    of them.
    """
    if debug:  # in the environment, so the daemon's worker processes inherit it
        os.environ["EXPORTCTL_DEBUG"] = "1"


for command in (
    apply.validate,
    apply.plan,
    apply.apply,
    ledger.history,
    ledger.audit,
    ledger.status,
    ledger.verify,
    ledger.prune,
    ledger.watermark,
    daemon.daemon,
    restore.restore,
    schema.schema,
    demo.demo,
):
    main.add_command(command)


def run() -> None:
    """Console entry point: user-facing errors become messages and exit codes; the
    process then ends without the interpreter's teardown (cli/quick_exit.py)."""
    quick_exit.install()
    try:
        _run()
    except SystemExit as exc:
        quick_exit.record(exc.code)
        raise


def _run() -> None:
    try:
        main(standalone_mode=True)
    except Interrupted as exc:
        click.echo(f"exportctl: {exc}; nothing partial was left behind", err=True)
        sys.exit(128 + exc.signum)
    except ExportctlError as exc:
        click.echo(f"exportctl: {exc}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: its type and text, the traceback only with --debug
        from exportctl.run.runner import failure_message
        from exportctl.secrecy import debugging

        click.echo(f"exportctl: {failure_message(exc)}", err=True)
        if not debugging():
            click.echo("exportctl: run with --debug for the traceback", err=True)
        sys.exit(1)
