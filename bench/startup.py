"""CPU time of commands that should be instant: `--help`, `validate` of 10 specs, `history`.

Each command runs as a child process `--repeat` times; its CPU time is user + sys from
`resource.getrusage(RUSAGE_CHILDREN)` (wall time on a shared machine says little), and the
median is reported beside `python -c pass`, the interpreter's own start. Appends a table to
docs/benchmarks.md with `--write`.

    python bench/startup.py [--repeat 7] [--write]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.25
SPEC = """\
version: 1
name: pool-{n}
source: {{type: sql, url: "sqlite:///system.db"}}
query: {{table: proxy_identities, where: [{{field: port, gt: 1000}}]}}
format: csv
compression: gzip
destination: "out/pool-{n}-{{{{ run.id }}}}.csv.gz"
"""


def cpu_seconds(argv: list[str], env: dict[str, str]) -> float:
    """User + sys CPU of one child process running `argv`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def commands(folder: Path) -> dict[str, list[str]]:
    specs = folder / "specs"
    specs.mkdir()
    for n in range(10):
        (specs / f"pool-{n}.yaml").write_text(SPEC.format(n=n))
    exportctl = [sys.executable, "-m", "exportctl"]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "exportctl --help": [*exportctl, "--help"],
        "exportctl validate specs/ (10 specs)": [*exportctl, "validate", str(specs)],
        "exportctl history": [*exportctl, "history", "--state", str(folder / "state.db")],
    }


def measure(repeat: int) -> list[tuple[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = commands(folder)
        env = dict(os.environ)
        # A ledger with a recorded run, so `history` reads one (creating it is not timed).
        subprocess.run([*runs["exportctl history"][:3], "apply", str(folder / "specs"),
                        "--only", "pool-0", "--state", str(folder / "state.db")],
                       env=env, cwd=folder, capture_output=True, check=False)  # fmt: skip
        return [
            (name, statistics.median(cpu_seconds(argv, env) for _ in range(repeat)))
            for name, argv in runs.items()
        ]


def table(results: list[tuple[str, float]], repeat: int) -> str:
    lines = [
        f"Median CPU seconds (user + sys) of {repeat} runs each; target {TARGET} s.",
        "",
        "| command | CPU s | over `python -c pass` |",
        "| --- | ---: | ---: |",
    ]
    base = results[0][1]
    lines += [f"| `{name}` | {cpu:.3f} | {cpu - base:+.3f} |" for name, cpu in results]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--write", action="store_true", help="Append to docs/benchmarks.md.")
    args = parser.parse_args()
    text = table(measure(args.repeat), args.repeat)
    print(text)
    if args.write:
        section = (
            "\n\n## Start-up: instant commands\n\n"
            f"`python bench/startup.py --repeat {args.repeat} --write`\n\n{text}\n"
        )
        with (ROOT / "docs" / "benchmarks.md").open("a", encoding="utf-8") as out:
            out.write(section)


if __name__ == "__main__":
    main()
