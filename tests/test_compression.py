"""Each codec gives back exactly the bytes written, as a reader of its own sees them;
file names imply codecs, and a contradiction is named with a way out."""

from __future__ import annotations

import gzip
import io
import random
import zipfile
from collections.abc import Callable, Iterator

import pytest
import zstandard

from exportctl.compression import codec_for, compressed, resolve

PAYLOADS = {
    "empty": b"",
    "one-byte": b"\x00",
    "text": "id,host,user\r\n1,10.0.0.1,émile😀\r\n".encode() * 2000,
    "random": random.Random(7).randbytes(300_000),
}


def pieces(payload: bytes) -> Iterator[bytes]:
    """The payload in uneven writes, as an encoder sends them: 1, 7, 4096 bytes, the rest."""
    start = 0
    for size in (1, 7, 4096):
        yield payload[start : start + size]
        start += size
    yield payload[start:]


def compress(payload: bytes, codec: str, level: int | None = None, inner: str = "data") -> bytes:
    stream = io.BytesIO()
    with compressed(stream, codec, level, inner) as sink:
        for piece in pieces(payload):
            sink.write(piece)
    assert not stream.closed, "the destination's stream is the destination's to close"
    return stream.getvalue()


def unzip(data: bytes, inner: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == [inner], "exactly one member, under the given name"
        assert archive.testzip() is None, "every member's CRC checks"
        return archive.read(inner)


READERS: dict[str, Callable[[bytes, str], bytes]] = {
    "none": lambda data, inner: data,
    "gzip": lambda data, inner: gzip.decompress(data),
    # decompressobj: a streamed frame does not record its content size up front.
    "zstd": lambda data, inner: zstandard.ZstdDecompressor().decompressobj().decompress(data),
    "zip": unzip,
}


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
@pytest.mark.parametrize("codec", READERS)
def test_codec_round_trips_bytes_exactly(codec: str, payload: bytes) -> None:
    assert READERS[codec](compress(payload, codec, inner="export.csv"), "export.csv") == payload


def test_none_writes_the_bytes_as_they_are() -> None:
    assert compress(PAYLOADS["text"], "none") == PAYLOADS["text"]


@pytest.mark.parametrize(
    ("codec", "level"),
    [("gzip", 0), ("gzip", 1), ("gzip", 9), ("zstd", -5), ("zstd", 1), ("zstd", 19)]
    + [("zip", 0), ("zip", 1), ("zip", 9)],
)
def test_every_level_round_trips(codec: str, level: int) -> None:
    payload = PAYLOADS["text"]
    assert READERS[codec](compress(payload, codec, level), "data") == payload


@pytest.mark.parametrize("codec", ["gzip", "zip"])
def test_level_zero_stores_without_compressing(codec: str) -> None:
    payload = PAYLOADS["text"]  # compresses to a few percent at any other level
    assert len(compress(payload, codec, 0)) >= len(payload)
    assert len(compress(payload, codec, None)) < len(payload) // 10


def test_gzip_output_is_reproducible_without_time_or_name() -> None:
    first, second = compress(PAYLOADS["text"], "gzip"), compress(PAYLOADS["text"], "gzip")
    assert first == second
    assert first[4:8] == b"\x00\x00\x00\x00", "MTIME is zero"
    assert not first[3] & 0x08, "no FNAME field"


@pytest.mark.parametrize("inner", ["export.csv", "données 2024-06-01.jsonl", "proxies/list.txt"])
def test_zip_member_keeps_its_name(inner: str) -> None:
    assert unzip(compress(b"payload", "zip", inner=inner), inner) == b"payload"


@pytest.mark.parametrize(
    ("file_name", "codec"),
    [
        ("export.csv", "none"),
        ("export.csv.gz", "gzip"),
        ("export.tar.gz", "gzip"),
        ("export.jsonl.zst", "zstd"),
        ("export.zip", "zip"),
        ("EXPORT.CSV.GZ", "gzip"),
        ("export.json.Zst", "zstd"),
        ("export.gz.csv", "none"),
        ("export.gzip", "none"),
        ("export.csvgz", "none"),
    ],
)
def test_codec_for_reads_the_last_extension(file_name: str, codec: str) -> None:
    assert codec_for(file_name) == codec


def contradiction(chosen: str, file_name: str, found: str, suggested: str) -> str:
    return (
        f"compression `{chosen}` contradicts the destination `{file_name}`, which by its name "
        f"{found}; name it `{suggested}` or change `compression`"
    )


@pytest.mark.parametrize(
    ("chosen", "file_name", "expected"),
    [
        (None, "x.csv.gz", ("gzip", None)),
        (None, "x.csv", ("none", None)),
        ("gzip", "x.csv.gz", ("gzip", None)),
        ("none", "x.csv", ("none", None)),
        (
            "zstd",
            "x.csv.gz",
            ("zstd", contradiction("zstd", "x.csv.gz", "is gzip-compressed", "x.csv.zst")),
        ),
        (
            "gzip",
            "x.csv",
            ("gzip", contradiction("gzip", "x.csv", "has no compression extension", "x.csv.gz")),
        ),
        (
            "none",
            "x.jsonl.zip",
            ("none", contradiction("none", "x.jsonl.zip", "is zip-compressed", "x.jsonl")),
        ),
        (
            "zip",
            "X.CSV.GZ",
            ("zip", contradiction("zip", "X.CSV.GZ", "is gzip-compressed", "X.CSV.zip")),
        ),
    ],
)
def test_resolve_picks_the_codec_and_names_a_contradiction(
    chosen: str | None, file_name: str, expected: tuple[str, str | None]
) -> None:
    assert resolve(chosen, file_name) == expected
