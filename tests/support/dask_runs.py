"""Helpers of the Dask engine's tests: parts read back with readers of their own, and the
files a process has open, unnamed, in a folder (a part half written)."""

from __future__ import annotations

import csv
import gzip
import io
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tests.support.jsonlines import json_lines


def read_rows(fmt: str, files: list[Path]) -> list[Any]:
    """The files, concatenated in order, as rows: `csv`, `csv.gz`, `jsonl` or `parquet`."""
    if fmt == "parquet":
        return pa.concat_tables([pq.read_table(f) for f in files]).to_pylist()
    data = b"".join(f.read_bytes() for f in files)
    text = (gzip.decompress(data) if fmt.endswith(".gz") else data).decode()
    if fmt.startswith("csv"):
        return list(csv.reader(io.StringIO(text, newline="")))
    return json_lines(text)


def temp_files(pid: int, folder: Path) -> list[str]:
    """The unnamed files (O_TMPFILE: `FOLDER/#123 (deleted)`) process `pid` writes in
    `folder`: a destination's part not yet committed."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []
    found = []
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(f"{folder}/") and target.endswith("(deleted)"):
            found.append(target)
    return found


def gzip_members(data: bytes) -> int:
    """How many gzip members `data` holds, one after another."""
    import zlib

    count = 0
    while data:
        member = zlib.decompressobj(wbits=31)
        member.decompress(data)
        data, count = member.unused_data, count + 1
    return count
