"""The command line: parse arguments, call the library, print for people or for scripts.

Exit codes: 0 every export succeeded; 1 an export failed; 2 an invalid spec or
usage; 130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import click

from exportctl import __version__, jsontext, output, timerange
from exportctl.clock import utc_now
from exportctl.errors import ExportctlError, Interrupted, SpecError, SpecProblem, UsageError

if TYPE_CHECKING:
    from exportctl.ledger import Ledger
    from exportctl.ledger.locate import Located
    from exportctl.plan import ExportPlan
    from exportctl.spec.model import ExportSpec

# The rest is imported in the commands that use it: pandas, pyarrow and SQLAlchemy would
# cost every command, `--help` included, a second of CPU (tests/test_startup.py).

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


@main.command(epilog=EXIT_CODES)
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
    specs, problems = _load(paths, strict_env=strict_env)
    if as_json:
        _print_json(
            {
                "valid": [s.name for s in specs],
                "specs": [_spec_env_json(s) for s in specs],
                "problems": [_problem_json(p) for p in problems],
            }
        )
    else:
        output.validation(specs, problems)
    sys.exit(2 if problems else 0)


@main.command(epilog=EXIT_CODES)
@paths_argument
@only_option
@from_option
@to_option
@json_option
@click.option(
    "--count/--no-count",
    default=True,
    show_default=True,
    help="Ask each source how many rows the export would hold.",
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
    from exportctl import run_output

    plans = _plans(paths, only, start=start, end=end, strict_env=False)
    _warn_unset(p.spec for p in plans)
    described = [run_output.describe_plan(p, count=count) for p in plans]
    if as_json:
        _print_json(described)
    else:
        run_output.plans(described)


@main.command(epilog=EXIT_CODES)
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
) -> None:
    """Run the exports the specs describe, recording each run in the ledger.

    Refuses to start (exit 2), naming each, when a variable a spec needs is unset."""
    from exportctl import run_output
    from exportctl.jobs import Options
    from exportctl.ledger import Ledger

    plans = _plans(paths, only, start=start, end=end, strict_env=not dry_run)
    if dry_run:
        _warn_unset(p.spec for p in plans)
        described = [run_output.describe_plan(p, count=False) for p in plans]
        _print_json(described) if as_json else run_output.plans(described)
        return
    located = _located(state, paths[0])
    _refuse_writing_the_ledger(plans, located.url)
    ledger = Ledger(located.url, located=located.describe())
    options = Options(full=full, wait=wait)
    with _signals_interrupt():
        specs = [p.spec for p in plans]
        results = run_output.run_all(
            specs,
            ledger,
            options,
            parallel=jobs,
            show_progress=not as_json,
            now=plans[0].now if plans else None,  # the names `plan` and --dry-run showed
        )
    if as_json:
        _print_json([r.to_json() for r in results])
    else:
        output.summary(results)
    sys.exit(1 if any(r.status != "succeeded" for r in results) else 0)


@main.command(epilog=EXIT_CODES)
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
    ledger = _existing_ledger(state, quiet=as_json)
    runs = ledger.history_as_seen(spec_name, _since(since), status, limit) if ledger else []
    _print_json([jsontext.run(r) for r in runs]) if as_json else output.history(runs)


@main.command(epilog=EXIT_CODES)
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
    ledger = _existing_ledger(state, quiet=as_json)
    events = (
        ledger.audit_events(run_id=run_id, spec=spec_name, since=_since(since), limit=limit)
        if ledger
        else []
    )
    events = [{**e, "detail": json.loads(e["detail"] or "{}")} for e in events]
    _print_json(events) if as_json else output.audit(events)


@main.command(epilog=EXIT_CODES)
@click.argument("run_id", required=False)
@state_option
@json_option
def status(run_id: str | None, state: str, as_json: bool) -> None:
    """Show running exports (or one run): rows so far, rows/s, percent and ETA."""
    from exportctl.ledger.progress import describe_progress

    ledger = _existing_ledger(state, quiet=as_json)
    if ledger is None and run_id:
        raise click.UsageError(f"no run {run_id}: there is no ledger yet")
    # Decided here, not only at the next apply: a killed run shows as interrupted at once.
    if ledger is None:
        runs = []
    elif run_id:
        runs = [ledger.as_seen(_known_run(ledger, run_id))]
    else:
        runs = ledger.history_as_seen(status="running")
    described = [describe_progress(r) for r in runs]
    _print_json(described) if as_json else output.progress(described)


@main.command(epilog=EXIT_CODES)
@click.argument("run_id")
@state_option
@json_option
def verify(run_id: str, state: str, as_json: bool) -> None:
    """Re-read every file a run wrote and check its size and sha256."""
    from exportctl.destinations.recorded import restored
    from exportctl.verify import verify_files

    ledger = _existing_ledger(state, quiet=as_json)
    if ledger is None:
        raise click.UsageError(f"no run {run_id}: there is no ledger yet")
    run = _known_run(ledger, run_id)
    # The store the run wrote to, as its spec located it (an S3 endpoint), spec file or not.
    checks = verify_files(run["files"], restored(run["destination"], run["destination_options"]))
    _print_json(checks) if as_json else output.verification(run_id, checks)
    sys.exit(0 if checks and all(c["ok"] for c in checks) else 1)


@main.command(epilog=EXIT_CODES)
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
    from exportctl.prune import prune_specs

    specs = [p.spec for p in _plans(paths, only, strict_env=False)]  # deletes need no secret
    pruned, skipped = prune_specs(specs, _ledger(state, paths[0]), utc_now(), dry_run=dry_run)
    _print_json([p.to_json() for p in pruned]) if as_json else output.pruned(pruned, dry_run)
    for message in skipped:
        click.echo(f"exportctl: {message}", err=True)
    sys.exit(1 if skipped or any(p.error for p in pruned) else 0)


DAEMON_EXIT_CODES = """\b
Exit codes:
  2    an invalid spec, no scheduled spec, or the --listen address taken (nothing ran)
  130  stopped by SIGINT; 143 by SIGTERM (running exports finished, or were
       interrupted after --grace and recorded so)
"""


@main.command(epilog=DAEMON_EXIT_CODES)
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
def daemon(
    paths: tuple[Path, ...], state: str, listen: str, max_parallel: int, grace: float
) -> None:
    """Run every spec that has a `schedule`, on time, until SIGTERM or SIGINT.

    A run still going at its next tick is not started twice (the tick is recorded as
    skipped); ticks missed while the daemon was down follow each spec's
    `schedule.catch_up`. SIGHUP, or a change to the spec files, reloads them; an
    invalid spec is logged and its previous version keeps running. Logs are JSON
    lines on stderr.
    """
    from exportctl.service import parse_listen, run_daemon

    try:
        url = _located(state, paths[0]).url
        code = run_daemon(paths, url, parse_listen(listen), max_parallel, grace)
    except SpecError as exc:
        _fail_usage(exc.problems)
    except ExportctlError as exc:  # no scheduled spec, the address taken
        click.echo(f"exportctl: {exc}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(code)


@main.group()
def watermark() -> None:
    """Incremental watermarks: where each incremental spec's next run starts."""


@watermark.command("show", epilog=EXIT_CODES)
@click.argument("spec_name", metavar="SPEC")
@state_option
@json_option
def watermark_show(spec_name: str, state: str, as_json: bool) -> None:
    """Show the watermark of the spec named SPEC."""
    ledger = _existing_ledger(state, quiet=as_json)
    mark = ledger.watermark(spec_name) if ledger else None
    if as_json:
        _print_json(mark)
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
    ledger = _existing_ledger(state)
    found = ledger.reset_watermark(spec_name) if ledger else False
    click.echo(f"watermark of `{spec_name}` reset" if found else f"`{spec_name}` had no watermark")


@main.command(epilog=EXIT_CODES)
@click.argument("export", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The configuration folder to restore into (paths in EXPORT are relative to it).",
)
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
    to: Path,
    dry_run: bool,
    secrets_from: str | None,
    env_file: Path | None,
    backup_dir: Path | None,
    marker: str,
    as_json: bool,
) -> None:
    """Write the configuration files of EXPORT (a `config` source's YAML or JSON export) back.

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
        )
    )


@main.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write it to FILE instead of standard output.",
)
@click.option(
    "--draft",
    type=click.Choice(["07", "2020-12"]),
    default="07",
    show_default=True,
    help="07 for editors (the YAML language server); 2020-12 is what exportctl checks with.",
)
def schema(out: Path | None, draft: str) -> None:
    """Print the JSON Schema of export specs, for editors and CI."""
    from exportctl.spec import editor_schema
    from exportctl.spec.schema import export_spec_schema_text

    text = editor_schema.text() if draft == "07" else export_spec_schema_text()
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.UsageError(f"cannot write {out}: {exc.strerror}") from None


@main.group()
def demo() -> None:
    """The embedded demo system."""


@demo.command("init", epilog=EXIT_CODES)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--proxies", default=2000, show_default=True, help="Proxies in the pool.")
@click.option("--metrics", default=20000, show_default=True, help="Health checks (and samples).")
@click.option("--log-lines", default=5000, show_default=True, help="Log lines across the files.")
@click.option("--seed", default=7, show_default=True, help="Same seed, same data.")
@click.option("--force", is_flag=True, help="Replace a demo already in DIRECTORY.")
def demo_init(
    directory: Path, proxies: int, metrics: int, log_lines: int, seed: int, force: bool
) -> None:
    """Create a demo proxy-rotation system (SQLite pool, logs, config, specs) in DIRECTORY."""
    from exportctl.demo import init_demo

    summary = init_demo(
        directory, proxies=proxies, metrics=metrics, log_lines=log_lines, seed=seed, force=force
    )
    output.demo_summary(summary)


def _located(state: str | None, start: Path | None = None) -> Located:
    from exportctl.ledger.locate import locate

    try:
        return locate(state, start or Path.cwd(), os.environ)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None


def _ledger(state: str | None, start: Path | None = None) -> Ledger:
    """The ledger a command records in: created if there is none yet."""
    from exportctl.ledger import Ledger

    located = _located(state, start)
    return Ledger(located.url, located=located.describe())


def _existing_ledger(state: str | None, *, quiet: bool = False) -> Ledger | None:
    """The ledger a read-only command reads, never created by it; None if there is none.

    Says which ledger it is on stderr, unless `quiet` (--json: stdout is one document)."""
    from exportctl.ledger import Ledger
    from exportctl.ledger.locate import sqlite_file

    located = _located(state)
    file = sqlite_file(located.url)
    if file is not None and not file.exists():
        if not quiet:
            click.echo(f"ledger: {located.describe()}: none there yet, nothing recorded", err=True)
        return None
    if not quiet:
        click.echo(f"ledger: {located.describe()}", err=True)
    return Ledger(located.url, located=located.describe())


def _known_run(ledger: Ledger, run_id: str) -> dict[str, Any]:
    run = ledger.run(run_id)
    if run is None:
        raise click.UsageError(f"no run {run_id} in the ledger {ledger.url}")
    return run


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return timerange.since(text, utc_now())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


def _load(
    paths: tuple[Path, ...], *, strict_env: bool = True
) -> tuple[list[ExportSpec], list[SpecProblem]]:
    from exportctl.spec.load import load_specs

    try:
        return load_specs(paths, strict_env=strict_env)
    except SpecError as exc:
        return [], exc.problems


def _warn_unset(specs: Iterable[ExportSpec]) -> None:
    """`plan` renders without the secrets, and says which ones `apply` will need."""
    for spec in specs:
        for problem in spec.unset_env:
            click.echo(f"warning: {problem} (needed by apply)", err=True)


def _spec_env_json(spec: ExportSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "file": str(spec.path),
        "env_needed": list(spec.env_names),
        "env_unset": list(spec.env_unset),
    }


def _refuse_writing_the_ledger(plans: list[ExportPlan], url: str) -> None:
    """A destination must not be the SQLite ledger (or its journal) either."""
    from exportctl import inputs
    from exportctl.plan import spec_error

    ledger = [(path, "the ledger") for path in inputs.sqlite_files(url, Path.cwd())]
    problems = []
    for plan in plans:
        what = inputs.overwritten(plan.spec, plan.destination, ledger)
        if what is not None:
            message = f"the destination {plan.destination} is {what}: an export never overwrites it"
            problems += spec_error(plan.spec, "$.destination.uri", message).problems
    if problems:
        _fail_usage(problems)


def _plans(
    paths: tuple[Path, ...],
    only: tuple[str, ...],
    *,
    start: str | None = None,
    end: str | None = None,
    strict_env: bool = True,
) -> list[ExportPlan]:
    from exportctl.plan import compile_plan, new_run_id

    specs, problems = _load(paths, strict_env=strict_env)
    unknown = set(only) - {s.name for s in specs}
    if problems:
        _fail_usage(problems)
    if unknown:
        raise click.UsageError(f"no spec named {', '.join(sorted(unknown))}")
    now = utc_now()
    plans, problems = [], []
    for spec in specs:
        if only and spec.name not in only:
            continue
        if start is not None or end is not None:
            spec = _with_range(spec, start, end)
        try:
            plans.append(compile_plan(spec, now=now, run_id=new_run_id(now)))
        except SpecError as exc:
            problems += exc.problems
    if problems:
        _fail_usage(problems)
    return plans


def _with_range(spec: ExportSpec, start: str | None, end: str | None) -> ExportSpec:
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


def _fail_usage(problems: list[SpecProblem]) -> NoReturn:
    output.validation([], problems)
    sys.exit(2)


def _problem_json(problem: SpecProblem) -> dict[str, Any]:
    return {
        "file": problem.file,
        "line": problem.line,
        "path": problem.path,
        "message": problem.message,
    }


def _print_json(document: Any) -> None:
    click.echo(jsontext.dumps(document))


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


def run() -> None:
    """Console entry point: user-facing errors become messages and exit codes."""
    try:
        main(standalone_mode=True)
    except Interrupted as exc:
        click.echo(f"exportctl: {exc}; nothing partial was left behind", err=True)
        sys.exit(128 + exc.signum)
    except ExportctlError as exc:
        click.echo(f"exportctl: {exc}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: its type and text, the traceback only with --debug
        from exportctl.runner import failure_message
        from exportctl.secrecy import debugging

        click.echo(f"exportctl: {failure_message(exc)}", err=True)
        if not debugging():
            click.echo("exportctl: run with --debug for the traceback", err=True)
        sys.exit(1)
