"""The size limits of CONTRIBUTING.md, checked: a module of `exportctl/` holds at most 400
lines and a function or method at most 60, so each stays readable in one sitting.

The message lists every offender as `file:line`, longest first, so a split can start there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.paths import REPO

PACKAGE = REPO / "exportctl"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(REPO)}:{line}"


def long_modules() -> list[tuple[int, str]]:
    sizes = [(len(path.read_text(encoding="utf-8").splitlines()), path) for path in modules()]
    return [(lines, where(path, 1)) for lines, path in sizes if lines > MAX_MODULE_LINES]


def long_functions() -> list[tuple[int, str]]:
    """Functions and methods (nested ones too), counted from their first decorator."""
    found = []
    for path in modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                lines = (node.end_lineno or node.lineno) - first + 1
                if lines > MAX_FUNCTION_LINES:
                    found.append((lines, f"{where(path, node.lineno)} {node.name}()"))
    return found


def report(offenders: list[tuple[int, str]], limit: int) -> str:
    longest_first = sorted(offenders, reverse=True)
    listed = "\n".join(f"  {name}: {lines} lines" for lines, name in longest_first)
    return f"{len(offenders)} over {limit} lines:\n{listed}"


def test_the_limits_see_the_package() -> None:
    assert len(modules()) > 50, f"no modules found under {PACKAGE}"


def test_no_module_is_over_400_lines() -> None:
    if offenders := long_modules():
        pytest.fail(report(offenders, MAX_MODULE_LINES), pytrace=False)


def test_no_function_is_over_60_lines() -> None:
    if offenders := long_functions():
        pytest.fail(report(offenders, MAX_FUNCTION_LINES), pytrace=False)
