"""Where a run's spec came from: the git commit of the folder it was read from."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_commit(folder: Path) -> str | None:
    """HEAD of the repository `folder` is in; None outside one, or without git."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None
