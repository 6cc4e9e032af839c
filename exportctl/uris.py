"""Names of the files beside an export: its parts, its manifest, its quarantine."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from exportctl import compression

MANIFEST = ".manifest.json"
QUARANTINE = ".quarantine.jsonl"


def part_uri(uri: str, index: int) -> str:
    """`exports/pool.csv.gz`, part 3 → `exports/pool.part-00003.csv.gz`."""

    def numbered(name: str) -> str:
        codec_extension = compression.extension_of(name)
        stem, extension = os.path.splitext(name[: len(name) - len(codec_extension)])
        return f"{stem}.part-{index:05d}{extension}{codec_extension}"

    return _renamed(uri, numbered)


def sibling_uri(uri: str, suffix: str) -> str:
    """`s3://b/pool.csv` → `s3://b/pool.csv.manifest.json`; a URL keeps its query."""
    return _renamed(uri, lambda name: name + suffix)


def _renamed(uri: str, rename: Callable[[str], str]) -> str:
    """`uri` with the last segment of its path renamed (query and fragment kept)."""
    if "://" not in uri:
        folder, slash, name = uri.rpartition("/")
        return f"{folder}{slash}{rename(name)}"
    parts = urlsplit(uri)
    folder, slash, name = parts.path.rpartition("/")
    return urlunsplit(parts._replace(path=f"{folder}{slash}{rename(name)}"))


def written_for(uri: str) -> Callable[[str], bool]:
    """Whether a name is one exportctl writes for the export `uri`: the file itself, a split
    part of it, its manifest or its quarantine; never another export's, whatever it shares."""
    head, _, tail = part_uri(uri, 0).rpartition(".part-00000")
    part = re.compile(re.escape(f"{head}.part-") + r"\d{5,}" + re.escape(tail))
    exact = {uri, sibling_uri(uri, MANIFEST), sibling_uri(uri, QUARANTINE)}
    return lambda name: name in exact or part.fullmatch(name) is not None
