"""The console entry ends without the interpreter's teardown, and loses nothing by it:
the exit code, everything printed, and the atexit handlers registered while it ran."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from exportctl.spec.schema import export_spec_schema

#: A program that runs the console entry with `args`, with an atexit handler registered as
#: the command runs and an object whose finaliser only the interpreter's teardown calls.
PROGRAM = textwrap.dedent(
    """
    import atexit, sys
    from exportctl.cli.main import run

    class Finalised:
        def __del__(self):
            sys.stderr.write("torn down\\n")

    kept = Finalised()
    sys.argv = ["exportctl", *{args!r}]
    import exportctl.cli.quick_exit  # noqa
    original = exportctl.cli.quick_exit.install
    def install():
        original()
        atexit.register(lambda: sys.stderr.write("handler ran\\n"))
    exportctl.cli.quick_exit.install = install
    run()
    """
)


def entry(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    program = PROGRAM.format(args=list(args))
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize(
    ("args", "code"),
    [(["--help"], 0), (["validate", "nowhere/"], 2), (["no-such-command"], 2)],
)
def test_the_exit_code_is_kept(args: list[str], code: int) -> None:
    ran = entry(*args)
    assert ran.returncode == code, ran.stderr
    assert "handler ran" in ran.stderr
    assert "torn down" not in ran.stderr  # the teardown was skipped


def test_a_failed_export_exits_1(tmp_path: Path) -> None:
    (tmp_path / "gone.yaml").write_text(
        "version: 1\nname: gone\nsource: {type: sql, url: 'sqlite:///missing.db'}\n"
        "query: {table: t}\nformat: csv\ndestination: out.csv\n"
    )
    ran = entry("apply", str(tmp_path), "--state", str(tmp_path / "state.db"), cwd=tmp_path)
    assert ran.returncode == 1, ran.stderr
    assert "does not exist" in ran.stdout + ran.stderr
    assert "handler ran" in ran.stderr


def test_long_output_is_flushed_whole() -> None:
    """The schema is printed in one piece larger than a pipe's buffer."""
    ran = entry("schema", "--draft", "2020-12")
    assert ran.returncode == 0, ran.stderr
    assert len(ran.stdout) > 65536
    assert json.loads(ran.stdout) == export_spec_schema()


def test_an_exit_with_text_ends_the_usual_way() -> None:
    """`sys.exit("text")`: Python prints the text and exits 1; nothing is recorded."""
    said = "def said(**_):\n    sys.exit('said so')\nrun.__globals__['main'] = said\nrun()"
    program = PROGRAM.replace("\nrun()", "\n" + said).format(args=[])
    ran = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert ran.returncode == 1
    assert "said so" in ran.stderr
    assert "torn down" in ran.stderr  # Python's own exit, teardown included
