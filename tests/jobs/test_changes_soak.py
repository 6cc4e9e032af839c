"""Soak: change-mode runs killed with SIGKILL at random while a writer changes the source.

A writer process inserts rows, updates them (moving the `updated_at` cursor or leaving
it alone), deletes them, re-inserts deleted keys and inserts late rows whose cursor is
below the newest: the changes a cursor export misses. Meanwhile `exportctl apply` of a
`mode: changes` spec runs again and again, most runs killed (after a random delay, or the
moment a file lands, between the file's commit and the ledger's). Once the writer stops,
apply runs until nothing is new. Then replaying every committed export in order, from
the first, must rebuild the table exactly: no row missing, none extra, none stale.

The kill loop, the forkserver and the reading of committed files are the cursor soak's
(tests/jobs/test_incremental_soak.py).
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
from typing import Any

import pytest

from exportctl.ledger.store import Ledger
from tests.support.soak import RUN_MODULES, SEED, Soak, apply_once, committed_files

INITIAL_ROWS = 300
TRANSACTIONS = 1500
MIN_RUNS = 60
MIN_KILLS = 50
MAX_SECONDS = 80  # for the kill loop (under load); the writer is paced to end well before
WRITER_PAUSE = 0.02  # seconds, at most, between the writer's transactions
SPEC = """\
version: 1
name: items
source: {{type: sql, url: "sqlite:///{db}", chunk_size: 50}}
query: {{table: items}}
incremental: {{mode: changes, key: [id]}}
format: jsonl
destination: "{out}/items-{{{{ run.id }}}}.jsonl"
"""
Row = tuple[int, str]  # (updated_at, payload)


# --- the writer (its own process) ------------------------------------------------------


def create_source(db: Path) -> None:
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")  # readers never wait for the writer
        conn.execute(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, updated_at INTEGER NOT NULL,"
            " payload TEXT NOT NULL)"
        )
        conn.commit()


def write_changes(db: str, seed: int, transactions: int, pause: float) -> None:
    """Every kind of change, a few per transaction; the counts go to `writer.json`."""
    rng = random.Random(seed)
    counts = dict.fromkeys(("insert", "moved", "unmoved", "delete", "late", "reinsert"), 0)
    with closing(sqlite3.connect(db, isolation_level=None, timeout=60)) as conn:
        clock, next_id, gone = 0, 1, []
        for done in range(transactions):
            conn.execute("BEGIN IMMEDIATE")
            for _ in range(rng.randint(1, 6)):
                clock += 1
                ids = [i for (i,) in conn.execute("SELECT id FROM items")]
                kind = "insert" if next_id <= INITIAL_ROWS else _kind(rng, ids, gone)
                counts[kind] += 1
                if kind in ("insert", "late", "reinsert"):
                    id_ = gone.pop(rng.randrange(len(gone))) if kind == "reinsert" else next_id
                    next_id += kind != "reinsert"
                    at = rng.randint(1, clock) if kind == "late" else clock
                    conn.execute("INSERT INTO items VALUES (?, ?, ?)", (id_, at, f"{id_}@{clock}"))
                elif kind == "delete":
                    id_ = rng.choice(ids)
                    conn.execute("DELETE FROM items WHERE id = ?", (id_,))
                    gone.append(id_)
                else:  # an update, moving the cursor or not
                    at = "?" if kind == "moved" else "updated_at"
                    args = (clock,) if kind == "moved" else ()
                    conn.execute(
                        f"UPDATE items SET updated_at = {at}, payload = ? WHERE id = ?",
                        (*args, f"@{clock}", rng.choice(ids)),
                    )
            conn.execute("COMMIT")
            if done * 6 > INITIAL_ROWS:
                time.sleep(rng.uniform(0, pause))
    Path(db).with_name("writer.json").write_text(json.dumps(counts))


def _kind(rng: random.Random, ids: list[int], gone: list[int]) -> str:
    kinds = ["insert", "moved", "unmoved", "delete", "late", "reinsert"]
    kind = rng.choices(kinds, weights=[20, 20, 20, 15, 15, 10])[0]
    if kind == "reinsert" and not gone:
        return "insert"
    if kind in ("moved", "unmoved", "delete") and not ids:
        return "insert"
    return kind


# --- the soak --------------------------------------------------------------------------


class ChangeSoak(Soak):
    """The cursor soak's kills, but some runs are left to finish: a change run reads the
    whole table, so it outlasts the cursor soak's guess of a run's length at first."""

    def run_and_kill(self) -> None:
        if self.rng.random() >= 0.2:
            return super().run_and_kill()
        started = time.monotonic()
        log = str(self.root / "logs" / f"{self.runs:04d}.log")
        args = (["apply", str(self.spec), "--state", self.state], log)
        process = self.context.Process(target=apply_once, args=args)
        process.start()
        self.runs += 1
        process.join(60)
        assert process.exitcode == 0, Path(log).read_text()
        self.finished[0] += 1
        self.durations.append(time.monotonic() - started)
        return None


@pytest.fixture
def soak(tmp_path: Path) -> Iterator[ChangeSoak]:
    create_source(tmp_path / "source.db")
    (tmp_path / "logs").mkdir()
    (tmp_path / "items.yaml").write_text(
        SPEC.format(db=tmp_path / "source.db", out=tmp_path / "out")
    )
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        [*RUN_MODULES, "exportctl.run.changes", "tests.jobs.test_incremental_soak", __name__]
    )
    yield ChangeSoak(tmp_path, random.Random(SEED), context)


def test_killed_change_runs_replay_to_the_table_exactly(soak: ChangeSoak) -> None:
    print(f"\nchange soak seed {SEED} (EXPORTCTL_SOAK_SEED to change it)")
    started = time.monotonic()
    writer = soak.context.Process(
        target=write_changes, args=(str(soak.db), SEED, TRANSACTIONS, WRITER_PAUSE)
    )
    writer.start()
    try:
        while writer.is_alive() or soak.kills.total() < MIN_KILLS or soak.runs < MIN_RUNS:
            assert time.monotonic() - started < MAX_SECONDS, (
                f"only {soak.runs} runs, {soak.kills.total()} kills in {MAX_SECONDS} s"
            )
            soak.run_and_kill()
    finally:
        writer.join(timeout=60)
    assert writer.exitcode == 0
    killing = time.monotonic() - started
    final_runs = soak.apply_until_nothing_new()

    exports = committed_exports(soak)
    table = final_table(soak.db)
    rebuilt = replay(exports)
    missing = table.keys() - rebuilt.keys()
    extra = rebuilt.keys() - table.keys()
    stale = {k for k in table.keys() & rebuilt.keys() if table[k] != rebuilt[k]}
    writes = json.loads((soak.root / "writer.json").read_text())
    ops = [row["_op"] for rows in exports for row in rows]
    print(
        f"change soak: {soak.runs} runs ({soak.kills.total()} killed, {soak.finished[0]} "
        f"finished) in {killing:.1f} s, then {final_runs} more; the writer made {writes}; "
        f"{len(exports)} committed exports hold {len(ops)} changes "
        f"({ops.count('insert')} inserts, {ops.count('update')} updates, "
        f"{ops.count('delete')} deletes); the table has {len(table)} rows; replayed: "
        f"{len(missing)} missing, {len(extra)} extra, {len(stale)} stale"
    )
    for moment, count in sorted(soak.kills.items()):
        print(f"  killed {moment}: {count}")
    assert soak.runs >= MIN_RUNS and soak.kills.total() >= MIN_KILLS
    assert soak.kills["during the export"] > 0
    assert (missing, extra, stale) == (set(), set(), set())
    assert ops.count("delete") and ops.count("update")
    only_current_snapshot(soak)


# --- reading back ----------------------------------------------------------------------


def committed_exports(soak: Soak) -> list[list[dict[str, Any]]]:
    """The rows of each succeeded run's data file, in the order the runs committed."""
    listed = committed_files(soak)  # also checks the folder holds exactly these files
    with closing(Ledger(soak.state)) as ledger:
        runs = [r for r in ledger.history("items", limit=100_000) if r["status"] == "succeeded"]
    runs.sort(key=lambda r: r["finished_at"])
    exports = []
    for run in runs:
        name = Path(run["destination"]).name
        assert name in listed, name
        lines = (soak.out / name).read_text().splitlines()
        exports.append([json.loads(line) for line in lines])
    return exports


def replay(exports: list[list[dict[str, Any]]]) -> dict[int, Row]:
    """The first export, with each later one applied; every change must fit the state."""
    state: dict[int, Row] = {}
    for number, rows in enumerate(exports):
        for row in rows:
            key, op = row["id"], row["_op"]
            assert number or op == "insert", f"the first export holds a {op}"
            assert (key in state) == (op != "insert"), f"export {number}: {row} does not fit"
            if op == "delete":
                assert row["updated_at"] is None and row["payload"] is None
                del state[key]
            else:
                state[key] = (row["updated_at"], row["payload"])
    return state


def final_table(db: Path) -> dict[int, Row]:
    with closing(sqlite3.connect(db)) as conn:
        return {
            i: (at, p) for i, at, p in conn.execute("SELECT id, updated_at, payload FROM items")
        }


def only_current_snapshot(soak: Soak) -> None:
    """Killed runs' snapshots are gone; the one left is the one the ledger names."""
    with closing(Ledger(soak.state)) as ledger:
        mark = ledger.watermark("items")
    assert mark is not None
    files = [p.name for p in (soak.root / "snapshots").rglob("*") if p.is_file()]
    assert files == json.loads(mark["position"])
