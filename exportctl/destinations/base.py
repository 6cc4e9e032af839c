"""The stream every destination hands out: it counts and hashes what passes through."""

from __future__ import annotations

import hashlib
import io
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar, Protocol


@dataclass(frozen=True)
class WrittenFile:
    uri: str
    bytes: int
    sha256: str


class Sink(Protocol):
    """An open destination: write to `stream`; `written` is set once committed."""

    stream: BinaryIO
    written: WrittenFile | None


class CountingWriter(io.RawIOBase):
    """Forwards writes to `target`, keeping a byte count and a sha256.

    It says it cannot seek, so writers such as zipfile stream instead of
    seeking back, and the digest always covers the bytes as stored.
    """

    def __init__(self, target: BinaryIO):
        self.target = target
        self.bytes = 0
        self.digest = hashlib.sha256()
        #: The error the target raised, so a destination can tell its own failures apart.
        self.error: OSError | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(data)
        try:
            self.target.write(view)
        except OSError as exc:
            self.error = exc
            raise
        self.digest.update(view)
        self.bytes += view.nbytes
        return view.nbytes

    def close(self) -> None:
        # The destination closes the real file, after fsync; closing us must not.
        super().close()


class Destination(Protocol):
    """Where exports are stored, for the URI schemes it names."""

    schemes: ClassVar[tuple[str, ...]]
    #: The spec key under `destination` that holds its options (`s3`, say), or None.
    options_key: ClassVar[str | None]
    Options: ClassVar[Any]

    def __init__(self, options: Any = None) -> None: ...

    def open(self, uri: str) -> AbstractContextManager[Sink]:
        """A sink whose file is committed when the block exits cleanly, and never otherwise."""
        ...

    def read(self, uri: str) -> AbstractContextManager[BinaryIO]:
        """The stored bytes, as written (for verify)."""
        ...

    def delete(self, uri: str) -> None:
        """Remove a committed file (for retention); a missing one is not an error."""
        ...

    def remove_leftovers(self, uri: str) -> None:
        """Whatever a killed run left behind for `uri` or its parts, never a committed file."""
        ...

    def stored_parts(self, uri: str) -> list[str]:
        """The committed split parts of the export `uri` found there, any run's (or none
        where the destination cannot list)."""
        ...
