"""Charts of docs/benchmarks.md's figures, as PNGs in docs/img/ for docs/benchmark-charts.md.

The bench scripts write the tables; this reads them back, so a chart always shows the
figures the page holds. Run after `bench/run.py` and `bench/daemon_lateness.py`:

    python bench/charts.py [--page docs/benchmarks.md] [--out docs/img]
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("exportctl", "duckdb sqlite", "duckdb COPY", "sling", "dlt")
#: One colour a tool, the same in every chart (matplotlib's first five).
COLOURS = dict(zip(TOOLS, ("C0", "C1", "C2", "C3", "C4"), strict=True))
# PNG metadata without the matplotlib version, so a rerun on the same figures is the same file.
PNG_METADATA = {"Software": None}


def pyplot() -> Any:
    """matplotlib, imported here so that the table parser runs without it (the tests do)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a build machine
    import matplotlib.pyplot

    return matplotlib.pyplot


@dataclass(frozen=True)
class Table:
    heading: str
    rows: list[dict[str, str]]


def tables(markdown: str) -> list[Table]:
    """Every pipe table of the page, each under the heading it follows."""
    found: list[Table] = []
    heading, lines = "", markdown.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("#"):
            heading = lines[i].lstrip("#").strip()
        if (
            lines[i].startswith("|")
            and i + 1 < len(lines)
            and re.match(r"^\|[ :\-|]+\|$", lines[i + 1])
        ):
            names = _cells(lines[i])
            i += 2
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(dict(zip(names, _cells(lines[i]), strict=True)))
                i += 1
            found.append(Table(heading, rows))
            continue
        i += 1
    return found


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def number(text: str) -> float | None:
    """`1,000,000`, `70.9%`, `2.99×` as numbers; `–` (no figure) as None."""
    cleaned = text.replace(",", "").rstrip("%×").strip()
    try:
        return float(cleaned)
    except ValueError:
        return None


def table_under(all_tables: list[Table], heading_start: str) -> Table:
    for table in all_tables:
        if table.heading.startswith(heading_start):
            return table
    raise SystemExit(f"docs/benchmarks.md has no table under a heading `{heading_start}...`")


def exports_chart(table: Table, column: str, label: str, out: Path) -> None:
    """One group of bars per export, one bar per tool that ran it."""
    exports = list(dict.fromkeys(row["export"] for row in table.rows))
    fig, ax = pyplot().subplots(figsize=(10, 5.5))
    width = 0.8 / len(TOOLS)
    for t, tool in enumerate(TOOLS):
        values = {row["export"]: number(row[column]) for row in table.rows if row["tool"] == tool}
        xs = [e + t * width for e, name in enumerate(exports) if values.get(name) is not None]
        ys = [values[name] for name in exports if values.get(name) is not None]
        if not ys:  # a tool this run did not time: no empty entry in the legend
            continue
        ax.bar(xs, ys, width, label=tool, color=COLOURS[tool])
    ax.set_xticks([e + width * (len(TOOLS) - 1) / 2 for e in range(len(exports))])
    ax.set_xticklabels(exports, rotation=30, ha="right")
    ax.set_ylabel(label)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    _save(fig, out)


def codecs_chart(table: Table, out: Path) -> None:
    """Speed against size: each writer and level a point."""
    fig, ax = pyplot().subplots(figsize=(8, 5))
    for writer in dict.fromkeys(row["writer"] for row in table.rows):
        rows = [row for row in table.rows if row["writer"] == writer]
        xs = [number(row["MiB/s"]) for row in rows]
        ys = [number(row["% smaller"]) for row in rows]
        ax.plot(xs, ys, marker="o", label=writer)
        for row, x, y in zip(rows, xs, ys, strict=True):
            ax.annotate(row["level"], (x, y), textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel("MiB/s (higher is faster)")
    ax.set_ylabel("% smaller than the CSV")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    _save(fig, out)


def lateness_chart(sqlite: Table, postgres: Table, out: Path) -> None:
    """Start lateness percentiles per ledger and past runs, against the 1 s target."""
    fig, ax = pyplot().subplots(figsize=(8, 5))
    columns = ("p50 s", "p90 s", "p99 s", "max s")
    groups = [
        (f"{ledger}, {row['past runs']} past runs", row)
        for ledger, table in (("SQLite", sqlite), ("PostgreSQL", postgres))
        for row in table.rows
    ]
    width = 0.8 / len(columns)
    for c, column in enumerate(columns):
        ax.bar(
            [g + c * width for g in range(len(groups))],
            [number(row[column]) for _, row in groups],
            width,
            label=column.removesuffix(" s"),
        )
    ax.axhline(1.0, color="red", linestyle="--", linewidth=1, label="target (p99)")
    ax.set_xticks([g + width * (len(columns) - 1) / 2 for g in range(len(groups))])
    ax.set_xticklabels([name for name, _ in groups], rotation=15, ha="right")
    ax.set_ylabel("seconds after the tick")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    _save(fig, out)


def _save(fig: Any, out: Path) -> None:
    fig.tight_layout()
    fig.savefig(out, dpi=100, metadata=PNG_METADATA)
    pyplot().close(fig)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    found = tables(args.page.read_text(encoding="utf-8"))
    args.out.mkdir(parents=True, exist_ok=True)
    exports = table_under(found, "Exports at scale")
    exports_chart(
        exports, "seconds", "seconds (lower is faster)", args.out / "bench-exports-seconds.png"
    )
    exports_chart(exports, "peak RSS MiB", "peak RSS, MiB", args.out / "bench-exports-memory.png")
    exports_chart(
        exports,
        "rows/s",
        "rows per second (higher is faster)",
        args.out / "bench-exports-rows-per-second.png",
    )
    codecs_chart(table_under(found, "Codecs"), args.out / "bench-codecs.png")
    lateness_chart(
        table_under(found, "Daemon: start lateness, SQLite"),
        table_under(found, "Daemon: start lateness, PostgreSQL"),
        args.out / "bench-daemon-lateness.png",
    )


if __name__ == "__main__":
    main()
