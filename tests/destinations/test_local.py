"""Local writes are atomic: the whole file at its name, or nothing and no temp file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from exportctl.destinations import local
from exportctl.destinations.local import LocalDestination
from exportctl.errors import RunError


def _open_with_tmpfile(enabled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not enabled:
        monkeypatch.delattr(os, "O_TMPFILE", raising=False)


@pytest.fixture(params=[True, False], ids=["O_TMPFILE", "named-temp"])
def tmpfile_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    _open_with_tmpfile(request.param, monkeypatch)
    return bool(request.param)


def test_commit_writes_every_byte_and_reports_its_digest(tmp_path: Path, tmpfile_mode: bool):
    target = tmp_path / "deep" / "er" / "out.bin"
    payload = os.urandom(3 << 20)
    with LocalDestination().open(str(target)) as sink:
        sink.stream.write(payload[:1000])
        sink.stream.write(payload[1000:])
    assert target.read_bytes() == payload
    assert sink.written is not None
    assert sink.written.bytes == len(payload)
    assert sink.written.sha256 == hashlib.sha256(payload).hexdigest()
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.bin"]


def test_a_failure_leaves_no_file_and_no_temp(tmp_path: Path, tmpfile_mode: bool):
    target = tmp_path / "out.bin"
    with pytest.raises(ZeroDivisionError), LocalDestination().open(str(target)) as sink:
        sink.stream.write(b"half of it")
        _ = 1 / 0
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rewrite_keeps_the_previous_file(tmp_path: Path, tmpfile_mode: bool):
    target = tmp_path / "out.bin"
    target.write_bytes(b"yesterday's export")
    with pytest.raises(KeyboardInterrupt), LocalDestination().open(str(target)) as sink:
        sink.stream.write(b"today's, half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"yesterday's export"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_successful_rewrite_replaces_the_file(tmp_path: Path, tmpfile_mode: bool):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with LocalDestination().open(str(target)) as sink:
        sink.stream.write(b"new")
    assert target.read_bytes() == b"new"


def test_the_file_gets_ordinary_permissions(tmp_path: Path, tmpfile_mode: bool):
    target = tmp_path / "out.bin"
    umask = os.umask(0o022)
    try:
        with LocalDestination().open(str(target)) as sink:
            sink.stream.write(b"x")
    finally:
        os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o644


def test_an_unwritable_folder_is_a_run_error(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with (
        pytest.raises(RunError, match="cannot write"),
        LocalDestination().open(str(blocker / "out.bin")),
    ):
        pass


def test_uses_an_unnamed_temp_file_where_the_kernel_offers_one(tmp_path: Path):
    atomic = local.AtomicFile(tmp_path / "out.bin")
    try:
        assert atomic.temp_name is None
        assert list(tmp_path.iterdir()) == []
    finally:
        atomic.close()


def test_remove_leftovers_removes_the_temps_of_the_file_and_what_is_beside_it_only(tmp_path):
    """Another export's temp in the same folder may be being written right now."""
    tag = ".0badc0de.exportctl-tmp"
    ours = [
        ".pool.csv.gz",
        ".pool.part-00001.csv.gz",
        ".pool.part-00012.csv.gz",
        ".pool.csv.gz.manifest.json",
        ".pool.csv.gz.quarantine.jsonl",
    ]
    others = [
        ".pool.json",
        ".pool-old.csv.gz",
        ".pool.part-00001.json",
        ".poolside.part-00001.csv.gz",
        ".pool.csv.gz.bak",
        ".pool.csv",
    ]
    for name in ours + others:
        (tmp_path / f"{name}{tag}").write_bytes(b"half a row")
    (tmp_path / ".pool.csv.gz.notes.exportctl-tmp").write_bytes(b"not a temp of ours")
    (tmp_path / "pool.csv.gz").write_bytes(b"the committed export")

    LocalDestination().remove_leftovers(str(tmp_path / "pool.csv.gz"))

    left = sorted(p.name for p in tmp_path.iterdir())
    kept = [f"{name}{tag}" for name in others] + [".pool.csv.gz.notes.exportctl-tmp"]
    assert left == sorted([*kept, "pool.csv.gz"])
