"""CPU time of commands that should be instant: `--help`, `validate` of 10 specs, `history`.

Each command runs as a child process `--repeat` times; its CPU time is user + sys from
`resource.getrusage(RUSAGE_CHILDREN)` (wall time on a shared machine says little), and the
median is reported beside `python -c pass`, the interpreter's own start. `--write` puts the
table in its section of docs/benchmarks.md. `--against DIR` times another checkout's
`exportctl` package too (first on PYTHONPATH), the two interleaved, for a before/after.

The package's bytecode is compiled first, as installing a wheel does: where
PYTHONDONTWRITEBYTECODE is set, every run would otherwise compile every module again.

    python bench/startup.py [--repeat 7] [--against ../main-before] [--write]
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from report import write_section

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


def cpu_seconds(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """User + sys CPU of one child process running `argv` in `cwd`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    quiet = subprocess.DEVNULL
    subprocess.run(argv, env=env, cwd=cwd, stdout=quiet, stderr=quiet, check=True)
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
        # `{state}`: each checkout reads a ledger of its own making (schemas differ).
        "exportctl history": [*exportctl, "history", "--state", str(folder / "{state}.db")],
    }


def measure(repeat: int, against: Path | None) -> list[tuple[str, list[float]]]:
    """Each command's median CPU seconds: this checkout's, then (with `against`) the other's."""
    envs = [dict(os.environ)]
    if against is not None:
        envs.append(dict(os.environ, PYTHONPATH=str(against)))
    for package in [ROOT / "exportctl", *([against / "exportctl"] if against else [])]:
        compileall.compile_dir(package, quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = commands(folder)
        for index, env in enumerate(envs):  # a ledger with a run for `history` (not timed)
            subprocess.run([*runs["exportctl history"][:3], "apply", str(folder / "specs"),
                            "--only", "pool-0", "--state", str(folder / f"state-{index}.db")],
                           env=env, cwd=folder, capture_output=True, check=False)  # fmt: skip
        results = []
        for name, argv in runs.items():
            times: list[list[float]] = [[] for _ in envs]
            for _ in range(repeat):  # interleaved: a busy spell slows both alike
                for index, (env, taken) in enumerate(zip(envs, times, strict=True)):
                    mine = [arg.replace("{state}", f"state-{index}") for arg in argv]
                    # In the temporary folder: `-m` puts the working folder first on sys.path.
                    taken.append(cpu_seconds(mine, env, folder))
            results.append((name, [statistics.median(t) for t in times]))
        return results


def table(results: list[tuple[str, list[float]]], repeat: int, against: Path | None) -> str:
    other = f" | `{against.name}` CPU s" if against else ""
    lines = [
        f"Median CPU seconds (user + sys) of {repeat} runs each; target {TARGET} s.",
        "",
        f"| command | CPU s | over `python -c pass`{other} |",
        "| --- | ---: | ---:" + (" | ---: |" if against else " |"),
    ]
    base = results[0][1][0]
    for name, (cpu, *before) in results:
        then = f" | {before[0]:.3f}" if before else ""
        lines.append(f"| `{name}` | {cpu:.3f} | {cpu - base:+.3f}{then} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--write", action="store_true", help="Append to docs/benchmarks.md.")
    parser.add_argument("--against", type=Path, help="Another checkout to time alike.")
    args = parser.parse_args()
    against = args.against.resolve() if args.against else None
    text = table(measure(args.repeat, against), args.repeat, against)
    print(text)
    if args.write:
        command = f"python bench/startup.py --repeat {args.repeat}"
        command += f" --against {args.against}" if args.against else ""
        write_section("startup", f"## Start-up: instant commands\n\n`{command} --write`\n\n{text}")


if __name__ == "__main__":
    main()
