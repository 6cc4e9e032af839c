"""The README, CONTRIBUTING and the docs pages link only to files that exist, and the README
to every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.paths import REPO

ROOT = REPO
DOCS = ROOT / "docs"
PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        *DOCS.glob("*.md"),
        ROOT / "examples" / "README.md",
        ROOT / "tests" / "README.md",
    ]
)
# An inline link's target, without a title: `](target)` or `](target#anchor)`.
LINK = re.compile(r"\]\((?!https?:|mailto:)([^)#\s]*)(#[^)\s]*)?\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def links(page: Path) -> list[tuple[str, str]]:
    """(target, anchor) of each link outside code blocks."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return [(m.group(1), (m.group(2) or "")[1:]) for m in LINK.finditer(text)]


def slugs(page: Path) -> set[str]:
    """The anchors GitHub and MkDocs give the page's headings (lower case, words joined by -)."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", page.read_text(encoding="utf-8")), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target, anchor in links(page):
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and path.suffix == ".md" and anchor not in slugs(path):
            broken.append(f"{target}#{anchor} (no such heading)")
    assert not broken, f"{page.relative_to(ROOT)}: {broken}"


def test_the_readme_links_every_docs_page() -> None:
    linked = {(ROOT / target).resolve() for target, _ in links(ROOT / "README.md") if target}
    unlinked = [p.name for p in DOCS.glob("*.md") if p.name != "index.md" and p not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


def test_the_site_navigation_lists_every_page() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    missing = [p.name for p in DOCS.glob("*.md") if f": {p.name}" not in nav]
    assert not missing, f"pages missing from mkdocs.yml's nav: {missing}"
