"""The options of the `sftp://` destination, without paramiko (the spec parser needs them).

The login name is an option, not part of the URI the run records: every URI
exportctl keeps (ledger, manifests, messages) is scrubbed of its user information,
since a lone `token@` in a URL is usually a credential, and retention and
`verify` need the URI as it is. So `sftp://user@host/path` in a spec becomes
`sftp://host/path` with `user` among the options (recorded with the run).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import unquote, urlsplit, urlunsplit

from exportctl.errors import OptionError


@dataclass(frozen=True)
class SftpOptions:
    #: The environment variable holding the path of a private key file.
    key_file_env: str | None = None
    #: The environment variable holding that key file's passphrase.
    passphrase_env: str | None = None
    known_hosts: str = "~/.ssh/known_hosts"
    #: Used when the URI names no port.
    port: int = 22
    timeout: float = 30.0
    accept_unknown_host: bool = False
    #: The login name: from the URI (`sftp://user@host/...`); None: the local user's.
    user: str | None = None
    #: Not a spec key: set by the spec parser (0600) for an export that may hold secrets.
    mode: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise OptionError("port", f"`port` must be 1 to 65535, not {self.port}")
        if self.timeout <= 0:
            raise OptionError("timeout", "`timeout` must be positive")


def login_moved(uri: str, options: SftpOptions) -> tuple[str, SftpOptions]:
    """`sftp://user@host/p` → (`sftp://host/p`, options with `user`); a password is refused."""
    parts = urlsplit(uri)
    if parts.password is not None:
        raise ValueError(
            "a password does not belong in the URI: exportctl signs in with keys "
            "(an SSH agent, or a key file named by `destination.sftp.key_file_env`)"
        )
    if parts.username is None:
        return uri, options
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host)), replace(options, user=unquote(parts.username))
