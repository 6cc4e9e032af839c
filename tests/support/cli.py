"""The CLI run in-process (mostly with `--json`), and the specs the tests give it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import yaml
from click.testing import CliRunner, Result

from exportctl.cli.main import main


def run_cli(*args: str) -> tuple[int, Any, str]:
    """Exit code, the parsed `--json` output (None when there is none), and all it printed."""
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    out = json.loads(result.stdout) if result.stdout.strip() else None
    return result.exit_code, out, result.output


def applied(spec: Path) -> dict[str, Any]:
    """`apply` of one spec, which must succeed: its run's summary."""
    code, (done,), _ = run_cli("apply", str(spec))
    assert (code, done["status"]) == (0, "succeeded"), done["error"]
    return cast(dict[str, Any], done)


def write_spec(folder: Path, name: str, source: dict[str, Any], **rest: Any) -> Path:
    """FOLDER/NAME.yaml: `source` exported as JSON lines to out/NAME.jsonl, unless `rest` says."""
    doc = {
        "version": 1,
        "name": name,
        "source": source,
        "format": "jsonl",
        "destination": f"out/{name}.jsonl",
        **rest,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def cli(*args: object) -> Result:
    """The command line, in this process; an exception is raised, not caught."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def apply(spec: Path, *options: str, expect: int = 0) -> dict[str, Any]:
    """`apply --json` of one spec, which exits with `expect`: its run's summary."""
    result = cli("apply", spec, "--json", *options)
    assert result.exit_code == expect, result.output
    (run,) = json.loads(result.stdout)
    return run


def apply_outcome(spec: Path) -> dict[str, Any]:
    """`apply --json` of one spec, whatever its exit: its summary (empty where there is
    none) with `exit_code` and `stderr`."""
    result = CliRunner().invoke(main, ["apply", str(spec), "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    summary = json.loads(result.stdout)[0] if result.stdout.strip() else {}
    return cast(dict[str, Any], summary) | {"exit_code": result.exit_code, "stderr": result.stderr}
