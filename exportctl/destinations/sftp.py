"""SFTP servers (`sftp://user@host[:port]/path`): a reader sees the whole file or none of it.

paramiko's SFTPClient is used directly, not smart_open's ssh transport: that one
writes straight to the final name, so a reader, or a connection dropped mid-upload,
would leave a partial file there. Here the bytes go to a temporary name in the
target folder and, once the server has acknowledged every write, are renamed onto
the final name: `posix-rename@openssh.com` replaces an existing file atomically
(a server without it gets a plain rename, which refuses to replace). paramiko has
no public call for `fsync@openssh.com`, so no fsync is asked for. Any failure
removes the temp while the connection lives; a temp that a dropped connection or
a killed run left is removed by the next run of the spec (`remove_leftovers`).
Connecting, keys and host keys: `sftp_connect`.
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, ClassVar, cast

import paramiko

from exportctl.destinations.base import CountingWriter, Sink, WrittenFile
from exportctl.destinations.sftp_connect import Session, connected
from exportctl.destinations.sftp_options import SftpOptions
from exportctl.destinations.uris import MANIFEST, QUARANTINE, sibling_uri, written_for
from exportctl.errors import RunError

TEMP_SUFFIX = ".exportctl-tmp"
#: A temp file's name, as `SftpDestination.open` makes it, and the final name within it.
_TEMP_NAME = re.compile(r"\.(?P<final>.+)\.[0-9a-f]{8}" + re.escape(TEMP_SUFFIX))
#: What paramiko raises for a failed SFTP request or a broken connection.
_FAILURES = (OSError, EOFError, paramiko.SSHException)


class SftpDestination:
    """Writes `sftp://` URIs."""

    schemes: ClassVar[tuple[str, ...]] = ("sftp",)
    options_key: ClassVar[str | None] = "sftp"
    Options: ClassVar[type[SftpOptions]] = SftpOptions

    def __init__(self, options: SftpOptions | None = None):
        self.options = options or SftpOptions()

    @contextmanager
    def open(self, uri: str) -> Iterator[Sink]:
        """A sink whose file is renamed into place when the block exits cleanly, never otherwise."""
        with connected(uri, self.options) as (session, target):
            folder, name = posixpath.split(target.path)
            _make_folders(session, folder)
            temp = posixpath.join(folder, f".{name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
            upload = _Upload(session, temp, self.options.mode)
            try:
                yield upload
                upload.commit(uri, target.path)
            except OSError as exc:
                upload.discard()
                if exc is not upload.counter.error:
                    raise  # not ours (a source's connection reset, say): its own error stands
                raise session.failure(exc.__cause__ or exc, "uploading to") from exc
            except BaseException:
                upload.discard()
                raise

    @contextmanager
    def read(self, uri: str) -> Iterator[BinaryIO]:
        with connected(uri, self.options) as (session, target):
            try:
                remote = _sftp(session).open(target.path, "rb")
                remote.prefetch()  # ask for every block at once: a read is not one round trip each
            except _FAILURES as exc:
                raise session.failure(exc, "reading") from exc
            with remote:
                yield cast(BinaryIO, io.BufferedReader(_Reader(session, remote), 1 << 20))

    def delete(self, uri: str) -> None:
        """Remove a committed file (retention); a missing one is not an error."""
        with connected(uri, self.options) as (session, target):
            try:
                _sftp(session).remove(target.path)
            except FileNotFoundError:
                pass
            except _FAILURES as exc:
                raise session.failure(exc, "deleting") from exc

    def remove_leftovers(self, uri: str) -> None:
        """Temp files a killed run or a dropped connection left for `uri` or the files beside
        it (its parts, manifest, quarantine); never another export's, nor a committed file."""
        with connected(uri, self.options) as (session, target):
            folder, name = posixpath.split(target.path)
            ours = written_for(name)
            for found in _names_in(session, folder):
                named = _TEMP_NAME.fullmatch(found)
                if named and ours(named["final"]):
                    leftover = _join(folder, found)
                    with contextlib.suppress(FileNotFoundError):
                        _call(session, "removing a leftover of", _sftp(session).remove, leftover)

    def stored_parts(self, uri: str) -> list[str]:
        """The committed split parts of the export `uri` in its folder, any run's."""
        with connected(uri, self.options) as (session, target):
            folder, name = posixpath.split(target.path)
            ours = written_for(name)
            beside = {name, *(sibling_uri(name, s) for s in (MANIFEST, QUARANTINE))}
            base = uri[: len(uri) - len(name)]
            found = _names_in(session, folder)
            return sorted(base + n for n in found if ours(n) and n not in beside)


class _Upload:
    """The open sink: bytes go through the counter to the temp file on the server."""

    def __init__(self, session: Session, temp: str, mode: int | None):
        self.session, self.temp = session, temp
        sftp = _sftp(session)
        # "x": a fresh name, never someone else's file; pipelined: writes do not wait for
        # their acknowledgement one by one (close() collects them all).
        self.remote = _call(session, "creating a temp file for", sftp.open, temp, "wbx")
        if mode is not None:  # paramiko's open takes no mode: set before the first byte
            try:
                _call(session, "setting the permissions of", self.remote.chmod, mode)
            except RunError:
                self.discard()
                raise
        self.remote.set_pipelined(True)
        self.counter = CountingWriter(cast(BinaryIO, _Writer(session, self.remote)))
        self.stream = cast(BinaryIO, self.counter)
        self.written: WrittenFile | None = None

    def commit(self, uri: str, final: str) -> None:
        """Wait for the server to have every byte, then rename onto the final name."""
        session = self.session
        _call(session, "uploading to", self.remote.close)
        try:
            _sftp(session).posix_rename(self.temp, final)
        except OSError as exc:
            if exc.errno is not None or "unsupported" not in str(exc).lower():
                raise session.failure(exc, "renaming the upload onto") from exc
            # No posix-rename: SFTP's own rename, atomic too, refuses an existing name.
            _call(session, "renaming the upload onto", _sftp(session).rename, self.temp, final)
        except _FAILURES as exc:
            raise session.failure(exc, "renaming the upload onto") from exc
        digest = self.counter.digest.hexdigest()
        self.written = WrittenFile(uri, self.counter.bytes, digest)

    def discard(self) -> None:
        """Remove the temp while the connection lives; else the next run does."""
        with contextlib.suppress(*_FAILURES):
            self.remote.close()
        if self.session.alive():
            with contextlib.suppress(*_FAILURES):
                _sftp(self.session).remove(self.temp)


class _Writer(io.RawIOBase):
    """The remote file as a raw stream whose failures are OSErrors, as a local file's."""

    def __init__(self, session: Session, remote: paramiko.SFTPFile):
        self.session, self.remote = session, remote

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        try:
            self.remote.write(chunk)
        except _FAILURES as exc:
            # An OSError, as a file's would be: encoders let those through untouched (they
            # wrap other errors as format errors), and `open` words it with its cause.
            raise _Broken(str(exc)) from exc
        return len(chunk)

    def close(self) -> None:
        # The upload closes the remote file when committing; closing us must not.
        super().close()


class _Broken(OSError):
    """Writing to the server failed; the cause says how."""


class _Reader(io.RawIOBase):
    """The remote file as a raw stream whose failures are ours."""

    def __init__(self, session: Session, remote: paramiko.SFTPFile):
        self.session, self.remote = session, remote

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = _call(self.session, "reading", self.remote.read, len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _call(session: Session, doing: str, method: Any, *args: Any) -> Any:
    """`method(*args)`, its paramiko or socket failure raised as one of our errors."""
    try:
        return method(*args)
    except FileNotFoundError:
        raise
    except _FAILURES as exc:
        raise session.failure(exc, doing) from exc


def _sftp(session: Session) -> paramiko.SFTPClient:
    assert session.sftp is not None, "connected() opens the SFTP channel"
    return session.sftp


def _join(folder: str, name: str) -> str:
    return posixpath.join(folder, name) if folder else name


def _names_in(session: Session, folder: str) -> list[str]:
    """The names in `folder` on the server; none if it does not exist."""
    try:
        return _sftp(session).listdir(folder or ".")
    except FileNotFoundError:
        return []
    except _FAILURES as exc:
        raise session.failure(exc, "listing the folder of") from exc


def _make_folders(session: Session, folder: str) -> None:
    """Create `folder` and its missing parents, as a local export does."""
    sftp = _sftp(session)
    missing: list[str] = []
    while folder not in ("", "/", "."):
        try:
            sftp.stat(folder)
            break
        except FileNotFoundError:
            missing.append(folder)
            folder = posixpath.dirname(folder)
        except _FAILURES as exc:
            raise session.failure(exc, "creating the folder of") from exc
    for path in reversed(missing):
        try:
            sftp.mkdir(path)
        except _FAILURES as exc:
            with contextlib.suppress(*_FAILURES):
                sftp.stat(path)  # made meanwhile by another run: fine
                continue
            raise session.failure(exc, "creating the folder of") from exc
