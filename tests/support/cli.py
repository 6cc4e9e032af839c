"""The CLI run in-process with `--json`, as the destination tests drive it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from click.testing import CliRunner

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
