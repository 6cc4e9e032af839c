"""Names of the files beside an export: its parts, its manifest, its quarantine."""

from __future__ import annotations

import os
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from exportctl import compression


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
