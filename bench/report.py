"""docs/benchmarks.md holds one section per benchmark; each rewrites only its own."""

from __future__ import annotations

import re
from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
TITLE = "# Benchmarks\n"


def write_section(name: str, text: str, report: Path = REPORT) -> None:
    """Put `text` between this benchmark's markers, keeping the other sections as they are."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{begin}\n{text.strip()}\n{end}\n"
    current = report.read_text() if report.exists() else TITLE
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(current):
        updated = pattern.sub(lambda _: block, current)
    else:
        updated = current.rstrip("\n") + "\n\n" + block
    report.parent.mkdir(exist_ok=True)
    report.write_text(updated)
