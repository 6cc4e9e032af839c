"""Retention keeps exactly what the policy says, on local files and on S3, and never touches
a file exportctl did not write for the spec: the choice is pure and tested on its own, then
`apply` and `prune` are run for real against a folder and a moto bucket."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from exportctl.cli.main import main
from exportctl.demo.build import init_demo
from exportctl.jobs.retention import PastRun, StoredFile, age_limit, deletions, expired
from exportctl.ledger import schema as tables
from exportctl.ledger.store import Ledger
from exportctl.model import Retention
from tests.support.pool_runs import write_pool_spec
from tests.support.servers import S3Bucket

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# --- the choice, pure ------------------------------------------------------------------------


def past(run_id: str, days_ago: float, *uris: str) -> PastRun:
    files = uris or (f"out/{run_id}.csv", f"out/{run_id}.csv.manifest.json")
    roles = ("data", "manifest", "part", "quarantine")
    stored = tuple(StoredFile(uri, roles[min(i, 3)]) for i, uri in enumerate(files))
    return PastRun(run_id, NOW - timedelta(days=days_ago), stored)


def deleted_runs(policy: Retention, runs: list[PastRun], **kw: Any) -> list[str]:
    return sorted({d.run_id for d in deletions(policy, runs, NOW, **kw)})


RUNS = [past(f"r{i}", i) for i in range(6)]  # r0 is the newest, r5 the oldest


def test_keep_last_keeps_the_newest_runs_and_all_their_files():
    chosen = deletions(Retention(keep_last=2), list(reversed(RUNS)), NOW)  # any order in

    assert sorted({d.run_id for d in chosen}) == ["r2", "r3", "r4", "r5"]
    assert [d.uri for d in chosen if d.run_id == "r5"] == [
        "out/r5.csv",
        "out/r5.csv.manifest.json",
    ]
    assert [d.run_id for d in chosen][:2] == ["r5", "r5"]  # oldest first
    assert {d.reason for d in chosen} == {"beyond the 2 newest"}


def test_max_age_deletes_runs_started_longer_ago():
    assert deleted_runs(Retention(max_age="3d"), RUNS) == ["r4", "r5"]
    assert deleted_runs(Retention(max_age="72h"), RUNS) == ["r4", "r5"]
    assert deleted_runs(Retention(max_age="1w"), RUNS) == []


def test_both_a_run_goes_when_either_rule_lets_it_go():
    assert deleted_runs(Retention(keep_last=4, max_age="2d"), RUNS) == ["r3", "r4", "r5"]
    assert deleted_runs(Retention(keep_last=2, max_age="30d"), RUNS) == ["r2", "r3", "r4", "r5"]


def test_the_newest_run_and_the_one_just_written_are_never_deleted():
    old = [past("a", 40), past("b", 50)]
    assert deleted_runs(Retention(max_age="30d"), old) == ["b"]
    assert deleted_runs(Retention(max_age="1m"), [past("only", 400)]) == []
    assert deleted_runs(Retention(keep_last=1), RUNS, keep="r3") == ["r1", "r2", "r4", "r5"]


def test_a_uri_a_kept_run_also_wrote_is_never_deleted():
    runs = [past(f"s{i}", i, "out/pool.csv", f"out/extra-{i}.csv") for i in range(3)]

    chosen = deletions(Retention(keep_last=1), runs, NOW)

    assert [d.uri for d in chosen] == ["out/extra-2.csv", "out/extra-1.csv"]


def test_expired_names_the_reason_and_age_limits_read_like_the_schema():
    assert expired(Retention(keep_last=5, max_age="2d"), RUNS, NOW) == {
        "r3": "older than 2d",
        "r4": "older than 2d",
        "r5": "beyond the 5 newest",
    }
    assert age_limit("90m") == timedelta(minutes=90)
    assert age_limit("2w") == timedelta(days=14)
    with pytest.raises(ValueError, match="not an age"):
        age_limit("3y")


# --- end to end ------------------------------------------------------------------------------


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def applied(spec: Path) -> dict[str, Any]:
    result = cli("apply", str(spec), "--json")
    assert result.exit_code == 0, result.output
    (done,) = json.loads(result.stdout)
    assert done["status"] == "succeeded", done
    return dict(done)


def written(run: dict[str, Any]) -> set[str]:
    return {f["uri"] for f in run["files"]}


def pruned(*args: str) -> tuple[int, list[dict[str, Any]]]:
    result = cli("prune", *args, "--json")
    return result.exit_code, json.loads(result.stdout)


def retention_events(state: str) -> list[tuple[str, str, str]]:
    ledger = Ledger(state)
    try:
        return [
            (e["event"], e["run_id"], json.loads(e["detail"])["uri"])
            for e in ledger.audit_events()
            if e["event"].startswith("retention.")
        ]
    finally:
        ledger.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("retention") / "demo"
    init_demo(root, proxies=20, metrics=10, log_lines=10)
    return root / "system.db"


def local_spec(folder: Path, demo: Path, **retention: Any) -> Path:
    destination = str(folder / "out" / "{{ spec.name }}-{{ run.id }}.jsonl")
    return write_pool_spec(folder, "pool", demo, destination=destination, retention=retention)


def test_local_retention_keeps_the_policys_files_and_nothing_else_is_touched(
    demo, tmp_path, private_ledger
):
    spec = local_spec(tmp_path, demo, keep_last=2)
    out = tmp_path / "out"
    out.mkdir()
    strangers = {
        out / "notes.txt": b"not an export",
        out / "pool-20200101T000000Z-abcdef.jsonl": b"named like one, but not in the ledger",
    }
    for path, content in strangers.items():
        path.write_bytes(content)

    runs = [applied(spec) for _ in range(4)]

    kept = written(runs[2]) | written(runs[3])
    assert {str(p) for p in out.iterdir()} == kept | {str(p) for p in strangers}
    assert all(path.read_bytes() == content for path, content in strangers.items())
    gone = [(r["run_id"], uri) for r in runs[:2] for uri in sorted(written(r))]
    assert len(gone) == 4  # data and manifest of each
    events = retention_events(private_ledger)
    assert sorted((run, uri) for _, run, uri in events) == sorted(gone)
    assert {event for event, *_ in events} == {"retention.deleted"}
    verify = cli("verify", runs[0]["run_id"])
    assert verify.exit_code == 1
    assert "deleted by retention" in verify.output

    # A stricter policy, first dry: the same list, nothing deleted, nothing recorded.
    spec = local_spec(tmp_path, demo, keep_last=1)
    code, dry = pruned(str(spec), "--dry-run")
    assert code == 0
    assert {(p["run_id"], p["uri"]) for p in dry} == {
        (runs[2]["run_id"], uri) for uri in written(runs[2])
    }
    assert not any(p["deleted"] for p in dry)
    assert {str(p) for p in out.iterdir()} == kept | {str(p) for p in strangers}
    assert len(retention_events(private_ledger)) == 4

    code, done = pruned(str(spec))
    assert code == 0
    assert [(p["run_id"], p["uri"]) for p in done] == [(p["run_id"], p["uri"]) for p in dry]
    assert all(p["deleted"] for p in done)
    assert {str(p) for p in out.iterdir()} == written(runs[3]) | {str(p) for p in strangers}
    assert pruned(str(spec)) == (0, [])  # nothing left to let go


def test_a_file_another_spec_also_wrote_is_never_deleted(demo, tmp_path, private_ledger):
    out = tmp_path / "out"
    shared = str(out / "shared.jsonl")
    first = applied(write_pool_spec(tmp_path, "pool", demo, destination=shared))
    other = applied(write_pool_spec(tmp_path, "other", demo, destination=shared))
    spec = local_spec(tmp_path, demo, keep_last=1)  # `pool` now names each run's file
    second, third = applied(spec), applied(spec)

    # `pool`'s first two runs expired; the first's files are `other`'s latest too.
    assert written(first) == written(other)
    assert {str(p) for p in out.iterdir()} == written(other) | written(third)
    assert {run for _, run, _ in retention_events(private_ledger)} == {second["run_id"]}


def test_max_age_by_hand_and_the_human_listing(demo, tmp_path, private_ledger):
    spec = local_spec(tmp_path, demo, max_age="1d")
    old, new = applied(spec), applied(spec)
    with Ledger(private_ledger).engine.begin() as conn:
        conn.execute(
            sa.update(tables.runs)
            .where(tables.runs.c.id == old["run_id"])
            .values(started_at=datetime.now(UTC) - timedelta(days=2))
        )

    listing = cli("prune", str(spec), "--dry-run")
    assert listing.exit_code == 0
    assert "would delete" in listing.output and "older than 1d" in listing.output
    assert all(Path(uri).exists() for uri in written(old))

    assert cli("prune", str(spec)).exit_code == 0
    assert not any(Path(uri).exists() for uri in written(old))
    assert all(Path(uri).exists() for uri in written(new))


def test_a_delete_that_fails_is_audited_and_never_fails_the_run(demo, tmp_path, private_ledger):
    spec = local_spec(tmp_path, demo, keep_last=1)
    first = applied(spec)
    data = next(f["uri"] for f in first["files"] if f["role"] == "data")
    Path(data).unlink()
    Path(data).mkdir()  # what unlink cannot remove

    second = applied(spec)

    assert any("retention could not delete" in w for w in second["warnings"])
    events = retention_events(private_ledger)
    assert ("retention.failed", first["run_id"], data) in events
    assert ("retention.deleted", first["run_id"], data + ".manifest.json") in events
    Path(data).rmdir()
    code, done = pruned(str(spec))  # tried again next time, and marked done
    assert (code, [p["uri"] for p in done if p["deleted"]]) == (0, [data])


def test_prune_exits_1_when_a_deletion_fails(demo, tmp_path):
    spec = local_spec(tmp_path, demo, keep_last=5)
    first = applied(spec)
    applied(spec)
    data = next(f["uri"] for f in first["files"] if f["role"] == "data")
    Path(data).unlink()
    Path(data).mkdir()

    code, done = pruned(str(local_spec(tmp_path, demo, keep_last=1)))

    assert code == 1
    assert [p["uri"] for p in done if p["error"]] == [data]


def test_a_destination_without_a_run_name_keeps_its_one_file(demo, tmp_path, private_ledger):
    spec = write_pool_spec(tmp_path, "pool", demo, retention={"keep_last": 1})
    for _ in range(3):
        applied(spec)

    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "pool.jsonl",
        "pool.jsonl.manifest.json",
    ]
    assert retention_events(private_ledger) == []


def test_an_incremental_spec_cannot_take_a_retention(demo, tmp_path):
    spec = write_pool_spec(
        tmp_path,
        "pool",
        demo,
        incremental={"cursor": "created_at", "key": "url"},
        retention={"keep_last": 3},
    )

    result = cli("validate", str(spec))

    assert result.exit_code == 2
    assert "cannot take a `retention`" in result.output


def test_s3_retention_keeps_the_policys_objects_and_no_other(demo, tmp_path, s3_bucket: S3Bucket):
    def spec(keep_last: int) -> Path:
        destination = s3_bucket.uri("exports/{{ spec.name }}-{{ run.id }}.jsonl")
        return write_pool_spec(
            tmp_path, "pool", demo, destination=destination, retention={"keep_last": keep_last}
        )

    strangers = ["exports/pool-20200101T000000Z-abcdef.jsonl", "exports/readme.txt"]
    for key in strangers:
        s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=key, Body=b"not ours")

    runs = [applied(spec(2)) for _ in range(3)]

    def keys(*kept: dict[str, Any]) -> list[str]:
        uris = set().union(*(written(r) for r in kept))
        return sorted([u.removeprefix(s3_bucket.uri("")) for u in uris] + strangers)

    assert sorted(s3_bucket.keys()) == keys(runs[1], runs[2])

    code, dry = pruned(str(spec(1)), "--dry-run")
    assert (code, {p["uri"] for p in dry}) == (0, written(runs[1]))
    assert sorted(s3_bucket.keys()) == keys(runs[1], runs[2])

    code, done = pruned(str(spec(1)))
    assert (code, {p["uri"] for p in done if p["deleted"]}) == (0, written(runs[1]))
    assert sorted(s3_bucket.keys()) == keys(runs[2])
    assert all(s3_bucket.read(key) == b"not ours" for key in strangers)


def test_a_file_recorded_with_a_masked_uri_is_never_deleted(demo, tmp_path, private_ledger):
    spec = local_spec(tmp_path, demo, keep_last=1)
    first = applied(spec)
    data = next(f["uri"] for f in first["files"] if f["role"] == "data")
    with Ledger(private_ledger).engine.begin() as conn:  # as a URL with a token is stored
        conn.execute(
            sa.update(tables.run_files)
            .where(tables.run_files.c.uri == data)
            .values(uri="https://***@example.com/pool.jsonl")
        )

    second = applied(spec)

    assert any("credentials masked" in w for w in second["warnings"])
    assert Path(data).exists()
