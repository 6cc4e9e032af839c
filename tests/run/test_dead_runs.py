"""Split exports to a fixed name, killed by SIGKILL at random moments (seeded).

Whatever the moment, a reader who follows the manifest gets exactly one run's rows:
every id once, all from the same run. After the next run that completes, nothing is
left that the manifest does not list (no part of a dead or replaced run, no temp file).

Each run is a forked child of the test process, so a kill costs no interpreter start.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import sqlite3
import subprocess
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exportctl.destinations.uris import part_uri, parts_tag
from exportctl.jobs import job as jobs
from exportctl.ledger.runs import RunRecord
from exportctl.ledger.store import Ledger
from exportctl.plan.compiler import new_run_id
from exportctl.run.result import Observer
from exportctl.spec.load import load_specs
from tests.support.killed_runs import fork_apply, set_generation, timed_run

ROWS = 6000
SPLIT = 500
SEED = 20261207
KILLS = 16

SPEC = """\
version: 1
name: {name}
source: {{type: sql, url: "sqlite:///{db}", chunk_size: 250}}
query: {{table: items}}
format: csv
destination: {{uri: "{out}/data.csv", split: {{rows: {split}}}}}
"""


def _follow_manifest(out: Path) -> tuple[int, int] | None:
    """The rows and the generation a reader gets from the manifest; fails on anything else."""
    try:
        manifest = json.loads((out / "data.csv.manifest.json").read_bytes())
    except FileNotFoundError:
        return None
    ids: list[int] = []
    generations: set[str] = set()
    for index, part in enumerate(manifest["parts"]):
        raw = Path(part["uri"]).read_bytes()  # a missing part fails the test here
        assert hashlib.sha256(raw).hexdigest() == part["sha256"], part["uri"]
        lines = csv.reader(io.StringIO(raw.decode()))
        if index == 0:
            assert next(lines) == ["id", "gen", "pad"]
        rows = list(lines)
        assert len(rows) == part["rows"]
        ids += [int(row[0]) for row in rows]
        generations |= {row[1] for row in rows}
    assert sorted(ids) == list(range(1, ROWS + 1)), "rows missing or doubled"
    assert len(generations) == 1, f"rows of several runs: {sorted(generations)}"
    return len(ids), int(generations.pop())


def _only_what_the_manifest_lists(out: Path) -> None:
    manifest = json.loads((out / "data.csv.manifest.json").read_bytes())
    listed = {Path(p["uri"]).name for p in manifest["parts"]} | {"data.csv.manifest.json"}
    assert {p.name for p in out.iterdir()} == listed


@pytest.fixture
def fixed_name(tmp_path: Path) -> tuple[Path, Path, Path, str]:
    db = tmp_path / "source.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, gen INTEGER, pad TEXT)")
        conn.executemany(
            "INSERT INTO items VALUES (?, 0, ?)", [(i, "p" * 30) for i in range(1, ROWS + 1)]
        )
    spec = tmp_path / "fixed.yaml"
    spec.write_text(SPEC.format(name="fixed", db=db, out=tmp_path / "out", split=SPLIT))
    return spec, tmp_path / "out", db, f"sqlite:///{tmp_path / 'state.db'}"


def test_sigkill_at_random_moments_leaves_one_runs_data_behind_every_manifest(fixed_name):
    spec, out, db, state = fixed_name
    chance = random.Random(SEED)
    # How long one whole run takes here, measured on a spec of its own.
    other = spec.with_name("calibrate.yaml")
    other.write_text(SPEC.format(name="calibrate", db=db, out=out.with_name("o"), split=SPLIT))
    whole = timed_run(other, state)

    figures = {"kills": 0, "finished before the kill": 0, "manifests followed": 0}
    for generation in range(1, KILLS + 1):
        set_generation(db, generation)
        process = fork_apply(spec, state)
        time.sleep(chance.uniform(0, whole * 1.1))
        if process.is_alive():
            figures["kills"] += 1
        else:
            figures["finished before the kill"] += 1
        process.kill()  # SIGKILL, unless it is reaped already: never another's pid
        process.join(10)
        if _follow_manifest(out) is not None:
            figures["manifests followed"] += 1
        if generation % 6 == 0:  # the next run completes: nothing else stays
            set_generation(db, -generation)
            timed_run(spec, state)
            assert _follow_manifest(out) == (ROWS, -generation)
            _only_what_the_manifest_lists(out)
    print(f"\nSIGKILL figures (seed {SEED}): {figures}, failures: 0")
    assert figures["kills"] >= KILLS // 2

    runs = Ledger(state).history("fixed", limit=1000)
    assert {r["status"] for r in runs} <= {"succeeded", "interrupted", "running"}


def test_the_next_run_removes_the_parts_of_a_run_killed_before_its_manifest(fixed_name):
    """A run killed midway leaves parts and no manifest; the next run removes them
    (recorded ones and any committed just before the kill), even where it writes to
    another name (a templated destination), and says so in the ledger."""
    spec, out, db, state = fixed_name
    spec.write_text(spec.read_text().replace("/data.csv", "/{{ run.id }}-data.csv"))
    process = fork_apply(spec, state)
    deadline = time.monotonic() + 60
    while len(list(out.glob("*.part-*.csv"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.kill()  # SIGKILL
    process.join(10)
    left = {p.name for p in out.glob("*.part-*.csv")}
    assert len(left) >= 3 and not list(out.glob("*.manifest.json"))

    timed_run(spec, state)
    (manifest,) = out.glob("*.manifest.json")
    listed = {Path(p["uri"]).name for p in json.loads(manifest.read_bytes())["parts"]}
    assert {p.name for p in out.iterdir()} == listed | {manifest.name}
    ledger = Ledger(state)
    (killed,) = ledger.history("fixed", status="interrupted")
    events = [e["event"] for e in ledger.audit_events(killed["id"])]
    assert "parts.removed" in events
    recorded = ledger.run(killed["id"])["files"]
    assert recorded and all(f["deleted_at"] is not None for f in recorded)  # verify: gone


def test_an_incremental_run_after_a_sigkill_adopts_the_dead_runs_parts(fixed_name):
    """An incremental resume goes on after the killed run's finished parts (the same
    files, untouched) and leaves nothing else: every row once, behind the manifest."""
    spec, out, db, state = fixed_name
    spec.write_text(spec.read_text() + "incremental: {cursor: id}\n")
    process = fork_apply(spec, state)
    deadline = time.monotonic() + 60
    while len(list(out.glob("*.part-*.csv"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.kill()  # SIGKILL
    process.join(10)
    (killed,) = Ledger(state).history("fixed")
    # Those it recorded: one committed just before the kill may not be, and is written again.
    left = {
        Path(p["uri"]).name: Path(p["uri"]).stat().st_ino for p in Ledger(state).parts(killed["id"])
    }
    assert len(left) >= 2

    timed_run(spec, state)
    assert _follow_manifest(out) == (ROWS, 0)
    _only_what_the_manifest_lists(out)
    now = {p.name: p.stat().st_ino for p in out.glob("*.part-*.csv")}
    assert {name: now.get(name) for name in left} == left  # adopted, not rewritten


def test_a_run_whose_process_died_unnoticed_is_cleaned_up_by_the_next_run_spec(fixed_name):
    """A daemon's worker that died leaves its run `running` in the ledger (only a daemon
    start recovers runs): the spec's next run still removes the parts it committed."""
    spec, out, _, state = fixed_name
    ledger = Ledger(state)
    dead = subprocess.Popen(["true"])
    dead.wait()
    run_id = new_run_id(datetime.now(UTC))
    destination = str(out / "yesterday.csv")  # as a templated name rendered then
    record = RunRecord(run_id, "fixed", "0" * 64, "schedule", destination, datetime.now(UTC))
    ledger.start_run(replace(record, pid=dead.pid))
    out.mkdir()
    left = [part_uri(destination, index, parts_tag(run_id)) for index in (1, 2)]
    for uri in left:
        Path(uri).write_text("id,gen,pad\n")
        ledger.record_part(run_id, uri, 11, "0" * 64, 0, None)

    (loaded,) = load_specs((spec,))[0]
    result = jobs.run_spec(
        loaded, ledger, jobs.Options(), datetime.now(UTC), Observer(), jobs.Stop()
    )
    assert result.status == "succeeded"
    assert not any(Path(uri).exists() for uri in left)
    _only_what_the_manifest_lists(out)
