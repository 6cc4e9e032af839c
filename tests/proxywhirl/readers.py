"""Independent readers of exported files: each format through a library that is not ours."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml
import zstandard

from tests.support.jsonlines import json_lines


def unpacked(path: Path) -> tuple[bytes, str]:
    """The file's bytes with its compression undone, and the name left."""
    data, name = path.read_bytes(), path.name
    if name.endswith(".gz"):
        return gzip.decompress(data), name[:-3]
    if name.endswith(".zst"):
        return zstandard.ZstdDecompressor().decompressobj().decompress(data), name[:-4]
    if name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            (inner,) = archive.namelist()
            return archive.read(inner), inner
    return data, name


def records(path: Path) -> Any:
    """What an export holds: a list of rows (dicts), of text lines, or one document."""
    data, name = unpacked(path)
    if name.endswith(".parquet"):
        return pq.read_table(io.BytesIO(data)).to_pylist()
    text = data.decode("utf-8")
    if name.endswith(".jsonl"):
        return json_lines(text)
    if name.endswith(".json"):
        return json.loads(text)
    if name.endswith((".yaml", ".yml")):
        return yaml.safe_load(text)
    if name.endswith(".csv"):
        return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=_delimiter(text)))
    return text.splitlines()


def _delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    return ";" if first.count(";") > first.count(",") else ","


def exported(uri: str) -> Any:
    """An export's records; a split export's parts, listed by its manifest, concatenated."""
    path = Path(uri)
    manifest = Path(uri + ".manifest.json")
    if not path.exists() and manifest.exists():
        parts = json.loads(manifest.read_text())["parts"]
        return [row for part in parts for row in records(Path(part["uri"]))]
    return records(path)
