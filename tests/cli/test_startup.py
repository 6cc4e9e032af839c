"""Commands that should be instant import no data library they do not use.

pandas, pyarrow and SQLAlchemy cost about a CPU-second together (bench/startup.py): the CLI
module, `--help`, `validate` (the spec parser reads each component's options from light
modules, as the registry names them) and `history` (which needs SQLAlchemy Core only) must
not pay for them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from exportctl.ledger import Ledger

HEAVY = ("pandas", "pyarrow", "sqlalchemy", "numpy")


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


def test_history_needs_sqlalchemy_only(tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    Ledger(state).close()  # a ledger to read
    for command in (["history"], ["status"], ["history", "--json", "--since", "7d"]):
        found = imported_after(RUN_MAIN.format(args=[*command, "--state", state]))
        assert found == {"sqlalchemy"}, command
