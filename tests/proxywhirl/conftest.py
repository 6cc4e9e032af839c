"""The real proxywhirl, from PyPI, in a virtual environment of its own.

proxywhirl pins many packages (FastAPI, SQLModel, pydantic...), so it never goes into
exportctl's venv: a session fixture builds `.cache/proxywhirl-venv-<version>/` once (kept
between runs, rebuilt only when the pinned version changes or a build was cut short) and
runs `build_installation.py` there, which writes a proxywhirl installation with
proxywhirl's own storage, cache, logging and config code.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.conftest import require

VERSION = "0.3.3"
REPO = Path(__file__).parents[2]
CACHE = REPO / ".cache"
VENV = CACHE / f"proxywhirl-venv-{VERSION}"
#: Written last: a venv without it was cut short and is built again.
COMPLETE = VENV / ".complete"
BUILDER = Path(__file__).with_name("build_installation.py")
BUILD_TIMEOUT = 900
LOCAL_ZONE = "Europe/Berlin"


def _build_venv() -> str | None:
    """Build the venv unless a complete one is there; the reason it failed, or None."""
    CACHE.mkdir(exist_ok=True)
    # pytest-xdist workers share the cache: one builds, the others wait for it.
    with open(CACHE / f"proxywhirl-venv-{VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if COMPLETE.exists():
            return None
        shutil.rmtree(VENV, ignore_errors=True)
        steps = (
            [sys.executable, "-m", "venv", str(VENV)],
            [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", f"proxywhirl=={VERSION}"],
        )  # fmt: skip
        for step in steps:
            try:
                done = subprocess.run(step, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"building proxywhirl's venv failed: {exc}"
            if done.returncode != 0:
                return f"building proxywhirl's venv failed: {done.stderr[-2000:]}"
        COMPLETE.write_text(VERSION + "\n")
    return None


@pytest.fixture(scope="session")
def proxywhirl_python() -> Path:
    """The interpreter of a venv holding proxywhirl==VERSION (skips without PyPI, unless CI)."""
    problem = _build_venv()
    require(problem is None, problem or "")
    return VENV / "bin" / "python"


@dataclass(frozen=True)
class Installation:
    """A proxywhirl installation under `root/demo`, laid out as `exportctl demo init` does."""

    root: Path
    key: str

    @property
    def demo(self) -> Path:
        return self.root / "demo"

    @property
    def env(self) -> dict[str, str]:
        return {"PROXYWHIRL_CACHE_ENCRYPTION_KEY": self.key, "EXPORTCTL_DEMO": str(self.demo)}


@pytest.fixture(scope="session")
def proxywhirl_installation(
    proxywhirl_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Installation]:
    root = tmp_path_factory.mktemp("proxywhirl")
    key = Fernet.generate_key().decode()
    # loguru's logfmt time is the host's local time, without an offset: a zone not UTC's.
    env = {**os.environ, "PROXYWHIRL_CACHE_ENCRYPTION_KEY": key, "TZ": LOCAL_ZONE}
    done = subprocess.run(
        [str(proxywhirl_python), str(BUILDER), str(root / "demo")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert json.loads(done.stdout.splitlines()[-1])["proxies"] > 0
    yield Installation(root, key)
