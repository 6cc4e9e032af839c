"""Compression wraps the destination's stream; the encoder writes through it.

The codecs' libraries are imported when a stream is opened: the spec checks need only
the names (`codec_for`, `resolve`), and `validate` should not pay for zlib-ng or zstd.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import BinaryIO, cast

EXTENSIONS = {".gz": "gzip", ".zst": "zstd", ".zip": "zip"}


@contextmanager
def _none(stream: BinaryIO, level: int | None, inner_name: str) -> Iterator[BinaryIO]:
    yield stream


@contextmanager
def _gzip(stream: BinaryIO, level: int | None, inner_name: str) -> Iterator[BinaryIO]:
    # zlib-ng deflates independent 1 MiB blocks on every core into one standard gzip
    # member: 3.5x faster than the stdlib here at the same ratio (docs/benchmarks.md).
    from zlib_ng import gzip_ng_threaded

    target = _Deferred(stream)
    compressed = gzip_ng_threaded.open(
        target, "wb", compresslevel=6 if level is None else level, threads=os.cpu_count() or 1
    )
    with compressed:
        yield cast(BinaryIO, _Checked(compressed, target))
    target.raise_error()


class _Deferred(io.RawIOBase):
    """The stream under a threaded writer: its first error is kept, not raised there.

    The writer thread would hand one exception object to the main thread to raise
    at every later write, flush and close, making a cycle of exception contexts on
    which ExitStack loops forever. Instead the main thread raises it, once.
    """

    def __init__(self, target: BinaryIO):
        self.target = target
        self.error: Exception | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self.error is None:
            try:
                return self.target.write(data)
            except Exception as exc:
                self.error = exc
        return memoryview(data).nbytes  # the file is lost; the rest goes nowhere

    def raise_error(self) -> None:
        error, self.error = self.error, None
        if error is not None:
            self.write = lambda data: memoryview(data).nbytes  # type: ignore[method-assign]
            raise error


class _Checked(io.RawIOBase):
    """What the encoder writes to: stops at the first write after the stream failed."""

    def __init__(self, compressed: BinaryIO, target: _Deferred):
        self.compressed, self.target = compressed, target

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.target.raise_error()
        return self.compressed.write(data)

    def flush(self) -> None:
        self.compressed.flush()


@contextmanager
def _zstd(stream: BinaryIO, level: int | None, inner_name: str) -> Iterator[BinaryIO]:
    # threads=-1: one compression worker per core; the encoder keeps the main thread.
    import zstandard

    compressor = zstandard.ZstdCompressor(level=level or 3, threads=-1)
    with compressor.stream_writer(stream, closefd=False) as compressed:
        yield cast(BinaryIO, compressed)


@contextmanager
def _zip(stream: BinaryIO, level: int | None, inner_name: str) -> Iterator[BinaryIO]:
    with (
        zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive,
        archive.open(inner_name, "w", force_zip64=True) as member,
    ):
        yield cast(BinaryIO, member)


Codec = Callable[[BinaryIO, int | None, str], AbstractContextManager[BinaryIO]]

CODECS: dict[str, Codec] = {"none": _none, "gzip": _gzip, "zstd": _zstd, "zip": _zip}


def compressed(
    stream: BinaryIO, codec: str, level: int | None = None, inner_name: str = "data"
) -> AbstractContextManager[BinaryIO]:
    """A stream that compresses into `stream`; closing it writes the codec's trailer."""
    return CODECS[codec](stream, level, inner_name)


def codec_for(file_name: str) -> str:
    """The codec a file name's last extension implies, in any letter case (`.GZ` too)."""
    for extension, codec in EXTENSIONS.items():
        if file_name.lower().endswith(extension):
            return codec
    return "none"


def extension_of(file_name: str) -> str:
    """The compression extension ending `file_name`, as written there (`.gz`, `.GZ`), or ''."""
    codec = codec_for(file_name)
    return file_name[-len(_EXTENSION_OF[codec]) :] if codec != "none" else ""


def member_name(file_name: str) -> str:
    """The name of the data inside a compressed file: `pool.csv.zip` holds `pool.csv`."""
    return file_name[: len(file_name) - len(extension_of(file_name))]


def resolve(chosen: str | None, file_name: str) -> tuple[str, str | None]:
    """The codec to use for `file_name`, and a complaint if `chosen` contradicts its extension."""
    implied = codec_for(file_name)
    if chosen is None or chosen == implied:
        return implied, None
    stem = file_name[: len(file_name) - len(_EXTENSION_OF.get(implied, ""))]
    suggested = stem + _EXTENSION_OF.get(chosen, "")
    found = "has no compression extension" if implied == "none" else f"is {implied}-compressed"
    return chosen, (
        f"compression `{chosen}` contradicts the destination `{file_name}`, which by its name "
        f"{found}; name it `{suggested}` or change `compression`"
    )


_EXTENSION_OF = {codec: extension for extension, codec in EXTENSIONS.items()}
