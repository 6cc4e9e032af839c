"""A split incremental export that fails midway resumes from its first missing part.

The failure: a timestamp in the source that cannot be read, found only when its chunk is.
Parts split by rows and parts split by bytes resume alike: each records its last row.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from exportctl.cli.main import main
from exportctl.clock import utc_now
from exportctl.jobs import job as jobs
from exportctl.ledger.store import Ledger
from exportctl.run.result import Observer
from exportctl.spec.load import load_spec

ROWS, PART, BAD_ID = 500, 50, 320
SPEC = """\
version: 1
name: events
source: {{type: sql, url: "sqlite:///{db}", chunk_size: 20}}
query: {{table: events}}
incremental: {{cursor: id}}
format: jsonl
destination: {{uri: out/events.jsonl, split: {split}}}
"""
#: Parts of 50 rows; parts of 2KB, about 27 rows of these.
SPLITS = {"rows": f"{{rows: {PART}}}", "bytes": "{bytes: 2KB}"}


@pytest.fixture(params=sorted(SPLITS))
def setup(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Path, Path]:
    db = tmp_path / "source.db"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, value FLOAT, note TEXT, at DATETIME)"
        )
        conn.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?)",
            [
                (i, i / 3, f"n{i}", "yesterday" if i == BAD_ID else "2024-01-02 03:04:05.000000")
                for i in range(1, ROWS + 1)
            ],
        )
    spec = tmp_path / "events.yaml"
    spec.write_text(SPEC.format(db=db, split=SPLITS[request.param]))
    return spec, db


def apply(spec: Path) -> dict:
    result = CliRunner().invoke(main, ["apply", str(spec), "--json"])
    return json.loads(result.stdout)[0] | {"exit_code": result.exit_code}


def parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("events.*part-*.jsonl"))


def identity(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns


def fix_the_bad_row(db: Path) -> None:
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE events SET at = '2024-01-02 03:04:05.000000' WHERE id = ?", (BAD_ID,))


def exported_ids(folder: Path) -> list[int]:
    return [json.loads(line)["id"] for p in parts(folder) for line in p.read_text().splitlines()]


def test_the_retry_keeps_the_committed_parts_and_writes_the_rest(setup, private_ledger):
    spec, db = setup
    out = spec.parent / "out"
    first = apply(spec)
    assert (first["status"], first["exit_code"]) == ("failed", 1)
    assert "yesterday" in first["error"]
    committed = parts(out)
    assert len(committed) >= 5
    finished = exported_ids(out)  # the part holding the bad row never appeared
    assert finished == list(range(1, len(finished) + 1))
    assert BAD_ID - 2 * PART < len(finished) < BAD_ID
    before = {p.name: identity(p) for p in committed}

    fix_the_bad_row(db)
    second = apply(spec)
    assert second["status"] == "succeeded"
    assert {p.name: identity(p) for p in parts(out)[: len(before)]} == before
    assert exported_ids(out) == list(range(1, ROWS + 1))
    manifest = json.loads((out / "events.jsonl.manifest.json").read_text())
    assert [p["uri"] for p in manifest["parts"]] == [str(p) for p in parts(out)]
    assert manifest["rows"] == second["rows"] == ROWS

    ledger = Ledger(private_ledger)
    retry = ledger.run(second["run_id"])
    assert (retry["trigger"], retry["attempt"]) == ("retry", 2)
    recorded = sorted(f["uri"] for f in retry["files"] if f["role"] == "part")
    assert recorded == [str(p) for p in parts(out)]
    assert json.loads(ledger.watermark("events")["position"]) == [ROWS]


def test_a_damaged_part_is_written_again_with_every_part_after_it(setup):
    spec, db = setup
    out = spec.parent / "out"
    apply(spec)
    committed = parts(out)
    kept = identity(committed[0])
    first = json.loads(committed[1].read_text().splitlines()[0])["note"]  # n51 in parts of 50
    committed[1].write_text(committed[1].read_text().replace(f'"{first}"', '"nXX"'))
    damaged = identity(committed[1])
    fix_the_bad_row(db)

    assert apply(spec)["status"] == "succeeded"
    assert identity(parts(out)[0]) == kept
    assert identity(parts(out)[1]) != damaged
    assert f'"note":"{first}"' in parts(out)[1].read_text()
    assert exported_ids(out) == list(range(1, ROWS + 1))


def test_a_quarantined_retry_quarantines_the_kept_parts_invalid_rows_too(setup, private_ledger):
    """The failed attempt's quarantine went with it; the retry keeps its parts but reads their
    rows again, for the quarantine only."""
    spec, db = setup
    spec.write_text(
        spec.read_text()
        + "fields: [{name: id}, {name: value}, {name: note, pattern: '^n[0-9]*[0-689]$'}, "
        "{name: at}]\nvalidation: {on_invalid: quarantine}\n"
    )
    out = spec.parent / "out"
    invalid = [i for i in range(1, ROWS + 1) if i % 10 == 7]  # notes ending in 7
    first = apply(spec)
    assert first["status"] == "failed" and len(parts(out)) >= 5
    assert not (out / "events.jsonl.quarantine.jsonl").exists()
    kept = exported_ids(out)
    assert [i for i in invalid if i < kept[-1]]  # some invalid rows lie in the kept parts

    fix_the_bad_row(db)
    second = apply(spec)

    assert second["status"] == "succeeded"
    assert exported_ids(out) == [i for i in range(1, ROWS + 1) if i not in invalid]
    lines = (out / "events.jsonl.quarantine.jsonl").read_text().splitlines()
    assert [json.loads(line)["row"]["id"] for line in lines] == invalid
    assert second["invalid_rows"] == len(invalid)


class Advances(Observer):
    def __init__(self) -> None:
        self.rows: list[int] = []

    def advance(self, rows: int) -> None:
        self.rows.append(rows)


def test_the_quarantine_replay_reports_each_chunk_without_its_rows(setup, private_ledger):
    """Each replayed chunk passes by the observer, where a stop request interrupts the run."""
    spec, db = setup
    spec.write_text(
        spec.read_text() + "fields: [{name: id}, {name: note, pattern: '^n[0-9]*[0-689]$'}, "
        "{name: at}]\nvalidation: {on_invalid: quarantine}\n"
    )
    apply(spec)
    kept = len(exported_ids(spec.parent / "out"))
    fix_the_bad_row(db)
    advances = Advances()

    result = jobs.run_spec(
        load_spec(spec), Ledger(private_ledger), jobs.Options(), utc_now(), advances, jobs.Stop()
    )

    assert result.status == "succeeded"
    replayed = advances.rows[: advances.rows.index(next(r for r in advances.rows if r))]
    assert replayed == [0] * len(replayed) and len(replayed) >= kept // 20  # chunks of 20
    assert sum(advances.rows) < ROWS  # the replayed rows are not counted as read
