"""Specs validate and plan without their secrets; `apply` refuses to start without them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportctl.cli.main import main

#: Variable names no real environment holds (the prefix), as a spec may spell them.
NAMES = st.lists(
    st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True).map(lambda n: f"XTEST_{n}"),
    min_size=1,
    max_size=4,
    unique=True,
)


def spec_text(names: list[str], hash_key: str) -> str:
    """A spec reading each of `names` in a string, and a hash key from `hash_key`."""
    refs = "-".join(f"${{{n}}}" for n in names)
    return f"""\
version: 1
name: needs-env
description: "with a default: ${{XTEST_DEFAULTED:-x}}"
source:
  type: sql
  url: sqlite:///system.db
query:
  table: proxy_identities
format: csv
redact:
  mode: hash
  hash_key_env: {hash_key}
destination: "out-{refs}.csv"
"""


def invoke(tmp: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"EXPORTCTL_STATE": str(tmp / "s.db")})
    return result.exit_code, result.stdout, result.stderr


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=NAMES, hash_key=st.sampled_from(["XTEST_HASH_KEY", "EXPORTCTL_TEST_HASH"]))
def test_validate_names_what_apply_needs_and_apply_refuses_without_it(
    tmp_path: Path, names: list[str], hash_key: str
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(names, hash_key), encoding="utf-8")
    needed = [*names, hash_key]

    code, out, _ = invoke(tmp_path, "validate", "--json", str(spec))
    assert code == 0, out
    (described,) = json.loads(out)["specs"]
    assert described["env_needed"] == needed == described["env_unset"]
    code, out, _ = invoke(tmp_path, "validate", str(spec))
    assert code == 0 and all(name in out for name in needed)

    code, out, warned = invoke(tmp_path, "plan", "--no-count", str(spec))
    assert code == 0 and all(name in warned for name in needed)

    for command in (["validate", "--strict-env"], ["apply"]):
        code, _, err = invoke(tmp_path, *command, str(spec))
        assert code == 2
        for name in needed:  # each named, with where: file:line at the key path
            assert any(name in line and f"{spec}:" in line for line in err.splitlines()), err
        assert "$.destination" in err and "$.redact.mode" in err
    assert not list(tmp_path.glob("out-*")) and not (tmp_path / "s.db").exists()


def test_the_demos_next_step_works_as_printed(tmp_path: Path) -> None:
    """`demo init` prints a command; run in a shell without the demo's keys, it succeeds."""
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXYWHIRL_")}
    env |= {"PATH": f"{bin_dir}{os.pathsep}{env['PATH']}", "XDG_STATE_HOME": str(tmp_path)}
    demo = tmp_path / "my demo"  # a space: the printed paths must be quoted
    init = subprocess.run(
        [bin_dir / "exportctl", "demo", "init", demo, "--proxies", "40", "--metrics", "200"]
        + ["--log-lines", "40"],
        env=env | {"COLUMNS": "80"},
        capture_output=True,
        text=True,
        check=True,
    )
    (hint,) = [line for line in init.stdout.splitlines() if line.startswith("Next: ")]
    ran = subprocess.run(
        ["sh", "-c", hint.removeprefix("Next: ")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_the_daemon_refuses_to_start_without_a_variable_a_spec_needs(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    text = spec_text(["XTEST_DAEMON_VAR"], "XTEST_HASH_KEY") + "schedule: {every: day at 02:00}\n"
    spec.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XTEST_")}
    ran = subprocess.run(
        [sys.executable, "-m", "exportctl", "daemon", str(spec), "--listen", "off"]
        + ["--state", str(tmp_path / "s.db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 2
    for name in ("XTEST_DAEMON_VAR", "XTEST_HASH_KEY"):
        assert any(name in line and f"{spec}:" in line for line in ran.stderr.splitlines())
