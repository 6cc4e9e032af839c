"""`exportctl restore` between the command line and the library: run it, print it, exit code.

A folder target takes the files of a `config` export (`apply`); an http(s) URL takes the
settings of an API (`api`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from exportctl.clock import utc_now
from exportctl.errors import ExportctlError, SpecError, UsageError
from exportctl.net.http import safe_url
from exportctl.restore import api, apply
from exportctl.restore.secrets import SecretsMissing


def run(
    export: Path,
    to: Path | str,
    *,
    dry_run: bool,
    secrets_from: str | None,
    env_file: Path | None,
    backup_dir: Path | None,
    marker: str,
    as_json: bool,
    header_env: tuple[str, ...] = (),
) -> int:
    """Restore (or plan to) and print what happened; the exit code. `to` is a folder, or the
    http(s) URL of a running API's settings."""
    try:
        if isinstance(to, str) and api.is_url(to):
            options = (secrets_from, env_file, header_env, marker, backup_dir)
            return _to_api(export, to, dry_run, options, as_json)
        if header_env:
            raise UsageError("--header-env is for restoring to an http(s) URL")
        restore = apply.plan(
            export, Path(to), secrets_from=secrets_from, env_file=env_file, marker=marker
        )
    except ExportctlError as exc:
        return _refused(exc, as_json)
    if not dry_run:
        restore = apply.execute(restore, now=utc_now(), backup_dir=backup_dir)
    _json(restore.to_json()) if as_json else _show(restore)
    return 1 if restore.error else 0


def _to_api(
    export: Path,
    url: str,
    dry_run: bool,
    options: tuple[str | None, Path | None, tuple[str, ...], str, Path | None],
    as_json: bool,
) -> int:
    secrets_from, env_file, header_env, marker, backup_dir = options
    if env_file is not None:
        raise UsageError("--env-file is for restoring into a folder, not to a URL")
    restore = api.plan(export, url, header_env=header_env, secrets_from=secrets_from, marker=marker)
    if dry_run:
        restore.client.close()
    else:
        restore = api.execute(restore, now=utc_now(), backup_dir=backup_dir)
    _json(restore.to_json()) if as_json else _show_api(restore)
    return 1 if restore.error else 0


def _refused(error: ExportctlError, as_json: bool) -> int:
    if as_json:
        _json(_refusal(error))
    else:
        click.echo(f"exportctl: {error}", err=True)
    return error.exit_code


def _refusal(error: ExportctlError) -> dict[str, Any]:
    """Why nothing was restored, for scripts: the schema's problems, the missing secrets."""
    if isinstance(error, SpecError):
        problems = [
            {"file": p.file, "line": p.line, "path": p.path, "message": p.message}
            for p in error.problems
        ]
        return {"status": "invalid", "problems": problems}
    if isinstance(error, SecretsMissing):
        redacted = [
            {"file": r.entry, "key": r.key, "variable": r.variables()[1]} for r in error.missing
        ]
        return {"status": "refused", "error": str(error), "redacted": redacted}
    return {"status": "failed", "error": str(error)}


def _json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2))


def _show(restore: apply.Restore) -> None:
    for item in restore.files:
        if item.diff:
            click.echo(item.diff, nl=False)
    verb = "would restore" if restore.dry_run else "restored"
    for item in restore.files:
        facts = item.to_json()
        same = ", as exported" if facts["identical"] else ""
        checked = "" if restore.dry_run or not item.verified else ", verified"
        click.echo(f"{facts['status']:>9}  {item.target}{same}{checked}")
    changed = sum(f.status != "unchanged" for f in restore.files)
    click.echo(f"{verb} {changed} of {len(restore.files)} file(s) in {restore.target}")
    if restore.backup is not None:
        click.echo(f"replaced files backed up in {restore.backup}")
    _warnings_and_error(restore.warnings, restore.error)


def _show_api(restore: api.ApiRestore) -> None:
    click.echo(restore.diff, nl=False)
    where = safe_url(restore.url)
    verb = "would set" if restore.dry_run else "set"
    checked = ", verified" if restore.verified else ""
    changed = f"{len(restore.changed)} of {len(restore.body)} setting(s)"
    click.echo(f"{verb} {changed} at {where} in one PUT{checked}")
    if restore.backup is not None:
        click.echo(f"the settings before are backed up in {restore.backup}")
    _warnings_and_error(restore.warnings, restore.error)


def _warnings_and_error(warnings: list[str], error: str | None) -> None:
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if error:
        click.echo(f"exportctl: {error}", err=True)
