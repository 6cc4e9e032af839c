"""Hostile and malformed specs get a message and exit 2: never a traceback, a hang or a crash.

The golden cases are data (tests/cases/hostile/*.yaml: a spec, the command, the expected
exit code and message fragment). The fuzzer breaks the shipped specs at random, seeded
(FUZZ_SEED, FUZZ_MUTANTS to try more). Both run the real CLI in a child process whose
address space is capped, each case under a time limit (tests/support/spec_fuzz.py).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from exportctl.demo.build import init_demo
from tests.paths import CASES
from tests.support import spec_fuzz

CASES_DIR = CASES / "hostile"
CASES = {path.stem: yaml.safe_load(path.read_text()) for path in sorted(CASES_DIR.glob("*.yaml"))}
FUZZ_SEED = int(os.environ.get("FUZZ_SEED", "15"))
FUZZ_MUTANTS = int(os.environ.get("FUZZ_MUTANTS", "250"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo system the shipped specs read, at `../demo` of each case's specs folder."""
    folder = tmp_path_factory.mktemp("fuzz") / "demo"
    init_demo(folder, proxies=30, metrics=30, log_lines=30)
    return folder


def _golden(name: str, case: dict[str, Any], demo: Path) -> dict[str, Any]:
    spec = "{dir}/specs/spec.yaml"
    args = {
        "validate": ["validate", spec],
        "plan": ["plan", "--no-count", spec],
        "apply": ["apply", "--state", "sqlite:///{dir}/state.db", spec],
    }[case["command"]]
    return {
        "id": name,
        "files": {"specs/spec.yaml": case["spec"]},
        "symlinks": case.get("symlinks", {}),
        "args": args,
        "demo": str(demo),
    }


@pytest.fixture(scope="module")
def golden_results(demo: Path) -> dict[str, dict[str, Any]]:
    return spec_fuzz.run_cases([_golden(name, case, demo) for name, case in CASES.items()])


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_spec_gets_a_message(name: str, golden_results: dict[str, Any]) -> None:
    case, result = CASES[name], golden_results[name]

    assert result["code"] == case["exit"], result["output"]
    assert case["expect"] in result["output"]
    assert not spec_fuzz.crashed(result), result["output"]
    if case["exit"] == 2:
        assert re.search(r"spec\.yaml:\d+", result["output"])  # the file and the line


def test_a_destination_equal_to_the_spec_leaves_the_spec_alone(
    golden_results: dict[str, Any],
) -> None:
    # Each golden case runs in a folder of its own; `apply` wrote nothing over its spec.
    assert golden_results["destination-is-spec-apply"]["code"] == 2
    assert "nothing was run" in golden_results["destination-is-spec-apply"]["output"]


def test_fuzzed_specs_get_exit_0_or_2_within_bounds(demo: Path) -> None:
    cases = spec_fuzz.fuzz_cases(FUZZ_SEED, FUZZ_MUTANTS)
    for case in cases:
        case["demo"] = str(demo)

    results = spec_fuzz.run_cases(cases)

    failures = {
        name: result["output"][-600:]
        for name, result in results.items()
        # A fuzzed spec may fail to run (exit 1, a message): never with a traceback.
        if spec_fuzz.crashed(result, (0, 1, 2) if name.endswith("-apply") else (0, 2))
    }
    assert len(results) == len(cases) >= 2 * FUZZ_MUTANTS
    assert not failures, f"seed {FUZZ_SEED}: {len(failures)} of {len(cases)}: {failures}"
