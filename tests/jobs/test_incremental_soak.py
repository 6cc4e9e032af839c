"""Soak: incremental runs killed with SIGKILL at random moments while a writer changes the source.

A writer process inserts and updates rows of a SQLite table, each change setting a
strictly increasing `version` (the cursor) and logging (id, version) in the same
transaction. Meanwhile `exportctl apply` runs again and again, most of them killed: after
a random delay, or the moment a new file lands in the destination (between the file's
commit and the ledger's). Once the writer stops, apply runs until nothing is new. Then
every change the exports saw is in exactly one committed file, the folder holds exactly
the files the ledger lists for succeeded runs, and each row's last export is its last
version.

The runs are real processes, forked from a server that has already imported exportctl
(multiprocessing's forkserver), so a run takes tens of milliseconds instead of a second
of imports, and the kills land inside the run rather than during its imports.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from exportctl.ledger.store import Ledger
from exportctl.plan import incremental
from tests.support.soak import RUN_MODULES, SEED, Soak, committed_files

INITIAL_ROWS = 300
CHANGES = 3000  # versions the writer reaches, the initial rows included
MIN_KILLS = 50
MAX_SECONDS = 50  # for the kill loop; the writer is paced to end well before
WRITER_PAUSE = 0.02  # seconds, at most, between the writer's transactions
SPEC = """\
version: 1
name: items
source: {{type: sql, url: "sqlite:///{db}", chunk_size: 40}}
query: {{table: items}}
incremental: {{cursor: version}}
format: jsonl
destination: "{out}/items-{{{{ run.id }}}}.jsonl"
{engine}"""
#: The same soak with each run's window cut into key ranges (fewer kills: a run is slower).
ENGINES = {
    "unpartitioned": ("", MIN_KILLS),
    "partitioned": ("engine: {partitions: {by: id, count: 3}}\n", 25),
}


# --- the writer (its own process) ------------------------------------------------------


def create_source(db: Path) -> None:
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")  # readers never wait for the writer
        conn.execute(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, version INTEGER NOT NULL UNIQUE,"
            " payload TEXT NOT NULL)"
        )
        conn.execute("CREATE TABLE history (id INTEGER NOT NULL, version INTEGER PRIMARY KEY)")
        conn.commit()


def write_changes(db: str, seed: int, changes: int, pause: float) -> None:
    """Insert or update rows until `version` reaches `changes`, a few per transaction."""
    rng = random.Random(seed)
    with closing(sqlite3.connect(db, isolation_level=None, timeout=60)) as conn:
        version = conn.execute("SELECT coalesce(max(version), 0) FROM history").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM items").fetchone()[0]
        while version < changes:
            conn.execute("BEGIN IMMEDIATE")
            for _ in range(min(rng.randint(1, 6), changes - version)):
                version += 1
                if rows < INITIAL_ROWS or rng.random() < 0.3:
                    rows += 1
                    id_ = rows
                    conn.execute(
                        "INSERT INTO items VALUES (?, ?, ?)", (id_, version, f"{id_}@{version}")
                    )
                else:
                    id_ = rng.randint(1, rows)
                    conn.execute(
                        "UPDATE items SET version = ?, payload = ? WHERE id = ?",
                        (version, f"{id_}@{version}", id_),
                    )
                conn.execute("INSERT INTO history VALUES (?, ?)", (id_, version))
            conn.execute("COMMIT")
            if rows >= INITIAL_ROWS:
                time.sleep(rng.uniform(0, pause))


# --- one run (its own process) ---------------------------------------------------------


# --- the soak --------------------------------------------------------------------------


@pytest.fixture(params=sorted(ENGINES))
def soak(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Soak]:
    create_source(tmp_path / "source.db")
    (tmp_path / "logs").mkdir()
    engine, kills = ENGINES[request.param]
    (tmp_path / "items.yaml").write_text(
        SPEC.format(db=tmp_path / "source.db", out=tmp_path / "out", engine=engine)
    )
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([*RUN_MODULES, __name__])
    yield Soak(tmp_path, random.Random(SEED), context, min_kills=kills)


def test_killed_runs_export_every_change_exactly_once(soak: Soak) -> None:
    print(f"\nsoak seed {SEED} (EXPORTCTL_SOAK_SEED to change it)")
    started = time.monotonic()
    writer = soak.context.Process(
        target=write_changes, args=(str(soak.db), SEED, CHANGES, WRITER_PAUSE)
    )
    writer.start()
    try:
        while writer.is_alive() or soak.kills.total() < soak.min_kills:
            assert time.monotonic() - started < MAX_SECONDS, (
                f"only {soak.kills.total()} kills in {MAX_SECONDS} s"
            )
            soak.run_and_kill()
    finally:
        writer.join(timeout=60)
    assert writer.exitcode == 0
    killing = time.monotonic() - started
    final_runs = soak.apply_until_nothing_new()

    exported = exported_changes(soak)
    history = source_history(soak.db)
    final = final_versions(soak.db)

    print(
        f"soak: {soak.runs} runs ({soak.kills.total()} killed, {soak.finished[0]} finished)"
        f" in {killing:.1f} s while the writer made {len(history)} changes to {len(final)} rows;"
        f" then {final_runs} more runs; {len(exported)} changes exported in"
        f" {len(committed_files(soak))} files; a run takes {soak.typical_run() * 1000:.0f} ms"
    )
    for moment, count in sorted(soak.kills.items()):
        print(f"  killed {moment}: {count}")
    assert soak.kills.total() >= soak.min_kills
    assert soak.kills["during the export"] > 0 and soak.kills["before the run was recorded"] > 0
    assert len(exported) == len(set(exported)), "a change exported twice"
    assert set(exported) <= history, "an export holds a change the source never made"
    greatest: dict[int, int] = {}
    for id_, version in exported:
        greatest[id_] = max(version, greatest.get(id_, 0))
    assert greatest == final, "a row's last export is not its last version"
    with closing(Ledger(soak.state)) as ledger:
        mark = ledger.watermark("items")
    assert mark is not None
    assert incremental.decode(mark["position"]) == (max(final.values()),)


# --- reading back ----------------------------------------------------------------------


def exported_changes(soak: Soak) -> list[tuple[int, int]]:
    """(id, version) of every row of every committed data file."""
    changes = []
    for name, entry in sorted(committed_files(soak).items()):
        if entry["role"] == "manifest":
            continue
        for line in (soak.out / name).read_text().splitlines():
            row = json.loads(line)
            assert row["payload"] == f"{row['id']}@{row['version']}"
            changes.append((row["id"], row["version"]))
    return changes


def source_history(db: Path) -> set[tuple[int, int]]:
    with closing(sqlite3.connect(db)) as conn:
        return set(conn.execute("SELECT id, version FROM history"))


def final_versions(db: Path) -> dict[int, int]:
    with closing(sqlite3.connect(db)) as conn:
        return dict(conn.execute("SELECT id, version FROM items"))
