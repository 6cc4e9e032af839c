"""exportctl run on a pseudo-terminal, as a person sees it."""

from __future__ import annotations

import os
import subprocess
import sys


def run_on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run exportctl with stdout and stderr on a pseudo-terminal; return what it showed."""
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "exportctl", *args], stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")
