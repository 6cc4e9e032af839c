"""Owner-only files: an export that may hold secrets, the ledger and its state, from byte one."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from exportctl.cli.main import main
from exportctl.errors import SpecError
from exportctl.ledger.store import Ledger
from exportctl.plan.compiler import compile_plan
from exportctl.run import runner
from exportctl.run.result import Observer
from exportctl.spec.load import load_spec

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
ROWS = 3000


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    """A proxies table with encrypted-looking credentials: the pair makes rows a proxy's."""
    path = tmp_path / "pool.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE proxies (id INTEGER, host TEXT, username TEXT, password TEXT)")
        db.executemany(
            "INSERT INTO proxies VALUES (?, ?, ?, ?)",
            ((i, f"10.0.{i // 250}.{i % 250}", f"u{i}", f"p{i}") for i in range(ROWS)),
        )
    return path


def write_spec(folder: Path, pool: Path, destination: Any, **more: Any) -> Path:
    doc = {
        "version": 1,
        "name": "pool",
        "source": {"type": "sql", "url": f"sqlite:///{pool}", "chunk_size": 25},
        "query": {"table": "proxies", "order_by": ["id"]},
        "format": "jsonl",
        "destination": destination,
        **more,
    }
    path = folder / "pool.yaml"
    path.write_text(json.dumps(doc))
    return path


class SlowObserver(Observer):
    """Slows the export down between chunks, so the poller sees it mid-write many times."""

    def advance(self, rows: int) -> None:
        threading.Event().wait(0.004)


class Poller(threading.Thread):
    """Watches the destination folder and this process's open files: every mode it sees."""

    def __init__(self, folder: Path):
        super().__init__(daemon=True)
        self.folder = folder
        self.stop = threading.Event()
        self.seen: list[tuple[str, int]] = []

    def run(self) -> None:
        while not self.stop.is_set():
            self.look()

    def look(self) -> None:
        for entry in os.scandir(self.folder) if self.folder.is_dir() else ():
            with contextlib.suppress(FileNotFoundError):  # renamed between listing and looking
                self.seen.append((entry.name, stat.S_IMODE(entry.stat().st_mode)))
        for fd in os.listdir("/proc/self/fd"):  # an O_TMPFILE file has no name to list
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
                if target.startswith(f"{self.folder}/") and target.endswith("(deleted)"):
                    self.seen.append(("<unnamed>", mode_of(f"/proc/self/fd/{fd}")))
            except (FileNotFoundError, PermissionError):
                pass


@pytest.mark.parametrize("unnamed", [True, False], ids=["O_TMPFILE", "named temp file"])
def test_a_secret_export_is_never_readable_by_others_while_written(
    tmp_path: Path, pool: Path, monkeypatch: pytest.MonkeyPatch, unnamed: bool
) -> None:
    if not unnamed:
        monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    out = tmp_path / "out"
    spec = load_spec(write_spec(tmp_path, pool, "out/pool.jsonl", credentials="keep"), env={})
    poller = Poller(out)
    with umask(0):
        poller.start()
        try:
            result = runner.run(compile_plan(spec, now=NOW, run_id="r1"), SlowObserver())
        finally:
            poller.stop.set()
            poller.join()

    assert result.status == "succeeded", result.error
    writing = [m for name, m in poller.seen if name == "<unnamed>" or name.endswith("-tmp")]
    assert len(writing) > 20, "the poller never saw the file being written"
    assert set(writing) == {0o600}
    assert {m for _, m in poller.seen} == {0o600}  # the final file and manifest too
    assert mode_of(out / "pool.jsonl") == mode_of(out / "pool.jsonl.manifest.json") == 0o600


@pytest.mark.parametrize(
    ("destination", "mask", "expected"),
    [
        ("out/pool.jsonl", 0, 0o666),  # no mode, no secrets: as the umask leaves it
        ("out/pool.jsonl", 0o022, 0o644),
        ({"uri": "out/pool.jsonl", "mode": "0640"}, 0, 0o640),  # exactly, whatever the umask
        ({"uri": "out/pool.jsonl", "mode": "0640"}, 0o077, 0o640),
        ({"uri": "out/pool.jsonl", "mode": "600"}, 0, 0o600),
    ],
)
def test_a_spec_mode_applies_to_exports_without_secrets(
    tmp_path: Path, pool: Path, destination: Any, mask: int, expected: int
) -> None:
    spec = load_spec(write_spec(tmp_path, pool, destination), env={})
    with umask(mask):
        result = runner.run(compile_plan(spec, now=NOW, run_id="r1"))

    assert result.status == "succeeded", result.error
    out = tmp_path / "out"
    assert mode_of(out / "pool.jsonl") == mode_of(out / "pool.jsonl.manifest.json") == expected


def test_parts_and_quarantine_of_a_secret_export_are_owner_only(tmp_path: Path, pool: Path) -> None:
    doc = write_spec(
        tmp_path,
        pool,
        {"uri": "out/pool.jsonl", "split": {"rows": 1000}},
        credentials="keep",
        fields=[{"name": "id", "max": 1499}, "host", "username", "password"],
        validation={"on_invalid": "quarantine"},
    )
    spec = load_spec(doc, env={})
    with umask(0):
        result = runner.run(compile_plan(spec, now=NOW, run_id="r1"))

    assert result.status == "succeeded", result.error
    written = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in written if "quarantine" in p.name] == ["pool.jsonl.quarantine.jsonl"]
    assert len(written) >= 3
    assert {p.name: mode_of(p) for p in written} == {p.name: 0o600 for p in written}


def test_a_looser_mode_on_a_secret_export_is_a_spec_error(tmp_path: Path, pool: Path) -> None:
    path = write_spec(
        tmp_path, pool, {"uri": "out/pool.jsonl", "mode": "0644"}, credentials="reveal"
    )
    env = {"PROXYWHIRL_CACHE_ENCRYPTION_KEY": "7-x3cVUZxP4qXpS9T6QYZk0mkyBq6D9dqvJCdYrQDqY="}

    with pytest.raises(SpecError, match=r"\$\.destination\.mode: .*owner-only \(0600\)"):
        load_spec(path, env=env)
    assert CliRunner().invoke(main, ["validate", str(path)], env=env).exit_code == 2
    stricter = write_spec(
        tmp_path, pool, {"uri": "out/p.jsonl", "mode": "0400"}, credentials="keep"
    )
    assert load_spec(stricter, env={}).destination.options.mode == 0o400


def test_a_mode_for_a_remote_destination_is_a_spec_error(tmp_path: Path, pool: Path) -> None:
    path = write_spec(tmp_path, pool, {"uri": "s3://bucket/pool.jsonl", "mode": "0600"})

    with pytest.raises(SpecError, match=r"\$\.destination\.mode: .*local files only"):
        load_spec(path, env={})


def test_the_ledger_and_its_wal_are_owner_only(tmp_path: Path) -> None:
    state = tmp_path / "state" / "state.db"
    with umask(0):
        ledger = Ledger(f"sqlite:///{state}")
        try:
            ledger.history()  # a read after the migration: the WAL and its index exist
            files = {p.name: mode_of(p) for p in state.parent.iterdir()}
        finally:
            ledger.close()

    assert {"state.db", "state.db-wal", "state.db-shm"} <= set(files)
    assert files == dict.fromkeys(files, 0o600)
    assert mode_of(state.parent) == 0o700


def test_a_ledger_left_readable_is_made_owner_only(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    Ledger(f"sqlite:///{state}").close()
    state.chmod(0o644)

    Ledger(f"sqlite:///{state}").close()

    assert mode_of(state) == 0o600


def test_apply_leaves_the_default_ledger_owner_only(
    tmp_path: Path, pool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EXPORTCTL_STATE")
    monkeypatch.chdir(tmp_path)
    spec = write_spec(tmp_path, pool, "out/pool.jsonl")
    with umask(0):
        result = CliRunner().invoke(main, ["apply", str(spec)])

    assert result.exit_code == 0, result.output
    state = tmp_path / "xdg-state" / "exportctl"  # no .exportctl/ above: the user's default
    assert mode_of(state) == 0o700
    assert {p.name: mode_of(p) for p in state.iterdir()} == {p.name: 0o600 for p in state.iterdir()}
    assert mode_of(tmp_path / "out" / "pool.jsonl") == 0o666  # not secret: the umask's


@pytest.mark.parametrize(("redact", "expected"), [(False, 0o600), (None, 0o666)])
def test_a_config_export_with_redaction_off_is_owner_only(
    tmp_path: Path, redact: bool | None, expected: int
) -> None:
    """The `config` source redacts by default; turned off, its export holds the secrets."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "app.toml").write_text('[cache]\nencryption_key = "k3y-value"\n')
    doc: dict[str, Any] = {
        "version": 1,
        "name": "settings",
        "source": {"type": "config", "path": "config"},
        "format": "yaml",
        "destination": "out/settings.yaml",
    }
    if redact is not None:
        doc["redact"] = redact
    (tmp_path / "settings.yaml").write_text(json.dumps(doc))
    spec = load_spec(tmp_path / "settings.yaml", env={})
    with umask(0):
        result = runner.run(compile_plan(spec, now=NOW, run_id="r1"))

    assert result.status == "succeeded", result.error
    written = tmp_path / "out" / "settings.yaml"
    assert ("k3y-value" in written.read_text()) == (redact is False)
    assert mode_of(written) == mode_of(f"{written}.manifest.json") == expected
