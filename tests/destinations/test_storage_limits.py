"""Running out of room fails cleanly: `max_bytes`, a full disk, a file-size limit, free space."""

from __future__ import annotations

import gzip
import json
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from exportctl.demo.build import init_demo
from tests.conftest import require

SPEC = """\
version: 1
name: pool
source: {{type: sql, url: "sqlite:///{db}"}}
query: {{table: proxy_identities}}
format: csv
destination: {destination}
"""


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("storage")
    init_demo(root / "demo", proxies=20_000, metrics=10, log_lines=10)
    return root / "demo" / "system.db"


def _spec(tmp_path: Path, db: Path, destination: str) -> Path:
    spec = tmp_path / "pool.yaml"
    spec.write_text(SPEC.format(db=db, destination=destination))
    return spec


def _apply(spec: Path, *extra: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exportctl", "apply", str(spec), "--json", *extra],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def _failure(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stderr
    (result,) = json.loads(done.stdout)
    assert result["status"] == "failed"
    return result["error"]


def test_max_bytes_refuses_an_export_that_would_store_more(tmp_path, demo_db):
    out = tmp_path / "out"
    spec = _spec(tmp_path, demo_db, f'{{uri: "{out}/pool.csv.gz", max_bytes: 20KB}}')
    error = _failure(_apply(spec))
    assert "max_bytes" in error and "20,000 bytes" in error
    assert not out.exists() or list(out.iterdir()) == []


def test_max_bytes_counts_every_part_and_removes_the_finished_ones(tmp_path, demo_db):
    out = tmp_path / "out"
    destination = f'{{uri: "{out}/pool.csv", max_bytes: 1MB, split: {{rows: 2000}}}}'
    error = _failure(_apply(_spec(tmp_path, demo_db, destination)))
    assert "max_bytes" in error
    assert list(out.iterdir()) == []  # parts committed before the limit are gone too


def test_max_bytes_lets_an_export_within_it_through(tmp_path, demo_db):
    out = tmp_path / "out"
    spec = _spec(tmp_path, demo_db, f'{{uri: "{out}/pool.csv.gz", max_bytes: 50MiB}}')
    done = _apply(spec)
    assert done.returncode == 0, done.stderr
    with gzip.open(out / "pool.csv.gz") as stream:
        assert len(pd.read_csv(stream)) == 20_000


def _limit_file_size(size: int):
    def apply_limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return apply_limit


def test_a_file_size_limit_hit_midway_fails_cleanly(tmp_path, demo_db):
    """`ulimit -f`: the kernel refuses the write past the limit (Python ignores SIGXFSZ)."""
    out = tmp_path / "out"
    spec = _spec(tmp_path, demo_db, f'"{out}/pool.csv"')
    done = _apply(spec, preexec_fn=_limit_file_size(256 * 1024))
    error = _failure(done)
    assert "size limit" in error and "nothing was written" in error
    assert list(out.iterdir()) == []  # no file, no temp file


def _in_small_filesystem(script: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run `script` with a 128 KiB tmpfs mounted on `folder`, in a private mount namespace."""
    unshare = shutil.which("unshare")
    require(unshare is not None, "unshare (util-linux) is needed to mount a small file system")
    probe = subprocess.run(
        [unshare, "--user", "--map-root-user", "--mount", "true"], capture_output=True
    )
    require(probe.returncode == 0, f"no user namespaces here: {probe.stderr!r}")
    folder.mkdir(parents=True, exist_ok=True)
    wrapped = f"mount -t tmpfs -o size=128k tmpfs '{folder}' && {script}"
    return subprocess.run(
        [unshare, "--user", "--map-root-user", "--mount", "sh", "-c", wrapped],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("name", ["pool.csv", "pool.csv.gz", "pool.csv.zst", "pool.csv.zip"])
def test_a_full_disk_midway_fails_cleanly(tmp_path, demo_db, name):
    """With each codec: gzip's writer threads once turned this error into a hang."""
    out = tmp_path / "out"
    spec = _spec(tmp_path, demo_db, f'"{out}/{name}"')
    command = f"'{sys.executable}' -m exportctl apply '{spec}' --json; echo exit=$?; ls -A '{out}'"
    done = _in_small_filesystem(command, out)
    lines = done.stdout.strip().splitlines()
    exit_line = next(i for i, line in enumerate(lines) if line.startswith("exit="))
    assert lines[exit_line] == "exit=1", done.stdout + done.stderr
    (result,) = json.loads("\n".join(lines[:exit_line]))
    assert "the disk is full" in result["error"]
    assert lines[exit_line + 1 :] == []  # the folder is empty: no file, no temp file


def test_free_space_is_checked_before_writing(tmp_path, demo_db):
    """The last export's size is the estimate; a folder with less room fails before writing."""
    out = tmp_path / "out"
    spec = _spec(tmp_path, demo_db, f'"{out}/pool.csv"')
    assert _apply(spec).returncode == 0  # about 2 MB: the estimate
    (out / "pool.csv").unlink()
    command = f"'{sys.executable}' -m exportctl apply '{spec}' --json; ls -A '{out}'"
    done = _in_small_filesystem(command, out)
    (result,) = json.loads(done.stdout[: done.stdout.rindex("]") + 1])
    assert result["status"] == "failed"
    assert "not enough free space" in result["error"]
    assert "bytes free" in result["error"]
    assert done.stdout.rstrip().endswith("]")  # `ls` listed nothing
