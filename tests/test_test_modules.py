"""The tests' own layout (tests/README.md): a helper two test modules share lives in
tests/support, so no test module imports another (collection order and fixtures stay
each module's own)."""

from __future__ import annotations

import ast

from tests.paths import REPO

TESTS = REPO / "tests"


def test_no_test_module_imports_another() -> None:
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(
                n.startswith("tests.") and n.rsplit(".", 1)[-1].startswith("test_") for n in names
            ):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert len(list(TESTS.rglob("test_*.py"))) > 50  # the walk sees the suite
    assert offenders == [], "move the shared helper to tests/support: " + ", ".join(offenders)
