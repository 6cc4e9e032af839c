"""MkDocs hook: the pages link to files of the repository outside docs/ (schemas, examples,
code) so that they work on GitHub; the site gets a copy of each such file under `repo/`, and
a link to a file that does not exist fails the build."""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

# A Markdown inline link's target: `](target)` or `](target#anchor)`.
LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)#\s]+)(#[^)\s]*)?\)")
COPIES = "repo"


def _outside_links(page: Path, docs_dir: Path) -> dict[str, Path]:
    """Each link of `page` that leaves docs/, with the file it names."""
    found = {}
    for match in LINK.finditer(page.read_text(encoding="utf-8")):
        target = (page.parent / match.group(1)).resolve()
        if not target.is_relative_to(docs_dir):
            if not target.exists():
                raise PluginError(f"{page.name}: link to {match.group(1)}, which does not exist")
            found[match.group(1)] = target
    return found


def on_files(files: Files, config) -> Files:
    docs_dir = Path(config["docs_dir"]).resolve()
    root = docs_dir.parent
    for page in sorted(docs_dir.rglob("*.md")):
        for target in _outside_links(page, docs_dir).values():
            uri = f"{COPIES}/{target.relative_to(root).as_posix()}"
            if target.is_file() and files.get_file_from_path(uri) is None:
                files.append(File.generated(config, uri, abs_src_path=str(target)))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Point links that leave docs/ at the copies (folders at their listing on disk)."""
    docs_dir = Path(config["docs_dir"]).resolve()
    root = docs_dir.parent
    source = Path(page.file.abs_src_path)
    depth = len(Path(page.file.src_uri).parts) - 1

    def rewrite(match: re.Match[str]) -> str:
        target = (source.parent / match.group(1)).resolve()
        if target.is_relative_to(docs_dir) or not target.is_file():
            return match.group(0)
        copy = "../" * depth + f"{COPIES}/{target.relative_to(root).as_posix()}"
        return f"]({copy}{match.group(2) or ''})"

    return LINK.sub(rewrite, markdown)
