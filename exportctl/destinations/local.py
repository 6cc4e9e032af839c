"""Local files, written so that a reader sees the whole file or none of it.

On Linux the data goes to an unnamed file (O_TMPFILE) that the kernel frees if
the process dies, even by SIGKILL; it gets a name only once complete, by a
link under a temporary name and an atomic rename onto the destination.
Elsewhere a named temporary file is used and removed on any failure.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar, cast

from exportctl.destinations.base import CountingWriter, Sink, WrittenFile
from exportctl.destinations.uris import is_part_of, written_for
from exportctl.errors import RunError

TEMP_SUFFIX = ".exportctl-tmp"
#: A temp file's name, as `AtomicFile._temp_path` makes it, and the final name within it.
_TEMP_NAME = re.compile(r"\.(?P<final>.+)\.[0-9a-f]{8}" + re.escape(TEMP_SUFFIX))
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT}


class AtomicFile:
    """Open file in the destination folder; `commit` gives it its final name."""

    def __init__(self, final: Path, mode: int | None = None):
        self.final = final
        self.folder = final.parent
        self.temp_name: Path | None = None
        #: None: 0666 less the umask, as any new file.
        self.mode = mode
        self.fd = self._open_unnamed()
        if mode is not None:  # exactly the mode asked for, whatever the umask
            os.fchmod(self.fd, mode)
        self.file = os.fdopen(self.fd, "wb", buffering=1 << 20, closefd=False)
        self.counter = CountingWriter(self.file)
        self.stream = cast(BinaryIO, self.counter)
        self.written: WrittenFile | None = None
        self.commit_error: OSError | None = None

    def _open_unnamed(self) -> int:
        flags = getattr(os, "O_TMPFILE", 0)
        if flags:
            try:
                return os.open(self.folder, flags | os.O_WRONLY | os.O_CLOEXEC, self._created)
            except OSError as exc:
                if exc.errno not in _NO_TMPFILE:
                    raise
        self.temp_name = self._temp_path()
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC
        return os.open(self.temp_name, flags, self._created)

    @property
    def _created(self) -> int:
        """The mode to create with: never more than asked, from the first byte on."""
        return 0o666 if self.mode is None else self.mode & 0o666

    def _temp_path(self) -> Path:
        """A fresh name, which `_TEMP_NAME` reads back."""
        return self.folder / f".{self.final.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"

    def commit(self) -> None:
        try:
            self._commit()
        except OSError as exc:
            self.commit_error = exc
            raise

    def _commit(self) -> None:
        self.file.flush()
        os.fsync(self.fd)
        if self.temp_name is None:
            self.temp_name = self._temp_path()
            _link_unnamed(self.fd, self.temp_name)
        os.replace(self.temp_name, self.final)
        self.temp_name = None
        _fsync_folder(self.folder)
        self.written = WrittenFile(
            str(self.final), self.counter.bytes, self.counter.digest.hexdigest()
        )

    def failed(self, error: OSError) -> bool:
        """Whether `error` came from writing or committing this file, not from elsewhere."""
        return error is self.counter.error or error is self.commit_error

    def discard(self) -> None:
        if self.temp_name is not None:
            with contextlib.suppress(FileNotFoundError):
                self.temp_name.unlink()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        os.close(self.fd)


def _link_unnamed(fd: int, name: Path) -> None:
    """Give the O_TMPFILE file `fd` a name: linkat(AT_SYMLINK_FOLLOW) on its /proc link.

    os.link only calls linkat, which can follow the /proc link, when given a
    dir fd; an absolute source path makes the fd itself irrelevant.
    """
    folder_fd = os.open(name.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.link(f"/proc/self/fd/{fd}", name, src_dir_fd=folder_fd, follow_symlinks=True)
    finally:
        os.close(folder_fd)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class LocalOptions:
    """Set by the spec parser, not a spec key of its own."""

    #: The mode files are created with (0600 for an export that may hold secrets); None:
    #: as the umask leaves it.
    mode: int | None = None


class LocalDestination:
    """Writes `file://` URIs and plain paths."""

    schemes: ClassVar[tuple[str, ...]] = ("", "file")
    options_key: ClassVar[str | None] = None
    Options: ClassVar[type[LocalOptions]] = LocalOptions

    def __init__(self, options: LocalOptions | None = None):
        self.options = options or LocalOptions()

    @contextmanager
    def read(self, uri: str) -> Iterator[BinaryIO]:
        with open(_path(uri), "rb") as stream:
            yield stream

    def delete(self, uri: str) -> None:
        _path(uri).unlink(missing_ok=True)

    def free_bytes(self, uri: str) -> int | None:
        """Space left for unprivileged writers where `uri` would be written."""
        folder = _path(uri).parent
        while not folder.is_dir() and folder != folder.parent:
            folder = folder.parent  # the folder is created on open
        return shutil.disk_usage(folder).free

    def remove_leftovers(self, uri: str) -> None:
        """Named temp files a killed run left for `uri` or the files beside it (its parts,
        manifest, quarantine); never another export's, which may be being written now."""
        path = _path(uri)
        ours = written_for(path.name)
        if path.parent.is_dir():
            for temp in path.parent.glob(f".*{TEMP_SUFFIX}"):
                named = _TEMP_NAME.fullmatch(temp.name)
                if named and ours(named["final"]):
                    temp.unlink(missing_ok=True)

    def stored_parts(self, uri: str) -> list[str]:
        path = _path(uri)
        if not path.parent.is_dir():
            return []
        part = is_part_of(path.name)
        folder = uri[: len(uri) - len(path.name)]  # as given: a plain path or file://
        return sorted(folder + found.name for found in path.parent.iterdir() if part(found.name))

    @contextmanager
    def open(self, uri: str) -> Iterator[Sink]:
        """A sink whose file is committed when the block exits cleanly, and never otherwise."""
        path = _path(uri)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic = AtomicFile(path, self.options.mode)
        except OSError as exc:
            raise RunError(f"cannot write to {path.parent}: {exc.strerror}") from exc
        try:
            yield atomic
            atomic.commit()
        except OSError as exc:
            atomic.discard()
            if not atomic.failed(exc):
                raise  # not ours (a source's connection reset, say): its own error stands
            raise RunError(
                f"writing {path} failed: {_explained(exc)}; nothing was written"
            ) from exc
        except BaseException:
            atomic.discard()
            raise
        finally:
            atomic.close()


_STORAGE_ERRORS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file reached the size limit for this process (ulimit -f) or file system",
}


def _explained(exc: OSError) -> str:
    return _STORAGE_ERRORS.get(exc.errno or 0) or exc.strerror or str(exc)


def _path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))
