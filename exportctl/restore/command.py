"""`exportctl restore` between the command line and the library: run it, print it, exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from exportctl.errors import ExportctlError, SpecError
from exportctl.plan import utc_now
from exportctl.restore import apply
from exportctl.restore.secrets import SecretsMissing


def run(
    export: Path,
    to: Path,
    *,
    dry_run: bool,
    secrets_from: str | None,
    env_file: Path | None,
    backup_dir: Path | None,
    marker: str,
    as_json: bool,
) -> int:
    """Restore (or plan to) and print what happened; the exit code."""
    try:
        restore = apply.plan(
            export, to, secrets_from=secrets_from, env_file=env_file, marker=marker
        )
    except ExportctlError as exc:
        if as_json:
            _json(_refusal(exc))
        else:
            click.echo(f"exportctl: {exc}", err=True)
        return exc.exit_code
    if not dry_run:
        restore = apply.execute(restore, now=utc_now(), backup_dir=backup_dir)
    _json(restore.to_json()) if as_json else _show(restore)
    return 1 if restore.error else 0


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
    for warning in restore.warnings:
        click.echo(f"warning: {warning}", err=True)
    if restore.error:
        click.echo(f"exportctl: {restore.error}", err=True)
