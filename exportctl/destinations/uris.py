"""Names of the files beside an export: its parts, its manifest, its quarantine."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from exportctl import compression

MANIFEST = ".manifest.json"
QUARANTINE = ".quarantine.jsonl"


def part_uri(uri: str, index: int, tag: str | None = None, partition: int | None = None) -> str:
    """`exports/pool.csv.gz`, part 3 of run `R` → `exports/pool.R.part-00003.csv.gz`; of
    a partitioned export, partition 2's part 3 → `exports/pool.R.part-00002-00003.csv.gz`.

    The tag (the run's, see `parts_tag`) keeps each run's parts apart from the previous
    run's: the manifest, written last, then swaps one run's parts for the next's. A
    partition's parts are named by it alone, whichever engine writes them and however
    often: a partition run again writes the same names.
    """
    run = f"{tag}." if tag else ""
    number = f"{index:05d}" if partition is None else f"{partition:05d}-{index:05d}"

    def numbered(name: str) -> str:
        codec_extension = compression.extension_of(name)
        stem, extension = os.path.splitext(name[: len(name) - len(codec_extension)])
        return f"{stem}.{run}part-{number}{extension}{codec_extension}"

    return _renamed(uri, numbered)


#: A tag: a run id's shape (`plan.new_run_id`), which no other export's name segment has.
_TAG = r"\d{8}T\d{6}Z-[0-9a-f]{6,}"


def parts_tag(run_id: str) -> str:
    """The tag a run's part names carry: its id, or one of that shape made from it."""
    if re.fullmatch(_TAG, run_id):
        return run_id
    return "00000000T000000Z-" + hashlib.sha256(run_id.encode()).hexdigest()[:12]


def tag_of_part(uri: str, part: str) -> str | None:
    """The tag in the name of `part`, a part of the export `uri`; None if untagged or not one."""
    found = _part_pattern(uri).fullmatch(part)
    return found["tag"] if found else None


def _part_pattern(uri: str) -> re.Pattern[str]:
    """A part of `uri`, tagged by its run or (as before tags) not, of a partition or not."""
    head, _, tail = part_uri(uri, 0).rpartition(".part-00000")
    number = r"part-\d{5,}(?:-\d{5,})?"
    return re.compile(re.escape(f"{head}.") + f"(?:(?P<tag>{_TAG})\\.)?{number}" + re.escape(tail))


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
    part = _part_pattern(uri)
    exact = {uri, sibling_uri(uri, MANIFEST), sibling_uri(uri, QUARANTINE)}
    return lambda name: name in exact or part.fullmatch(name) is not None


def is_part_of(uri: str) -> Callable[[str], bool]:
    """Whether a name is a split part of the export `uri` (any run's)."""
    part = _part_pattern(uri)
    return lambda name: part.fullmatch(name) is not None
