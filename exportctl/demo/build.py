"""`exportctl demo init`: a small, deterministic copy of a proxywhirl installation's data.

Laid out as proxywhirl 0.3.3 leaves an installation: system.db (SQLiteStorage's
proxy_identities, proxy_statuses, validation_results), cache/ (L2 JSONL shards, L3
cache_entries and health_history), logs/ (loguru JSON, and logfmt in logs/logfmt/),
config/, pyproject.toml ([tool.proxywhirl]) and /metrics scrapes (metrics/, metrics.prom).
warehouse.db is NOT proxywhirl's: long-format metric_samples and request_logs tables, as
an analytics pipeline might fill them, for the examples of reshaping and time ranges.

It holds what real proxywhirl data holds and exporters trip over: credentials that
need percent-encoding, IPv6 hosts, NULLs beside empty strings, control characters,
and floats that need all 17 significant digits to survive a round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from exportctl.demo.cache import clear_scrapes, write_cache, write_scrapes
from exportctl.demo.database import write_database
from exportctl.demo.events import request_events
from exportctl.demo.logs import write_logs
from exportctl.demo.pool import MAX_PROXIES
from exportctl.demo.settings import write_config, write_pyproject
from exportctl.demo.times import END_US
from exportctl.errors import UsageError
from exportctl.spec import editor_schema

DEMO_ENTRIES = (
    *("system.db", "warehouse.db", "cache", "logs", "config", "pyproject.toml", "metrics"),
    *("metrics.prom", "specs", "schemas"),
)


@dataclass(frozen=True)
class DemoSummary:
    """What `init_demo` wrote, and how much of it."""

    target: Path
    database: Path
    log_files: tuple[Path, ...]
    config_files: tuple[Path, ...]
    spec_files: tuple[Path, ...]
    proxies: int
    validation_results: int
    metric_samples: int
    request_logs: int
    log_lines: int
    health_checks: int = 0
    cache_entries: int = 0
    #: The same records as `log_files`, in proxywhirl's logfmt template.
    logfmt_file: Path | None = None


def init_demo(
    target: Path,
    *,
    proxies: int = 2000,
    metrics: int = 20000,
    log_lines: int = 5000,
    seed: int = 7,
    force: bool = False,
) -> DemoSummary:
    """Write system.db, logs/, config/, specs/ and schemas/ into `target`; same seed, same bytes."""
    _check_arguments(target, proxies, metrics, log_lines, force)
    target.mkdir(parents=True, exist_ok=True)
    # The demo's own ledger: `apply DIR/specs` and commands run in DIR find it.
    (target / ".exportctl").mkdir(mode=0o700, exist_ok=True)
    facts = write_database(target, seed, proxies, metrics, log_lines)
    checks = write_cache(target / "cache", seed, facts.cached, metrics, END_US)
    clear_scrapes(target)
    write_scrapes(target, seed, proxies, facts.healthy, END_US)
    write_pyproject(target)
    logs = write_logs(target / "logs", request_events(seed, log_lines, facts.log_urls))
    return DemoSummary(
        target=target,
        database=target / "system.db",
        log_files=logs[:-1],
        config_files=write_config(target / "config", seed),
        spec_files=_copy_specs(target / "specs", target / "schemas"),
        proxies=proxies,
        validation_results=facts.validations,
        metric_samples=metrics,
        request_logs=log_lines,
        log_lines=log_lines,
        health_checks=checks,
        cache_entries=len(facts.cached),
        logfmt_file=logs[-1],
    )


def _check_arguments(target: Path, proxies: int, metrics: int, lines: int, force: bool) -> None:
    if not 1 <= proxies <= MAX_PROXIES:
        raise UsageError(f"--proxies must be between 1 and {MAX_PROXIES:,}, not {proxies:,}")
    if metrics < 0 or lines < 0:
        raise UsageError("--metrics and --log-lines cannot be negative")
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise UsageError(
            f"{target} is not empty. Choose an empty or new folder, or pass --force to "
            f"overwrite the demo's own files there ({', '.join(DEMO_ENTRIES)}); "
            "nothing else in it is touched."
        )


def _copy_specs(specs_dir: Path, schemas_dir: Path) -> tuple[Path, ...]:
    """The demo's specs, and beside them the editor schema their first line points at."""
    schemas_dir.mkdir(parents=True, exist_ok=True)
    (schemas_dir / editor_schema.FILE_NAME).write_text(editor_schema.text(), encoding="utf-8")
    specs_dir.mkdir(parents=True, exist_ok=True)
    packaged = resources.files("exportctl.demo").joinpath("specs")
    written = []
    for spec in sorted(packaged.iterdir(), key=lambda p: p.name):
        if spec.name.endswith(".yaml"):
            copy = specs_dir / spec.name
            copy.write_bytes(spec.read_bytes())
            written.append(copy)
    return tuple(written)
