"""A before/after table of exportctl's exports, from `bench/run.py --save` files.

    python bench/compare.py RUN.json --title "Issue 20: ..." --section issue-20 \\
        --command "how the file was made"

RUN.json holds one run's medians, `exportctl before` (`--baseline`) interleaved with
exportctl and the DuckDBs, so every figure of a row comes from the same minutes. (With a
second file, `before` is that file's `exportctl` and its DuckDBs.) The table goes to
docs/benchmarks.md, in its own section.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from report import write_section

SCANNER, OWN = "duckdb sqlite", "duckdb COPY"


def medians(path: Path) -> dict[tuple[str, str], dict]:
    """(tool, export) → that run's medians."""
    return {(m["tool"], m["case"]): m for m in json.loads(path.read_text())}


def _ratio(value: float, base: dict | None, key: str) -> str:
    return f"{value / base[key]:.2f}×" if base else "–"


def table(before: dict[tuple[str, str], dict], after: dict[tuple[str, str], dict]) -> list[str]:
    lines = [
        "| export | rows | before s | before CPU-s | after s | after CPU-s | CPU after/before | "
        "DuckDB sqlite s (CPU-s) | DuckDB own s (CPU-s) | before / DuckDB sqlite | "
        "after / DuckDB sqlite | after / DuckDB own | CPU after / DuckDB sqlite | "
        "peak MiB before → after |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
        "---: | ---: |",
    ]
    for (tool, case), new in after.items():
        if tool != "exportctl":
            continue
        old = before.get((tool, case))
        scanner, own = after.get((SCANNER, case)), after.get((OWN, case))
        old_scanner = before.get((SCANNER, case))
        duck = [f"{d['seconds']:.2f} ({d['cpu']:.2f})" if d else "–" for d in (scanner, own)]
        lines.append(
            f"| {case} | {new['rows']:,} | "
            + (f"{old['seconds']:.2f} | {old['cpu']:.2f} | " if old else "– | – | ")
            + f"{new['seconds']:.2f} | {new['cpu']:.2f} | "
            + (f"{new['cpu'] / old['cpu']:.2f}× | " if old else "– | ")
            + f"{duck[0]} | {duck[1]} | "
            + (f"{_ratio(old['seconds'], old_scanner, 'seconds')} | " if old else "– | ")
            + f"{_ratio(new['seconds'], scanner, 'seconds')} | "
            + f"{_ratio(new['seconds'], own, 'seconds')} | "
            + f"{_ratio(new['cpu'], scanner, 'cpu')} | "
            + (f"{old['peak_mb']:.0f} → " if old else "")
            + f"{new['peak_mb']:.0f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("after", type=Path)
    parser.add_argument("before", type=Path, nargs="?", help="another run, for `before`")
    parser.add_argument("--title", required=True)
    parser.add_argument("--section", required=True, help="the section's name in the page")
    parser.add_argument("--command", required=True, help="how the figures were made")
    parser.add_argument("--note", default="", help="a paragraph after the table")
    args = parser.parse_args()
    lines = [f"## {args.title}", "", args.command, ""]
    after = medians(args.after)
    if args.before:
        before = medians(args.before)
    else:
        before = {(t, c): m for (t, c), m in after.items() if t != "exportctl"}
        before |= {("exportctl", c): m for (t, c), m in after.items() if t == "exportctl before"}
    lines += table(before, after)
    if args.note:
        lines += ["", args.note]
    write_section(args.section, "\n".join(lines) + "\n")
    print(f"wrote section {args.section}")


if __name__ == "__main__":
    main()
