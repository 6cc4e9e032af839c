"""The commands that read or tend the ledger: history, audit, status, verify, prune, watermark."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from exportctl.cli import loading, render
from exportctl.cli.common import (
    EXIT_CODES,
    existing_ledger,
    json_option,
    known_run,
    ledger_for,
    ledger_to_read,
    only_option,
    parse_since,
    paths_argument,
    print_json,
    state_option,
)
from exportctl.clock import utc_now
from exportctl.values import jsontext


@click.command(epilog=EXIT_CODES)
@state_option
@json_option
@click.option("--spec", "spec_name", metavar="NAME", help="Only runs of this spec.")
@click.option(
    "--since", metavar="WHEN", help="Only runs started since: an ISO date or `7d`, `12h`."
)
@click.option(
    "--status",
    type=click.Choice(["running", "succeeded", "failed", "interrupted", "skipped"]),
    help="Only runs that ended so.",
)
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
def history(
    state: str,
    as_json: bool,
    spec_name: str | None,
    since: str | None,
    status: str | None,
    limit: int,
) -> None:
    """List recorded runs, newest first."""
    ledger = ledger_to_read(state, quiet=as_json)
    runs = ledger.history_as_seen(spec_name, parse_since(since), status, limit) if ledger else []
    print_json([jsontext.run(r) for r in runs]) if as_json else render.history(runs)


@click.command(epilog=EXIT_CODES)
@state_option
@json_option
@click.option("--spec", "spec_name", metavar="NAME", help="Only events of this spec.")
@click.option("--run", "run_id", metavar="RUN_ID", help="Only events of this run.")
@click.option("--since", metavar="WHEN", help="Only events since: an ISO date or `7d`, `12h`.")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
def audit(
    state: str | None,
    as_json: bool,
    spec_name: str | None,
    run_id: str | None,
    since: str | None,
    limit: int,
) -> None:
    """List the audit trail (who ran what, when; locks broken, files deleted), oldest first."""
    ledger = ledger_to_read(state, quiet=as_json)
    events = (
        ledger.audit_events(run_id=run_id, spec=spec_name, since=parse_since(since), limit=limit)
        if ledger
        else []
    )
    events = [{**e, "detail": json.loads(e["detail"] or "{}")} for e in events]
    print_json(events) if as_json else render.audit(events)


@click.command(epilog=EXIT_CODES)
@click.argument("run_id", required=False)
@state_option
@json_option
def status(run_id: str | None, state: str, as_json: bool) -> None:
    """Show running exports (or one run): rows so far, rows/s, percent and ETA."""
    from exportctl.ledger.progress import describe_progress

    ledger = ledger_to_read(state, quiet=as_json)
    if ledger is None and run_id:
        raise click.UsageError(f"no run {run_id}: there is no ledger yet")
    # Decided here, not only at the next apply: a killed run shows as interrupted at once.
    if ledger is None:
        runs = []
    elif run_id:
        runs = [ledger.as_seen(known_run(ledger, run_id))]
    else:
        runs = ledger.history_as_seen(status="running")
    described = [describe_progress(r) for r in runs]
    print_json(described) if as_json else render.progress(described)


@click.command(epilog=EXIT_CODES)
@click.argument("run_id")
@state_option
@json_option
def verify(run_id: str, state: str, as_json: bool) -> None:
    """Re-read every file a run wrote and check its size and sha256."""
    from exportctl.jobs.recorded import restored
    from exportctl.jobs.verify import verify_files

    ledger = ledger_to_read(state, quiet=as_json)
    if ledger is None:
        raise click.UsageError(f"no run {run_id}: there is no ledger yet")
    run = known_run(ledger, run_id)
    # The store the run wrote to, as its spec located it (an S3 endpoint), spec file or not.
    checks = verify_files(run["files"], restored(run["destination"], run["destination_options"]))
    print_json(checks) if as_json else render.verification(run_id, checks)
    sys.exit(0 if checks and all(c["ok"] for c in checks) else 1)


@click.command(epilog=EXIT_CODES)
@paths_argument
@only_option
@json_option
@state_option
@click.option("--dry-run", is_flag=True, help="List what retention would delete; delete nothing.")
def prune(
    paths: tuple[Path, ...], only: tuple[str, ...], as_json: bool, state: str, dry_run: bool
) -> None:
    """Apply each spec's `retention` now, as `apply` does after every successful run.

    Deletes only files the ledger records as written by the spec's succeeded runs,
    never the newest, and lists each. Exits 1 if a deletion failed or a spec was
    skipped because a run held it.
    """
    from exportctl.jobs.prune import prune_specs

    specs = [p.spec for p in loading.compiled(paths, only, strict_env=False)]  # no secret
    ledger = ledger_for(state, paths[0])
    pruned, skipped = prune_specs(specs, ledger, utc_now(), dry_run=dry_run)
    print_json([p.to_json() for p in pruned]) if as_json else render.pruned(pruned, dry_run)
    for message in skipped:
        click.echo(f"exportctl: {message}", err=True)
    sys.exit(1 if skipped or any(p.error for p in pruned) else 0)


@click.group()
def watermark() -> None:
    """Incremental watermarks: where each incremental spec's next run starts."""


@watermark.command("show", epilog=EXIT_CODES)
@click.argument("spec_name", metavar="SPEC")
@state_option
@json_option
def watermark_show(spec_name: str, state: str, as_json: bool) -> None:
    """Show the watermark of the spec named SPEC."""
    ledger = existing_ledger(state, quiet=as_json)
    mark = ledger.watermark(spec_name) if ledger else None
    if as_json:
        print_json(mark)
    elif mark is None:
        click.echo(f"`{spec_name}` has no watermark: its next run exports every row")
    else:
        click.echo(
            f"{spec_name}: after {mark['position']} (run {mark['run_id']}, "
            f"{mark['updated_at']:%Y-%m-%d %H:%M:%S} UTC)"
        )


@watermark.command("reset", epilog=EXIT_CODES)
@click.argument("spec_name", metavar="SPEC")
@state_option
def watermark_reset(spec_name: str, state: str) -> None:
    """Forget the watermark of SPEC: its next run exports every row again."""
    ledger = existing_ledger(state)
    found = ledger.reset_watermark(spec_name) if ledger else False
    click.echo(f"watermark of `{spec_name}` reset" if found else f"`{spec_name}` had no watermark")
