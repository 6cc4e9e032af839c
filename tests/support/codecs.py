"""Exports' bytes decompressed as the tests read them back, by a library of their own."""

from __future__ import annotations

import gzip
import io
import zipfile

import zstandard


def decompressed(data: bytes, codec: str) -> bytes:
    if codec == "gzip":
        return gzip.decompress(data)
    if codec == "zstd":
        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    if codec == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return b"".join(archive.read(name) for name in archive.namelist())
    return data
