"""Commands that should be instant import no data library they do not use.

pandas, pyarrow and SQLAlchemy cost about a CPU-second together (bench/startup.py): the CLI
module, `--help`, `validate` (the spec parser reads each component's options from light
modules, as the registry names them), and `history`, `status` and `audit` of a SQLite ledger
must not pay for them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exportctl.ledger.runs import RunRecord
from exportctl.ledger.store import Ledger

HEAVY = ("pandas", "pyarrow", "sqlalchemy", "numpy", "dask", "distributed")


def imported_after(code: str) -> set[str]:
    """The heavy top-level packages in sys.modules once `code` ran in a fresh interpreter."""
    probe = (
        "import json, sys\n"
        f"{code}\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(ran.stdout.splitlines()[-1]))


def test_importing_the_cli_imports_no_data_library() -> None:
    assert imported_after("import exportctl.cli.main") == set()


RUN_MAIN = (
    "from exportctl.cli.main import main\ntry:\n    main({args!r})\nexcept SystemExit:\n    pass"
)


@pytest.mark.parametrize("args", [["--help"], ["validate", "--help"], ["history", "--help"]])
def test_help_imports_no_data_library(args: list[str]) -> None:
    assert imported_after(RUN_MAIN.format(args=args)) == set()


ROOT = Path(__file__).resolve().parents[2]


def test_parsing_specs_imports_no_data_library() -> None:
    assert imported_after("import exportctl.spec.load, exportctl.spec.parse") == set()


def test_validate_imports_no_data_library() -> None:
    """Every example and shipped spec: every source, format, destination and codec."""
    for folder in ("examples", "specs"):  # apart: a few examples share the specs' names
        args = ["validate", str(ROOT / folder)]
        assert imported_after(RUN_MAIN.format(args=args)) == set(), folder


def test_reading_a_sqlite_ledger_imports_no_data_library(tmp_path: Path) -> None:
    """`history`, `status` and `audit` read a SQLite ledger with sqlite3 (ledger/readonly.py)."""
    state = f"sqlite:///{tmp_path / 'state.db'}"
    ledger = Ledger(state)  # a ledger to read, with a run in it
    run = RunRecord(id="run-1", spec="pool", spec_sha256="0" * 64, trigger="cli",
                    destination="/out/pool.csv", started_at=datetime.now(UTC))  # fmt: skip
    ledger.start_run(run)
    ledger.finish_run(run.id, "succeeded", rows=3, bytes_=30)
    ledger.close()
    commands = (
        ["history"],
        ["history", "--json", "--since", "7d", "--spec", "pool"],
        ["status"],
        ["status", "run-1"],
        ["audit", "--limit", "5"],
    )
    for command in commands:
        found = imported_after(RUN_MAIN.format(args=[*command, "--state", state]))
        assert found == set(), command
    # And what they print is read from the ledger (a command that failed imports little too).
    printed = subprocess.run(
        [sys.executable, "-m", "exportctl", "history", "--json", "--state", state],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert [r["run_id"] for r in json.loads(printed.stdout)] == ["run-1"]
