"""A plain install has no PostgreSQL driver: exportctl says which extra installs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PG = "postgresql+psycopg://exporter@127.0.0.1/test"
SPEC = f"""\
version: 1
name: pg
source: {{type: sql, url: "{PG}"}}
query: {{table: proxies}}
format: csv
destination: out.csv
"""
HINT = (
    "needs the Python module `psycopg`, which is not installed: pip install 'exportctl[postgres]'"
)


def without_psycopg(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """exportctl as a plain install runs it: `import psycopg` fails (None in sys.modules is
    Python's own way to make an import raise ModuleNotFoundError)."""
    code = (
        "import sys\n"
        "sys.modules['psycopg'] = None\n"
        "from exportctl.cli.main import run\n"
        f"sys.argv = ['exportctl', *{args!r}]\n"
        "run()"
    )
    env = {"PATH": "/usr/bin:/bin", "EXPORTCTL_STATE": str(cwd / "state.db")}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    "args",
    [["history", "--state", PG], ["apply", "pg.yaml"], ["plan", "pg.yaml"]],
    ids=["ledger", "source", "plan"],
)
def test_a_missing_driver_names_the_extra_to_install(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "pg.yaml").write_text(SPEC)
    ran = without_psycopg(args, tmp_path)
    shown = " ".join((ran.stdout + ran.stderr).split())
    assert HINT in shown, shown
    assert "internal error" not in shown and "Traceback" not in shown
