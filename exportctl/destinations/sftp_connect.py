"""Reaching an SSH server for the `sftp://` destination: the URI, host keys, keys, errors.

Keys come from an SSH agent (SSH_AUTH_SOCK) or from a key file whose path an
environment variable holds (`destination.sftp.key_file_env`): a spec never holds a
key, a passphrase or a password. The server's host key must be in known_hosts;
an unknown host is refused unless the spec says `accept_unknown_host: true`.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paramiko

from exportctl.destinations.sftp_options import SftpOptions
from exportctl.errors import RunError, TransientError, scrub

log = logging.getLogger("exportctl.destinations.sftp")


@dataclass(frozen=True)
class Target:
    """Where an `sftp://` URI points: the server, and the path as the server takes it."""

    user: str | None
    host: str
    port: int
    path: str

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"


def target_of(uri: str, options: SftpOptions) -> Target:
    """`sftp://user@host:2222/srv/a.csv` → its parts; `/~/a.csv` is relative to the home."""
    parts = urlsplit(uri)
    if parts.password is not None:
        raise RunError(
            f"{scrub(uri)}: a password does not belong in the URI; exportctl signs in with "
            "keys (an SSH agent, or a key file named by `destination.sftp.key_file_env`)"
        )
    try:
        port = parts.port or options.port
    except ValueError as exc:
        raise RunError(f"{scrub(uri)}: the port is not a number from 1 to 65535") from exc
    path = unquote(parts.path)
    path = path.removeprefix("/~/") if path.startswith("/~/") else path
    if not parts.hostname or not path.strip("/") or path.endswith("/"):
        raise RunError(f"{scrub(uri)} names no file: write it as sftp://user@host/path/file.csv")
    user = unquote(parts.username) if parts.username else options.user
    return Target(user, parts.hostname, port, path)


class _UnknownHost(paramiko.MissingHostKeyPolicy):
    """Refuse a host known_hosts does not list, or (if the spec allows it) warn and go on."""

    def __init__(self, options: SftpOptions):
        self.options = options

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        seen = f"{key.get_name()} {key.fingerprint}"
        if not self.options.accept_unknown_host:
            raise RunError(
                f"the SSH server {hostname} is not in {self.options.known_hosts} (its key: "
                f"{seen}): refused; add it (ssh-keyscan, after checking the fingerprint) "
                "or set `destination.sftp.accept_unknown_host: true`"
            )
        log.warning(
            "the SSH server %s is not in %s; accepted anyway (%s) because the spec sets "
            "accept_unknown_host: anyone able to intercept the connection can read the export",
            hostname,
            self.options.known_hosts,
            seen,
        )


def _private_key(options: SftpOptions) -> paramiko.PKey | None:
    """The key file the environment names, if the spec names a variable; never its text."""
    if options.key_file_env is None:
        return None
    path = os.environ.get(options.key_file_env)
    if not path:
        raise RunError(
            f"`destination.sftp.key_file_env` names ${options.key_file_env}, "
            "which is not set: set it to the path of the private key file"
        )
    passphrase = os.environ.get(options.passphrase_env) if options.passphrase_env else None
    try:
        path = os.path.expanduser(path)
        found = os.stat(path)
        return _loaded(path, (found.st_ino, found.st_mtime_ns, found.st_size), passphrase)
    except paramiko.PasswordRequiredException as exc:
        raise RunError(
            f"the key file in ${options.key_file_env} is encrypted: name the variable holding "
            "its passphrase in `destination.sftp.passphrase_env`"
        ) from exc
    except (paramiko.SSHException, OSError, ValueError) as exc:
        # The library's text may quote the file; our words say which variable, not the key.
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a readable key"
        raise RunError(
            f"cannot load the key file in ${options.key_file_env}: {reason} (or a wrong passphrase)"
        ) from exc


@functools.lru_cache(maxsize=4)
def _loaded(path: str, version: tuple[int, int, int], passphrase: str | None) -> paramiko.PKey:
    """The key in `path` as of `version` (its inode, mtime and size): decrypting one costs
    about 0.3 s (bcrypt), and a split export connects once per part. Failures are not kept."""
    return paramiko.PKey.from_path(path, passphrase.encode() if passphrase is not None else None)


class Session:
    """One SSH connection and its SFTP channel; `failure` words any error for a message."""

    def __init__(self, target: Target, options: SftpOptions, uri: str):
        self.target, self.options, self.where = target, options, scrub(uri)
        self.client = paramiko.SSHClient()
        self.sftp: paramiko.SFTPClient | None = None

    def connect(self) -> paramiko.SFTPClient:
        options, target = self.options, self.target
        known = os.path.expanduser(options.known_hosts)
        try:
            self.client.load_host_keys(known)
        except FileNotFoundError:
            if not options.accept_unknown_host:
                raise RunError(
                    f"no known_hosts file at {options.known_hosts} to check the SSH server "
                    f"{target.server} against: create it or set `destination.sftp.known_hosts`"
                ) from None
        self.client.set_missing_host_key_policy(_UnknownHost(options))
        pkey = _private_key(options)
        try:
            self.client.connect(
                target.host,
                target.port,
                username=target.user,
                pkey=pkey,
                allow_agent=True,
                look_for_keys=False,  # only the agent and the key the spec names
                timeout=options.timeout,
                banner_timeout=options.timeout,
                auth_timeout=options.timeout,
                channel_timeout=options.timeout,
            )
            self.sftp = self.client.open_sftp()
            self.sftp.get_channel().settimeout(options.timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise self.failure(exc, "connecting for") from exc
        return self.sftp

    def alive(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def failure(self, exc: BaseException, doing: str) -> RunError:
        """`exc` as one of our errors: transient where a retry may pass; never a secret."""
        kind, reason = self._classify(exc)
        return kind(f"{doing} {self.where} failed: {reason}")

    def _classify(self, exc: BaseException) -> tuple[type[RunError], str]:
        server = self.target.server
        if isinstance(exc, paramiko.BadHostKeyException):
            return RunError, (
                f"the SSH server {server} showed host key {exc.key.get_name()} "
                f"{exc.key.fingerprint}, not the one {self.options.known_hosts} holds for it "
                f"({exc.expected_key.fingerprint}): refused, as it may not be that server; "
                "if its key was changed on purpose, update known_hosts"
            )
        if isinstance(exc, paramiko.AuthenticationException):
            offered = ["the SSH agent's keys" if os.environ.get("SSH_AUTH_SOCK") else "no agent"]
            if self.options.key_file_env:
                offered.append(f"the key file in ${self.options.key_file_env}")
            user = self.target.user or "the current user"
            return RunError, f"{server} did not accept {user} with {' or '.join(offered)}"
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
            reasons = {e.strerror or str(e) for e in exc.errors.values()}
            return TransientError, f"could not connect to {server} ({', '.join(sorted(reasons))})"
        if isinstance(exc, socket.timeout | TimeoutError):
            return TransientError, f"no answer from {server} within {self.options.timeout:g} s"
        if isinstance(exc, OSError) and exc.errno in (errno.ENOENT, errno.EACCES):
            return RunError, exc.strerror or os.strerror(exc.errno)
        if isinstance(exc, paramiko.SSHException | EOFError) or not self.alive():
            return TransientError, f"the connection to {server} broke off ({_text(exc)})"
        if isinstance(exc, OSError) and exc.errno is not None:
            return TransientError, f"could not reach {server} ({os.strerror(exc.errno)})"
        return RunError, f"the server said: {_text(exc)}"

    def close(self) -> None:
        self.client.close()


def _text(exc: BaseException) -> str:
    return scrub(str(exc)) or type(exc).__name__


@contextmanager
def connected(uri: str, options: SftpOptions) -> Iterator[tuple[Session, Target]]:
    """A live session to the server `uri` names, closed after."""
    target = target_of(uri, options)
    session = Session(target, options, uri)
    try:
        session.connect()
        yield session, target
    finally:
        session.close()
