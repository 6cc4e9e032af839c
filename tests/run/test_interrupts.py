"""An export killed midway leaves no file at its destination and no temp file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exportctl.demo.build import init_demo

SPEC = """\
version: 1
name: big-backup
source: {{type: sql, url: "sqlite:///{db}", chunk_size: 2000}}
query: {{table: proxy_identities}}
format: json
destination: "{out}/big-backup.json.gz"
"""


@pytest.fixture(scope="module")
def big_spec(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("interrupts")
    init_demo(root / "demo", proxies=150_000, metrics=10, log_lines=10)
    out = root / "out"
    spec = root / "big-backup.yaml"
    spec.write_text(SPEC.format(db=root / "demo" / "system.db", out=out))
    return spec, out


def _open_files_under(pid: int, folder: Path) -> list[str]:
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found


def _start_and_catch_midway(spec: Path, out: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "exportctl", "apply", str(spec)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if out.exists() and _open_files_under(process.pid, out):
            time.sleep(0.3)  # well into the data, not at its first byte
            return process
        time.sleep(0.01)
    process.kill()
    pytest.fail("the export finished or stalled before it could be interrupted")


@pytest.mark.parametrize(
    ("signum", "exit_code"), [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGTERM, 143)]
)
def test_interrupted_export_leaves_nothing_behind(big_spec, signum, exit_code):
    spec, out = big_spec
    process = _start_and_catch_midway(spec, out)
    assert process.poll() is None, "the export ended before the signal"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == exit_code, stderr.decode()
    assert sorted(p.name for p in out.iterdir()) == []


def test_the_same_export_left_alone_completes(big_spec):
    spec, out = big_spec
    result = subprocess.run(
        [sys.executable, "-m", "exportctl", "apply", str(spec)], capture_output=True, timeout=120
    )
    assert result.returncode == 0, result.stderr.decode()
    assert sorted(p.name for p in out.iterdir()) == [
        "big-backup.json.gz",
        "big-backup.json.gz.manifest.json",
    ]
