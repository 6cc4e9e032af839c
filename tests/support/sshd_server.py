"""A real OpenSSH server on loopback for the SFTP tests, with its own host key and user key.

Register with `pytest_plugins = ["tests.support.sshd_server"]`. sshd runs in the foreground
(`-D -e`) from a config of its own: one authorized key (a temp file), no PAM, the
in-process SFTP server. It runs as whoever runs the tests (root in CI, hence
`PermitRootLogin prohibit-password`): the exports land in local temp folders.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require
from tests.support.servers import LOOPBACK, free_port

SSHD = "/usr/sbin/sshd"
#: The user key's passphrase: no message, log or ledger row may contain it.
PASSPHRASE = "pass-phrase-never-in-a-message"


@dataclass
class SshServer:
    port: int
    folder: Path
    known_hosts: Path
    key_file: Path
    process: subprocess.Popen[bytes]
    user: str = getpass.getuser()

    def uri(self, path: Path | str) -> str:
        return f"sftp://{self.user}@{LOOPBACK}:{self.port}{path}"

    def recorded(self, path: Path | str) -> str:
        """The URI as a run records it: the login name moved to the options."""
        return f"sftp://{LOOPBACK}:{self.port}{path}"

    def sessions(self) -> list[int]:
        """The pids of sshd's per-connection processes: the listener's descendants."""
        found, parents = [], [self.process.pid]
        while parents:
            children = subprocess.run(
                ["pgrep", "-P", ",".join(map(str, parents))],
                capture_output=True,
                text=True,
                check=False,
            )
            parents = [int(pid) for pid in children.stdout.split()]
            found += parents
        return found


def _keygen(path: Path, passphrase: str = "") -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "", "-f", str(path)],
        check=True,
    )
    return path.with_suffix(".pub").read_text().strip()


def _config(folder: Path, port: int) -> Path:
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress {LOOPBACK}\nHostKey {folder / 'host_key'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPidFile none\n"
        "StrictModes no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nSubsystem sftp internal-sftp\n"
        "LogLevel ERROR\n"
    )
    return config


def _wait_for_banner(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1) as probe:
                if probe.recv(64).startswith(b"SSH-2.0"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("sshd did not answer within 10 s")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    require(os.access(SSHD, os.X_OK) and bool(shutil.which("ssh-keygen")), "no OpenSSH server")
    folder = tmp_path_factory.mktemp("sshd")
    host_key = _keygen(folder / "host_key")
    # The user key, encrypted (its passphrase from the environment), and one for an agent.
    authorized = [_keygen(folder / "user_key", PASSPHRASE), _keygen(folder / "agent_key")]
    (folder / "authorized_keys").write_text("\n".join(authorized) + "\n")
    port = free_port()
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(f"[{LOOPBACK}]:{port} {host_key}\n")
    with contextlib.suppress(OSError):  # sshd's privilege separation folder (as root)
        Path("/run/sshd").mkdir(exist_ok=True)
    command = [SSHD, "-D", "-e", "-f", str(_config(folder, port))]
    with open(folder / "sshd.log", "wb") as log:
        process = subprocess.Popen(command, stderr=log)
    try:
        _wait_for_banner(port, process)
        yield SshServer(port, folder, known_hosts, folder / "user_key", process)
    finally:
        process.terminate()
        process.wait(10)
