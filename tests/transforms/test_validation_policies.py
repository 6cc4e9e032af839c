"""Each `on_invalid` policy end to end: what is written, what is counted, what is recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from exportctl.ledger.store import Ledger
from tests.support.jsonlines import json_lines

ROWS = [
    # host, port, protocol, score
    ("10.0.0.1", 8080, "http", 0.5),
    ("10.0.0.2", 70000, "http", 0.7),  # port above max
    (None, 3128, "socks5", 0.1),  # host NULL
    ("10.0.0.4", 1080, "ftp", 0.9),  # protocol not allowed
    ("bad host!", 80, "https", 0.2),  # pattern
    ("10.0.0.6", 443, "https", float("inf")),  # JSON cannot hold infinity
    ("10.0.0.7", 8000, "socks4", 1.0),
]
VALID = [0, 6]

FIELDS = """\
fields:
  - {name: host, type: string, nullable: false, pattern: "^[a-z0-9.-]+$"}
  - {name: port, type: integer, min: 1, max: 65535}
  - {name: protocol, allowed: [http, https, socks4, socks5]}
  - {name: score, type: number}
"""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "pool.db"
    frame = pd.DataFrame(ROWS, columns=["host", "port", "protocol", "score"])
    frame.to_sql("proxies", sa.create_engine(f"sqlite:///{path}"), index=False)
    return path


def _apply(tmp_path: Path, db: Path, policy: str, split: str = "", chunk_size: int = 2):
    out = tmp_path / "out"
    destination = f'{{uri: "{out}/pool.jsonl"{split}}}'
    spec = tmp_path / "pool.yaml"
    spec.write_text(
        "version: 1\nname: pool\n"
        f'source: {{type: sql, url: "sqlite:///{db}", chunk_size: {chunk_size}}}\n'
        f"query: {{table: proxies}}\n{FIELDS}format: {{type: jsonl, non_finite: error}}\n"
        f"destination: {destination}\n"
        f"validation: {{on_invalid: {policy}}}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "exportctl", "apply", str(spec), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    (result,) = json.loads(done.stdout)
    return done.returncode, result, out


def _recorded(result: dict, private_ledger: str) -> dict:
    run = Ledger(private_ledger).run(result["run_id"])
    assert run is not None
    return run


def _exported(path: Path) -> list[dict]:
    return json_lines(path.read_text())


def test_fail_writes_nothing_and_names_the_first_bad_row(tmp_path, db, private_ledger):
    code, result, out = _apply(tmp_path, db, "fail")
    assert code == 1 and result["status"] == "failed"
    assert "row(s) failed validation" in result["error"]
    assert "port" in result["error"] and "70000" in result["error"]
    assert not out.exists() or list(out.iterdir()) == []
    assert _recorded(result, private_ledger)["status"] == "failed"


def test_fail_removes_the_parts_a_split_export_had_finished(tmp_path, db):
    code, result, out = _apply(tmp_path, db, "fail", split=", split: {rows: 1}", chunk_size=1)
    assert code == 1
    assert list(out.iterdir()) == []  # part-00001 (a valid row) was committed, then removed


def test_skip_writes_the_valid_rows_and_counts_the_others(tmp_path, db, private_ledger):
    code, result, out = _apply(tmp_path, db, "skip")
    assert code == 0, result
    expected = [
        dict(zip(("host", "port", "protocol", "score"), ROWS[i], strict=True)) for i in VALID
    ]
    assert _exported(out / "pool.jsonl") == expected
    assert result["rows"] == len(VALID)
    assert result["invalid_rows"] == len(ROWS) - len(VALID)
    assert "5 row(s) failed validation and were skipped" in result["warnings"][0]
    summary = _recorded(result, private_ledger)["summary"]
    assert summary["invalid_rows"] == 5 and summary["attempts"] == 1
    assert not (out / "pool.jsonl.quarantine.jsonl").exists()


def test_quarantine_writes_the_bad_rows_beside_with_their_reasons(tmp_path, db, private_ledger):
    code, result, out = _apply(tmp_path, db, "quarantine")
    assert code == 0, result
    assert len(_exported(out / "pool.jsonl")) == len(VALID)
    quarantined = _exported(out / "pool.jsonl.quarantine.jsonl")
    assert [q["row"]["host"] for q in quarantined] == [ROWS[i][0] for i in (1, 2, 3, 4, 5)]
    reasons = [q["reason"] for q in quarantined]
    assert "port" in reasons[0] and "max" in reasons[0]
    assert "host" in reasons[1] and "NULL" in reasons[1]
    assert "protocol" in reasons[2]
    assert "host" in reasons[3]
    assert "score" in reasons[4] and "inf" in reasons[4].lower()
    assert quarantined[4]["row"]["score"] == "inf"  # the side file itself stays valid JSON
    roles = {Path(f["uri"]).name: f["role"] for f in result["files"]}
    assert roles["pool.jsonl.quarantine.jsonl"] == "quarantine"
    manifest = json.loads((out / "pool.jsonl.manifest.json").read_text())
    assert manifest["rows"] == len(VALID)
    recorded = _recorded(result, private_ledger)
    assert recorded["summary"]["invalid_rows"] == 5
    assert {Path(f["uri"]).name for f in recorded["files"]} >= {"pool.jsonl.quarantine.jsonl"}


def test_a_manifest_that_cannot_be_written_fails_the_run_and_leaves_whole_files_only(
    tmp_path, db, private_ledger
):
    """The data was committed first: it stays, whole (removing it would not bring back the
    file it replaced); no temp file is left, and the run is failed with the reason."""
    blocker = tmp_path / "out" / "pool.jsonl.manifest.json"
    blocker.mkdir(parents=True)  # the manifest cannot replace a folder

    code, result, out = _apply(tmp_path, db, "quarantine")

    assert code == 1 and result["status"] == "failed"
    assert "manifest.json" in result["error"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [blocker.name, "pool.jsonl", "pool.jsonl.quarantine.jsonl"]
    )
    assert len(_exported(out / "pool.jsonl")) == len(VALID)
    assert _recorded(result, private_ledger)["status"] == "failed"
