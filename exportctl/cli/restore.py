"""`exportctl restore`: a `config` export's files, or an API's settings, written back."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from exportctl.cli.common import EXIT_CODES, json_option


def _target(command: Callable[..., None]) -> Callable[..., None]:
    """--to and --header-env: the folder or API the restore writes to."""
    command = click.option(
        "--header-env",
        multiple=True,
        metavar="NAME=VARIABLE",
        help="With a URL: send header NAME with the value of environment VARIABLE "
        "(`X-API-Key=PROXYWHIRL_API_KEY`). Repeatable.",
    )(command)
    return click.option(
        "--to",
        "to",
        required=True,
        help="The configuration folder to restore into (paths in EXPORT are relative to it), or "
        "the http(s) URL of a running API's settings (e.g. http://HOST:PORT/api/v1/config).",
    )(command)


@click.command(epilog=EXIT_CODES)
@click.argument("export", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_target
@click.option("--dry-run", is_flag=True, help="Show the diff and what would change; write nothing.")
@click.option(
    "--secrets-from",
    metavar="env|FILE",
    help="Secrets for redacted values: `env` reads EXPORTCTL_SECRET_<NAME> variables; FILE is "
    "a YAML, JSON or .env file mapping `file:key` or `key` names to values.",
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the export's environment variables to this .env file (else they are skipped).",
)
@click.option(
    "--backup-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the timestamped folder of replaced files goes. Default: beside --to.",
)
@click.option(
    "--marker", default="***", show_default=True, help="The mask the export's `redact` wrote."
)
@json_option
def restore(
    export: Path,
    to: str,
    header_env: tuple[str, ...],
    dry_run: bool,
    secrets_from: str | None,
    env_file: Path | None,
    backup_dir: Path | None,
    marker: str,
    as_json: bool,
) -> None:
    """Write the configuration files of EXPORT (a `config` source's YAML or JSON export) back,
    or the settings of an API's export (`http_json` with `record:`) to its URL in one PUT.

    Checks EXPORT against schemas/config-export.schema.json, shows a diff against the files
    in --to, copies the files it replaces into a timestamped backup folder, writes each file
    atomically in its format (keeping comments, key order and layout of existing files) and
    reads each back. Refuses, naming them, redacted values without a secret.
    """
    from exportctl.restore import command as restore_command  # its parsers cost every command

    sys.exit(
        restore_command.run(
            export,
            to,
            dry_run=dry_run,
            secrets_from=secrets_from,
            env_file=env_file,
            backup_dir=backup_dir,
            marker=marker,
            as_json=as_json,
            header_env=header_env,
        )
    )
