"""A before/after table of exportctl's exports, from two `bench/run.py --save` files.

    python bench/run.py --tools exportctl duckdb-sqlite duckdb --save full.json
    python bench/run.py --tools exportctl --baseline DIR --no-report --save ab.json
    python bench/compare.py ab.json full.json --title "..." --section issue-20 --command "..."

`ab.json`: exportctl and `exportctl before` (`--baseline`) in turn, so before and after
come from the same minutes. `full.json`: exportctl in turn with the two DuckDBs, for the
ratios to DuckDB (the `before` ratio is the `after` one times before/after of ab.json).
The table goes to docs/benchmarks.md, in its own section.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from report import write_section

SCANNER, OWN, BEFORE = "duckdb sqlite", "duckdb COPY", "exportctl before"


def medians(path: Path) -> dict[tuple[str, str], dict]:
    """(tool, export) → that run's medians."""
    return {(m["tool"], m["case"]): m for m in json.loads(path.read_text())}


def _times(base: dict | None, value: float, key: str) -> str:
    return f"{value / base[key]:.2f}×" if base else "–"


def row(case: str, ab: dict[tuple[str, str], dict], full: dict[tuple[str, str], dict]) -> str:
    before, after = ab[(BEFORE, case)], ab[("exportctl", case)]
    ours, scanner, own = (full.get((tool, case)) for tool in ("exportctl", SCANNER, OWN))
    duck = [f"{d['seconds']:.2f} ({d['cpu']:.2f})" if d else "–" for d in (scanner, own)]
    cells = [
        case,
        f"{after['rows']:,}",
        f"{before['seconds']:.2f} ({before['cpu']:.2f})",
        f"{after['seconds']:.2f} ({after['cpu']:.2f})",
        f"{after['cpu'] / before['cpu']:.2f}×",
        f"{ours['seconds']:.2f} ({ours['cpu']:.2f})" if ours else "–",
        *duck,
    ]
    if ours and scanner:
        slower = before["seconds"] / after["seconds"]
        cells.append(f"{ours['seconds'] * slower / scanner['seconds']:.2f}×")
    else:
        cells.append("–")
    cells += [
        _times(scanner, ours["seconds"], "seconds") if ours else "–",
        _times(own, ours["seconds"], "seconds") if ours else "–",
        _times(scanner, ours["cpu"], "cpu") if ours else "–",
        f"{before['peak_mb']:.0f} → {after['peak_mb']:.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


def table(ab: dict[tuple[str, str], dict], full: dict[tuple[str, str], dict]) -> list[str]:
    lines = [
        "| export | rows | before s (CPU-s) | after s (CPU-s) | CPU after / before | "
        "exportctl s (CPU-s), DuckDB run | DuckDB sqlite s (CPU-s) | DuckDB own s (CPU-s) | "
        "before / DuckDB sqlite | after / DuckDB sqlite | after / DuckDB own | "
        "CPU after / DuckDB sqlite | peak MiB before → after |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
        "---: |",
    ]
    cases = [case for tool, case in ab if tool == "exportctl" and (BEFORE, case) in ab]
    return lines + [row(case, ab, full) for case in cases]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ab", type=Path, help="exportctl and `exportctl before`, in turn")
    parser.add_argument("full", type=Path, help="exportctl and the DuckDBs, in turn")
    parser.add_argument("--title", required=True)
    parser.add_argument("--section", required=True, help="the section's name in the page")
    parser.add_argument("--command", required=True, help="how the figures were made")
    parser.add_argument("--note", default="", help="text after the table")
    args = parser.parse_args()
    lines = [f"## {args.title}", "", args.command, ""]
    lines += table(medians(args.ab), medians(args.full))
    if args.note:
        lines += ["", args.note]
    write_section(args.section, "\n".join(lines) + "\n")
    print(f"wrote section {args.section}")


if __name__ == "__main__":
    main()
